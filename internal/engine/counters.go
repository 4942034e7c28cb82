package engine

import (
	"sync/atomic"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
)

// Counters are one tunnel's statistics, named as the kernel's device
// statistics (`ip -s link show`), plus a drop counter per named reason.
// Receive counters are written only by the receive loop and transmit
// counters only by the tunnel's transmit loop; the padding keeps the two
// on separate cache lines so the loops do not slow each other down.
//
// A TCP super-packet read whole (--transmit packet-gso) that is sent whole
// counts as its segments in TxPackets and TxBytes, the packets the wire
// carries, as the same bytes count when ipipd cuts them or reads them as
// segments. Dropped whole, it counts once in every transmit drop and error
// counter, its reason's and its peer's: the kernel's tunnel counts a GSO
// skb it drops once (ip_tunnel_xmit's tx_error, iptunnel_xmit_stats).
type Counters struct {
	RxPackets      atomic.Uint64 // inner packets written into the TUN
	RxBytes        atomic.Uint64 // their inner IP length
	RxErrors       atomic.Uint64 // bad inner header or ECN drop, as the kernel counts
	RxLengthErrors atomic.Uint64 // inner header invalid
	RxFrameErrors  atomic.Uint64 // outer CE over inner Not-ECT
	RxDropped      atomic.Uint64 // the TUN refused the write
	Multicast      atomic.Uint64 // outer destination was multicast
	// RxCoalesced counts outer packets the underlay's GRO had merged,
	// delivered as the segments they were cut back into (each one counts
	// in RxPackets).
	RxCoalesced atomic.Uint64
	RxDrops     [decap.Reasons]atomic.Uint64
	// RxPeers counts per outer source what RxPackets, RxBytes and the
	// receive drops count (peers.go); written by the receive loop alone.
	RxPeers peerTable
	_       [64]byte

	TxPackets atomic.Uint64 // outer packets handed to the raw socket (fragments count once)
	TxBytes   atomic.Uint64 // their inner IP length
	TxErrors  atomic.Uint64 // not IPv4, bad header, or answered with frag-needed
	TxDropped atomic.Uint64 // too big for the path, or the raw socket refused it
	// TxCarrierErrors: the raw socket could not route the packet (the
	// kernel's ip_route_output_key failure).
	TxCarrierErrors atomic.Uint64
	// Collisions: the outer packet's own route leads back into one of
	// ipipd's TUN devices, so it was dropped before it was sent: the
	// kernel's loop guard in ip_tunnel_xmit (rt->dst.dev == dev), which
	// counts it here and iproute2 prints as DeadLoop.
	Collisions atomic.Uint64
	TxDrops    [encap.Reasons]atomic.Uint64
	// ICMPSent counts ICMP errors written back into the TUN (frag needed,
	// host unreachable); ICMPRateLimited those withheld by the per-sender
	// rate limit.
	ICMPSent        atomic.Uint64
	ICMPRateLimited atomic.Uint64
	// With the packet-socket transmit path: outer packets sent as frames,
	// and those that went through the raw socket instead (a destination
	// not resolved yet, not on Ethernet, or a stale neighbour to confirm).
	TxPacketSocket atomic.Uint64
	TxRawFallback  atomic.Uint64
	// TxGSO counts, with --transmit packet-gso, the TCP super-packets sent
	// whole, for the kernel or the NIC to segment (each of their segments
	// counts in TxPackets and TxPacketSocket).
	TxGSO atomic.Uint64
	// TxPeers counts per outer destination what TxPackets, TxBytes and the
	// transmit drops count (peers.go); written by the transmit loop alone.
	TxPeers peerTable
}

// Stats is a plain copy of Counters for display and the control socket.
type Stats struct {
	RxPackets, RxBytes, RxErrors, RxLengthErrors, RxFrameErrors, RxDropped, Multicast   uint64
	RxCoalesced, TxPacketSocket, TxRawFallback, TxGSO                                   uint64
	TxPackets, TxBytes, TxErrors, TxDropped, TxCarrierErrors, ICMPSent, ICMPRateLimited uint64
	Collisions                                                                          uint64
	// Drops maps a reason name to its count, only non-zero ones.
	Drops map[string]uint64
}

// Stats reads the counters.
func (c *Counters) Stats() Stats {
	s := Stats{
		RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(), RxErrors: c.RxErrors.Load(),
		RxLengthErrors: c.RxLengthErrors.Load(), RxFrameErrors: c.RxFrameErrors.Load(),
		RxDropped: c.RxDropped.Load(), Multicast: c.Multicast.Load(), RxCoalesced: c.RxCoalesced.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(), TxErrors: c.TxErrors.Load(),
		TxDropped: c.TxDropped.Load(), TxCarrierErrors: c.TxCarrierErrors.Load(), Collisions: c.Collisions.Load(), ICMPSent: c.ICMPSent.Load(),
		ICMPRateLimited: c.ICMPRateLimited.Load(), TxPacketSocket: c.TxPacketSocket.Load(), TxRawFallback: c.TxRawFallback.Load(),
		TxGSO: c.TxGSO.Load(),
		Drops: map[string]uint64{},
	}
	for r := range c.RxDrops {
		if v := c.RxDrops[r].Load(); v != 0 {
			s.Drops[decap.Reason(r).String()] = v
		}
	}
	for r := range c.TxDrops {
		if v := c.TxDrops[r].Load(); v != 0 {
			s.Drops[encap.Reason(r).String()] = v
		}
	}
	return s
}

// Global counts packets that never reached a tunnel: dropped before the
// lookup, or matched by none (those get ICMP port unreachable).
type Global struct {
	Drops            [decap.Reasons]atomic.Uint64
	PortUnreachables atomic.Uint64 // ICMP 3/3 sent
	RateLimited      atomic.Uint64 // ICMP 3/3 withheld by the rate limit
	ReceiveErrors    atomic.Uint64 // errors from the raw socket
}

// GlobalStats is a plain copy of Global, with the ICMP reader's counts.
type GlobalStats struct {
	Drops                                        map[string]uint64
	PortUnreachables, RateLimited, ReceiveErrors uint64
	// OuterErrors counts ICMP errors about outer packets received and
	// handed to ipip_err's checks (HandleOuterError, which ignores some);
	// FragNeededDiscarded the frag needed that net.ipv4.ip_no_pmtu_disc (2
	// or 3) discarded before them.
	OuterErrors, FragNeededDiscarded uint64
}

// Stats reads the counters.
func (g *Global) Stats() GlobalStats {
	s := GlobalStats{Drops: map[string]uint64{}, PortUnreachables: g.PortUnreachables.Load(),
		RateLimited: g.RateLimited.Load(), ReceiveErrors: g.ReceiveErrors.Load()}
	for r := range g.Drops {
		if v := g.Drops[r].Load(); v != 0 {
			s.Drops[decap.Reason(r).String()] = v
		}
	}
	return s
}
