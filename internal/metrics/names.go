package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipipd/ipipd/internal/engine"
)

// tunnelCounter is one field of engine.Stats exported as a counter.
type tunnelCounter struct {
	desc  *prometheus.Desc
	value func(*engine.Stats) uint64
}

func counter(name, help string, value func(*engine.Stats) uint64) tunnelCounter {
	return tunnelCounter{prometheus.NewDesc("ipipd_tunnel_"+name, help, []string{"tunnel"}, nil), value}
}

// tunnelCounters are the per-tunnel counters, in the order and with the
// meaning of `ip -s tunnel show` (and `ipipd show -s`), named as
// node_exporter names a device's (receive_errs, receive_drop,
// receive_frame, transmit_carrier …); length errors, coalesced packets,
// the packet-socket split and ICMP are ipipd's own.
var tunnelCounters = []tunnelCounter{
	counter("receive_packets_total", "Inner packets written into the tunnel's TUN device.", func(s *engine.Stats) uint64 { return s.RxPackets }),
	counter("receive_bytes_total", "Inner IP bytes written into the TUN device.", func(s *engine.Stats) uint64 { return s.RxBytes }),
	counter("receive_errs_total", "Received packets dropped for a bad inner header or by ECN decapsulation, as the kernel counts rx_errors.", func(s *engine.Stats) uint64 { return s.RxErrors }),
	counter("receive_length_errors_total", "Received packets whose inner header was invalid.", func(s *engine.Stats) uint64 { return s.RxLengthErrors }),
	counter("receive_frame_total", "Received packets with a length or frame error: an invalid inner header, or outer CE over an inner Not-ECT packet (RFC 6040); the sum /proc/net/dev and node_exporter report as frame.", func(s *engine.Stats) uint64 { return s.RxFrameErrors + s.RxLengthErrors }),
	counter("receive_drop_total", "Inner packets the TUN device refused.", func(s *engine.Stats) uint64 { return s.RxDropped }),
	counter("receive_multicast_total", "Received packets whose outer destination was multicast.", func(s *engine.Stats) uint64 { return s.Multicast }),
	counter("receive_coalesced_total", "Outer packets the underlay's GRO had merged, delivered as the segments they were cut back into.", func(s *engine.Stats) uint64 { return s.RxCoalesced }),
	counter("transmit_packets_total", "Outer packets sent (a fragmented packet counts once).", func(s *engine.Stats) uint64 { return s.TxPackets }),
	counter("transmit_bytes_total", "Inner IP bytes of the outer packets sent.", func(s *engine.Stats) uint64 { return s.TxBytes }),
	counter("transmit_errs_total", "Packets from the TUN device that were not IPv4, had a bad header, or were answered with ICMP fragmentation needed.", func(s *engine.Stats) uint64 { return s.TxErrors }),
	counter("transmit_drop_total", "Packets too big for the path, or refused by the socket.", func(s *engine.Stats) uint64 { return s.TxDropped }),
	counter("transmit_carrier_total", "Outer packets the kernel could not route.", func(s *engine.Stats) uint64 { return s.TxCarrierErrors }),
	counter("transmit_packet_socket_total", "Outer packets sent as frames on the packet socket (--transmit packet).", func(s *engine.Stats) uint64 { return s.TxPacketSocket }),
	counter("transmit_gso_total", "TCP super-packets sent whole on the packet socket under --transmit packet-gso, for the kernel or the NIC to segment (their segments count in transmit_packets_total).", func(s *engine.Stats) uint64 { return s.TxGSO }),
	counter("transmit_raw_fallback_total", "Outer packets that went through the raw socket under --transmit packet: next hop not resolved yet, not Ethernet, or a stale neighbour to confirm.", func(s *engine.Stats) uint64 { return s.TxRawFallback }),
	counter("icmp_sent_total", "ICMP errors written back into the TUN device (fragmentation needed, host unreachable).", func(s *engine.Stats) uint64 { return s.ICMPSent }),
	counter("icmp_rate_limited_total", "ICMP errors withheld by the per-sender rate limit.", func(s *engine.Stats) uint64 { return s.ICMPRateLimited }),
}

var (
	tunnelDrops = prometheus.NewDesc("ipipd_tunnel_drops_total",
		"Packets of the tunnel dropped, by direction and reason (the reasons of ipipd show -s and ipipd trace that arise once a tunnel is selected; peer_filtered: the outer source is not one accept_from admits).",
		[]string{"tunnel", "direction", "reason"}, nil)
	tunnelMTU = prometheus.NewDesc("ipipd_tunnel_mtu_bytes",
		"The MTU of the tunnel's TUN device.", []string{"tunnel"}, nil)
	tunnelPathMTU = prometheus.NewDesc("ipipd_tunnel_path_mtu_bytes",
		"The underlay's MTU toward the tunnel's remote (or of its dev, or 1500), from which its MTU is derived.", []string{"tunnel"}, nil)
	tunnelInfo = prometheus.NewDesc("ipipd_tunnel_info",
		"A tunnel's endpoints, always 1: join on tunnel to label other metrics with them.",
		[]string{"tunnel", "local", "remote", "dev", "mode"}, nil)
	globalDrops = prometheus.NewDesc("ipipd_drops_total",
		"Received packets dropped before they reached a tunnel, by reason (no_tunnel: matched by none, answered with ICMP port unreachable).",
		[]string{"reason"}, nil)
	portUnreachables = prometheus.NewDesc("ipipd_icmp_port_unreachable_sent_total",
		"ICMP port unreachable answers sent for packets that matched no tunnel.", nil, nil)
	portUnreachablesLimited = prometheus.NewDesc("ipipd_icmp_port_unreachable_rate_limited_total",
		"ICMP port unreachable answers withheld by the rate limit.", nil, nil)
	outerErrors = prometheus.NewDesc("ipipd_outer_icmp_errors_total",
		"ICMP errors about outer IPIP packets received and handed to ipip_err's checks (which ignore some: redirects, no tunnel, …).", nil, nil)
	fragNeededDiscarded = prometheus.NewDesc("ipipd_outer_frag_needed_discarded_total",
		"ICMP frag needed about outer packets discarded because net.ipv4.ip_no_pmtu_disc is 2 or 3.", nil, nil)
	receiveErrors = prometheus.NewDesc("ipipd_socket_receive_errors_total",
		"Errors reading the raw socket.", nil, nil)
)
