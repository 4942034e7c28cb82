// Package metrics exports a running ipipd's counters in the Prometheus
// text format: the same counters `ipipd show -s` prints, read when a
// scraper asks and never on the datapath, so a daemon that exports
// metrics forwards packets exactly as fast as one that does not.
//
// Names follow node_exporter's network device metrics
// (node_network_receive_packets_total …) with an ipipd_tunnel_ prefix and
// a tunnel label, so dashboards for the kernel's tunl0 carry over.
package metrics
