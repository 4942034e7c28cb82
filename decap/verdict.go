package decap

// Verdict is what the receive path does with a packet.
type Verdict uint8

const (
	// Deliver: write Result.Inner into the TUN of Result.Tunnel.
	Deliver Verdict = iota
	// NoTunnel: no tunnel took the packet; answer the outer source with
	// ICMP port unreachable (BuildPortUnreachable), rate-limited.
	NoTunnel
	// Drop: count Result.Reason.
	Drop
)

var verdictNames = [...]string{"deliver", "no_tunnel", "drop"}

func (v Verdict) String() string { return verdictNames[v] }

// Reason names why a packet was not delivered; each is a counter. The
// comment says which kernel counter moves for the same event.
type Reason uint8

const (
	NoReason Reason = iota
	// BadOuter: the outer header is not valid IPv4, is a fragment, or has
	// a 0.0.0.0 address (IP input drops these before any tunnel code; no
	// tunnel counter).
	BadOuter
	// NotIPIP: the outer protocol is not 4 (a raw protocol-4 socket never
	// sees one; offline input might).
	NotIPIP
	// ShortInner: fewer than 20 bytes after the outer header
	// (tunnel4_rcv's pskb_may_pull; silent in the kernel, before lookup).
	ShortInner
	// NoTunnelMatched: see the NoTunnel verdict (no counter in the kernel).
	NoTunnelMatched
	// ModeMismatch: the selected tunnel does not accept IPIP (a silent
	// drop in ipip_tunnel_rcv, no fall-back to another tunnel).
	ModeMismatch
	// BadInner: the inner header is not valid IPv4 (version, IHL or total
	// length). The kernel counts such a packet as received (rx_packets,
	// rx_bytes in ip_tunnel_rcv) and IP input on the tunnel device drops
	// it (IP MIB counters only). Fewer than 20 bytes never get here: that
	// is ShortInner, so rx_length_errors, which ip_tunnel_rcv keeps for a
	// failed pskb_inet_may_pull, cannot move for IPIP.
	BadInner
	// ECNDrop: outer CE over an inner Not-ECT packet (rx_errors and
	// rx_frame_errors).
	ECNDrop
	// BadCoalesced: a packet the underlay's GRO merged (Coalesced) that
	// cannot be cut back into segments for the tunnel's MTU: no room for
	// payload beside its headers, or more than the receive path's segment
	// limit (rx_dropped). Decap never returns it; the receive path counts
	// it. The kernel keeps such a packet whole and drops nothing.
	BadCoalesced
	// PeerFiltered: the selected tunnel's accept_from does not admit the
	// outer source. Decap never returns it; the receive path checks it
	// after tunnel selection, where ipip_rcv runs xfrm4_policy_check (a
	// silent drop in the kernel, which has no such filter).
	PeerFiltered
)

var reasonNames = [...]string{"", "bad_outer", "not_ipip", "short_inner", "no_tunnel", "mode_mismatch", "bad_inner", "ecn_drop", "bad_coalesced", "peer_filtered"}

func (r Reason) String() string { return reasonNames[r] }

// BeforeSelection reports whether a packet dropped for r never reached a
// tunnel: it counts for the daemon as a whole, not for a tunnel. The other
// reasons arise only after a tunnel was selected.
func (r Reason) BeforeSelection() bool { return r >= BadOuter && r <= NoTunnelMatched }

// Reasons is the number of reasons, for counter arrays indexed by Reason.
const Reasons = len(reasonNames)

// Result is the outcome of Decap.
type Result struct {
	Verdict Verdict
	Reason  Reason
	// Tunnel is the index of the selected tunnel in the table, or
	// lookup.None when the packet was dropped before selection.
	Tunnel int
	// Inner is the inner packet, a sub-slice of the input, for Deliver.
	Inner []byte
	// ECN is what ECN decapsulation did.
	ECN ECNOutcome
	// Multicast: the outer destination was multicast (the kernel counts
	// the tunnel's "multicast" and still delivers).
	Multicast bool
}
