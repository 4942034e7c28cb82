// Package metrics exports a running ipipd's counters in the Prometheus
// text format: the same counters `ipipd show -s` prints, read when a
// scraper asks and never on the datapath, so a daemon that exports
// metrics forwards packets exactly as fast as one that does not.
//
// The device counters are named as node_exporter names a network
// device's (node_network_receive_packets_total, …_receive_errs_total,
// …_transmit_drop_total …), with an ipipd_tunnel_ prefix and a tunnel
// label in place of device, so a dashboard for the kernel's tunl0 carries
// over by renaming.
package metrics
