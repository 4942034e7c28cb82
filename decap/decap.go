package decap

import (
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

// Decap validates the outer packet pkt (its first n bytes) that arrived on
// ingress link, selects its tunnel in tunnels, applies ECN decapsulation and
// returns the inner packet as a sub-slice of pkt. It may rewrite the inner
// TOS byte and checksum; it writes nothing else.
func Decap(pkt []byte, n int, link int, tunnels *lookup.TunnelTable) Result {
	if n > len(pkt) {
		n = len(pkt)
	}
	outer := header.IPv4(pkt[:n])
	// IP input drops fragments (after reassembly only whole packets reach
	// a raw socket) and martian 0.0.0.0 addresses (ip_route_input_slow).
	if !outer.IsValid(n) || outer.IsFragment() || outer.Src() == 0 || outer.Dst() == 0 {
		return Result{Verdict: Drop, Reason: BadOuter, Tunnel: lookup.None}
	}
	if outer.Protocol() != header.ProtocolIPIP {
		return Result{Verdict: Drop, Reason: NotIPIP, Tunnel: lookup.None}
	}
	payload := outer.Payload()
	if len(payload) < header.MinSize {
		return Result{Verdict: Drop, Reason: ShortInner, Tunnel: lookup.None}
	}
	dst := outer.Dst()
	i := tunnels.Lookup(outer.Src(), dst, link)
	if i == lookup.None {
		return Result{Verdict: NoTunnel, Reason: NoTunnelMatched, Tunnel: lookup.None}
	}
	if mode := tunnels.Tunnel(i).Mode; mode != 0 && mode != header.ProtocolIPIP {
		return Result{Verdict: Drop, Reason: ModeMismatch, Tunnel: i}
	}
	multicast := header.IsMulticast(dst)
	inner := header.IPv4(payload)
	if !inner.IsValid(len(payload)) {
		return Result{Verdict: Drop, Reason: BadInner, Tunnel: i, Multicast: multicast}
	}
	ecn := DecapsulateECN(outer.TOS(), inner)
	if ecn == ECNDropped {
		return Result{Verdict: Drop, Reason: ECNDrop, Tunnel: i, ECN: ecn, Multicast: multicast}
	}
	return Result{Verdict: Deliver, Tunnel: i, Inner: inner.Packet(), ECN: ecn, Multicast: multicast}
}

// BuildPortUnreachable writes into out the ICMP 3/3 that tunnel4_rcv sends
// to the outer source when no tunnel takes a packet, quoting the outer
// packet as icmp_send does (at least its header and 8 bytes, at most a
// 576-byte datagram), from the address the packet was sent to, with IP ID
// id. It returns the length, or 0 when no ICMP may be sent about pkt.
// Rate limiting (icmp_ratelimit) is the caller's.
func BuildPortUnreachable(out, pkt []byte, id uint16) int {
	outer := header.IPv4(pkt)
	// icmp_send does not answer packets sent to a multicast or broadcast
	// address, and its source would be that address.
	if !outer.IsValid(len(pkt)) || header.IsMulticast(outer.Dst()) || outer.Dst() == 0xffffffff {
		return 0
	}
	return header.BuildICMPError(out, outer.Packet(), &header.ICMPError{
		Code: header.CodePortUnreachable,
		Src:  outer.Dst(),
		Dst:  outer.Src(),
		ID:   id,
	})
}
