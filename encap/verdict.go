package encap

// Verdict is what the transmit path does with a packet.
type Verdict uint8

const (
	// Send: buf[:Result.Length] is the outer packet, ready for the raw socket.
	Send Verdict = iota
	// Fragment: buf[:Result.Length] is the outer packet, DF clear, larger than
	// the path MTU; split it with FragmentPacket before sending, as the kernel's
	// IP output would (a raw socket does not).
	Fragment
	// FragNeeded: the inner packet has DF and does not fit; answer its
	// sender with ICMP 3/4 advertising Result.MTU (BuildFragNeeded)
	// and drop it, counting tx_errors (tnl_update_pmtu returns -E2BIG).
	FragNeeded
	// Drop: count Result.Reason and free the buffer.
	Drop
)

var verdictNames = [...]string{"send", "fragment", "frag_needed", "drop"}

func (v Verdict) String() string { return verdictNames[v] }

// Reason names why a packet was dropped; each is a counter.
type Reason uint8

const (
	NoReason Reason = iota
	// NotIPv4: the TUN handed over something else, IPv6 most often; the
	// kernel's ipip_tunnel_xmit refuses it (tx_errors).
	NotIPv4
	// BadHeader: an IPv4 header whose length fields disagree with the
	// packet read (tx_errors).
	BadHeader
	// TooBig: no DF on the inner packet, DF forced on the outer one, and it
	// does not fit the path; the kernel's IP output refuses it (tx_dropped).
	TooBig
	// NoRoute: no route for the inner destination (tx_carrier_errors in the
	// kernel, where the route lookup fails).
	NoRoute
	// Loop: the outer packet's own route leads back into one of the
	// daemon's tunnel devices (collisions, tx_errors: ip_tunnel_xmit's
	// rt->dst.dev == dev). Encap never returns it: only the daemon knows
	// the kernel's routes; it is here so every transmit drop has one name.
	Loop
)

var reasonNames = [...]string{"", "not_ipv4", "bad_header", "too_big", "no_route", "loop"}

func (r Reason) String() string { return reasonNames[r] }

// Result is the outcome of Encap. It is 8 bytes, returned in a register:
// the packet is not repeated as a slice, the caller has the buffer.
type Result struct {
	Verdict Verdict
	Reason  Reason
	// MTU is the inner MTU to advertise with FragNeeded (and the one that
	// was exceeded with TooBig).
	MTU uint16
	// Length is the outer packet's length for Send and Fragment: the packet
	// is buf[:Length] of the buffer given to Encap.
	Length int32
}

// PastPMTUCheck reports whether the packet got past tnl_update_pmtu: sent,
// fragmented, or refused afterwards by IP output for its outer DF
// (TooBig). ip_tunnel_xmit spends a soft error (err_count) on exactly these
// packets; one answered with FragNeeded, or refused before the check, is
// a tx_error and spends none.
func (r Result) PastPMTUCheck() bool {
	return r.Verdict == Send || r.Verdict == Fragment || r.Reason == TooBig
}

// Packet returns the outer packet in buf, the buffer given to Encap.
func (r Result) Packet(buf []byte) []byte { return buf[:r.Length] }

// Reasons is the number of reasons, for counter arrays indexed by Reason.
const Reasons = len(reasonNames)
