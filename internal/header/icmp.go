package header

import "encoding/binary"

// ICMP types and codes ipipd sends.
const (
	ICMPDestUnreachable = 3

	CodeHostUnreachable = 1 // ipip_err soft state: dst_link_failure
	CodePortUnreachable = 3 // tunnel4_rcv: no tunnel took the packet
	CodeFragNeeded      = 4 // tnl_update_pmtu: inner DF packet too big
)

const (
	icmpHeaderSize = 8
	// ICMPErrorMaxSize is the largest ICMP error the kernel builds: icmp_send
	// caps the whole datagram at 576 bytes (RFC 1812 4.3.2.3), quoting as much
	// of the offending packet as fits.
	ICMPErrorMaxSize = 576
	// ICMPErrorMinQuote is what RFC 792 requires to be quoted: the offending
	// header (without options here) and 8 bytes of its payload.
	ICMPErrorMinQuote = MinSize + 8
	// ICMPErrorTTL is the TTL of ICMP errors ipipd writes: the kernel's
	// default net.ipv4.ip_default_ttl.
	ICMPErrorTTL = 64
)

// ICMPError describes a destination-unreachable message.
type ICMPError struct {
	Code uint8
	// MTU is the next-hop MTU for CodeFragNeeded (RFC 1191); 0 otherwise.
	MTU uint16
	// Src and Dst are the addresses of the ICMP datagram itself.
	Src, Dst uint32
	// ID is the IP identification of the ICMP datagram.
	ID uint16
}

// BuildICMPError writes an IPv4 ICMP destination-unreachable datagram into
// out, quoting offending (a valid IPv4 packet) as far as ICMPErrorMaxSize
// allows, and returns its length. It returns 0 when out is smaller than the
// header, the ICMP header and ICMPErrorMinQuote, or offending is shorter than
// its own header: there is nothing worth sending then.
func BuildICMPError(out []byte, offending []byte, e *ICMPError) int {
	if len(offending) < MinSize || !MayAnswer(IPv4(offending)) {
		return 0
	}
	quote := len(offending)
	room := min(len(out), ICMPErrorMaxSize) - MinSize - icmpHeaderSize
	if quote > room {
		quote = room
	}
	if quote < ICMPErrorMinQuote && quote < len(offending) {
		return 0
	}
	total := MinSize + icmpHeaderSize + quote
	icmp := out[MinSize:total]
	icmp[0] = ICMPDestUnreachable
	icmp[1] = e.Code
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[4:], 0) // unused
	binary.BigEndian.PutUint16(icmp[6:], e.MTU)
	copy(icmp[icmpHeaderSize:], offending[:quote])
	binary.BigEndian.PutUint16(icmp[2:], ^Checksum(icmp, 0))
	IPv4(out).Encode(&Fields{
		// icmp_send: RT_TOS of the offending packet with precedence "internetwork control".
		TOS:         IPv4(offending).TOS()&0x1e | 0xc0,
		TotalLength: uint16(total),
		ID:          e.ID,
		TTL:         ICMPErrorTTL,
		Protocol:    ProtocolICMP,
		Src:         e.Src,
		Dst:         e.Dst,
	})
	return total
}

// MayAnswer applies the rules icmp_send follows before it answers a packet
// with an error (RFC 1122 3.2.2): never about a non-first fragment, never
// about an ICMP error, never to a source that is unspecified, multicast or
// the limited broadcast.
func MayAnswer(offending IPv4) bool {
	if len(offending) < MinSize || offending.FlagsFragmentOffset()&fragOffsetMask != 0 {
		return false
	}
	src, dst := offending.Src(), offending.Dst()
	if src == 0 || IsMulticast(src) || src == 0xffffffff {
		return false
	}
	// Nor about a packet sent to a multicast or the limited broadcast
	// address (icmp_send's RTCF_MULTICAST|RTCF_BROADCAST test; a subnet
	// broadcast cannot be told from the bytes alone).
	if IsMulticast(dst) || dst == 0xffffffff {
		return false
	}
	if offending.Protocol() == ProtocolICMP {
		hlen := offending.HeaderLength()
		if hlen < MinSize || len(offending) <= hlen || isICMPError(offending[hlen]) {
			return false // an ICMP error, or an ICMP message without its type
		}
	}
	return true
}

// isICMPError reports the ICMP types icmp_send treats as errors: destination
// unreachable, source quench, redirect, time exceeded, parameter problem,
// and any type it does not know (above NR_ICMP_TYPES, 18).
func isICMPError(t uint8) bool {
	return t == 3 || t == 4 || t == 5 || t == 11 || t == 12 || t > 18
}
