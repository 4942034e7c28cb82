package icmperr

import (
	"fmt"
	"net/netip"
)

// ICMP types and codes that Parse accepts (RFC 792, include/uapi/linux/icmp.h).
const (
	TypeDestUnreach  = 3  // ICMP_DEST_UNREACH, codes 0..NR_ICMP_UNREACH (15)
	TypeRedirect     = 5  // ICMP_REDIRECT, any code (icmp_redirect checks none)
	TypeTimeExceeded = 11 // ICMP_TIME_EXCEEDED, code 0 only (ICMP_EXC_TTL)

	CodeFragNeeded = 4  // ICMP_FRAG_NEEDED: the only code with an MTU
	CodeSRFailed   = 5  // ICMP_SR_FAILED: ipip_err ignores it
	maxUnreachCode = 15 // NR_ICMP_UNREACH: icmp_unreach drops codes above
)

// Event is one ICMP error about an outer IPIP packet this node sent.
//
// Event carries what ipip_err gets: the ICMP type and code, the info value
// (the MTU) and the quoted outer header's addresses, for the tunnel lookup
// (kernel-ipip.md section 5.2: remote = quoted daddr, local = quoted saddr,
// link = the ingress device).
// As in ipip_err, the consumer still filters: DEST_UNREACH code 5
// (SR_FAILED) is reported but ipip_err ignores it.
type Event struct {
	Type, Code uint8
	MTU        int        // next-hop MTU of a frag-needed (type 3 code 4), else 0
	Local      netip.Addr // the quoted outer source: this node's address
	Remote     netip.Addr // the quoted outer destination: the tunnel's remote
	Link       int        // ifindex the ICMP arrived on (IP_PKTINFO)
	From       netip.Addr // who sent the ICMP (a router on the path, or the remote)
}

// FragNeeded reports a DEST_UNREACH/FRAG_NEEDED: the event ipip_err turns
// into ipv4_update_pmtu on the outer route.
func (e Event) FragNeeded() bool {
	return e.Type == TypeDestUnreach && e.Code == CodeFragNeeded
}

// String describes the event for logs and test failures; it allocates.
func (e Event) String() string {
	s := fmt.Sprintf("icmp %d/%d from %v on link %d about %v > %v", e.Type, e.Code, e.From, e.Link, e.Local, e.Remote)
	if e.FragNeeded() {
		s += fmt.Sprintf(" mtu %d", e.MTU)
	}
	return s
}
