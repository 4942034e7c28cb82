package icmperr

import (
	"encoding/binary"

	"github.com/ipipd/ipipd/internal/header"
)

// icmpHeaderLen is struct icmphdr: type, code, checksum, 4 bytes of
// type-specific data (the frag-needed MTU is its last two bytes).
const icmpHeaderLen = 8

// quoteMin is what icmp_socket_deliver needs of the quoted datagram with the
// smallest header: ihl*4 + 8 with ihl = 5.
const quoteMin = header.MinSize + 8

// Parse reads one ICMP packet as a raw IPPROTO_ICMP socket delivers it
// (IPv4 header included) and returns the event when it is an error the
// kernel would hand to ipip_err, link being the ingress ifindex. It never
// panics and never allocates.
//
// The checks, in the kernel's order:
//   - the outer header is valid IPv4 (ip_rcv_core), carries ICMP, is not a
//     fragment (raw_local_deliver runs after ip_defrag) and is not sent to a
//     multicast or the limited broadcast address (icmp_rcv drops errors
//     routed RTCF_MULTICAST|RTCF_BROADCAST; a subnet broadcast cannot be
//     told from the bytes alone);
//   - the ICMP checksum over header and data verifies
//     (icmp_rcv: skb_checksum_simple_validate);
//   - type 3 with code ≤ 15, type 11 code 0, type 5 (icmp_unreach,
//     icmp_redirect; ipip_err ignores the other types);
//   - the quoted header has ihl ≥ 5 (icmp_unreach) and ihl*4 + 8 bytes
//     are quoted (icmp_socket_deliver), and its protocol is 4
//     (inet_protos[4] = tunnel4_err → ipip_err). Like the kernel, Parse
//     does not look at the quoted version nibble or total length.
//
// The MTU of a frag-needed is the ICMP's next-hop MTU field as sent, 0 when
// the router gave none (pre-RFC 1191); the kernel passes the same value
// with the default net.ipv4.ip_no_pmtu_disc = 0, and Reader applies the
// other modes (ApplyNoPMTUDisc).
func Parse(pkt []byte, link int) (Event, bool) {
	outer := header.IPv4(pkt)
	if !outer.IsValid(len(pkt)) || outer.Protocol() != header.ProtocolICMP || outer.IsFragment() {
		return Event{}, false
	}
	if dst := outer.Dst(); header.IsMulticast(dst) || dst == 0xffffffff {
		return Event{}, false
	}
	// ip_rcv_core trims the skb to the total length: padding is not ICMP.
	icmp := pkt[outer.HeaderLength():outer.TotalLength()]
	if len(icmp) < icmpHeaderLen+quoteMin || header.Checksum(icmp, 0) != 0xffff {
		return Event{}, false
	}
	typ, code := icmp[0], icmp[1]
	if !wanted(typ, code) {
		return Event{}, false
	}
	quote := header.IPv4(icmp[icmpHeaderLen:])
	// len(quote) ≥ 20 above, so HeaderLength and the fields are in bounds.
	if qlen := quote.HeaderLength(); qlen < header.MinSize || len(quote) < qlen+8 {
		return Event{}, false
	}
	if quote.Protocol() != header.ProtocolIPIP {
		return Event{}, false
	}
	ev := Event{
		Type:   typ,
		Code:   code,
		Local:  quote.SrcAddr(),
		Remote: quote.DstAddr(),
		Link:   link,
		From:   outer.SrcAddr(),
	}
	if typ == TypeDestUnreach && code == CodeFragNeeded {
		// icmp_unreach: info = ntohs(icmph->un.frag.mtu).
		ev.MTU = int(binary.BigEndian.Uint16(icmp[6:8]))
	}
	return ev, true
}

// wanted reports the ICMP types and codes that reach ipip_err and that it
// may act on.
func wanted(typ, code uint8) bool {
	switch typ {
	case TypeDestUnreach:
		return code <= maxUnreachCode // icmp_unreach: code > NR_ICMP_UNREACH → out
	case TypeTimeExceeded:
		// icmp_unreach drops code 1 (ICMP_EXC_FRAGTIME); ipip_err acts on
		// code 0 (ICMP_EXC_TTL) only.
		return code == 0
	case TypeRedirect:
		return true // icmp_redirect → icmp_socket_deliver, any code
	}
	// Source quench and parameter problem reach ipip_err, which ignores
	// them; echo, timestamp and the rest never do.
	return false
}
