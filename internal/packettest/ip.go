package packettest

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipipd/ipipd/internal/header"
)

// IP is the IPv4 header of a packet a test builds: the fields tests vary,
// the rest (version, IHL 5, lengths, protocol, checksum) following from
// what the header carries. Every builder returns a whole packet with a
// valid header checksum.
type IP struct {
	Src, Dst netip.Addr
	// TOS is the whole byte, DSCP and ECN; ECN is ORed into it, so a test
	// can vary the two apart.
	TOS uint8
	ECN header.ECN
	ID  uint16
	// TTL 0 means 64, the usual sender's; no test sends TTL 0.
	TTL uint8
	DF  bool
}

// Packet returns the header around payload, as protocol proto.
func (h IP) Packet(proto uint8, payload []byte) []byte {
	pkt := make([]byte, header.MinSize+len(payload))
	copy(pkt[header.MinSize:], payload)
	h.encode(pkt, proto)
	return pkt
}

// encode writes the header into pkt[:20] for a packet of len(pkt) bytes.
func (h IP) encode(pkt []byte, proto uint8) {
	var flags uint16
	if h.DF {
		flags = header.FlagDF
	}
	ttl := h.TTL
	if ttl == 0 {
		ttl = 64
	}
	header.IPv4(pkt).Encode(&header.Fields{
		TOS: h.TOS | uint8(h.ECN), TotalLength: uint16(len(pkt)), ID: h.ID, Flags: flags, TTL: ttl,
		Protocol: proto, Src: addr4(h.Src), Dst: addr4(h.Dst),
	})
}

// addr4 is header.Addr4, with the zero Addr as 0.0.0.0 (a test of an
// unset source).
func addr4(a netip.Addr) uint32 {
	if !a.IsValid() {
		return 0
	}
	return header.Addr4(a)
}

// IPIP returns the outer packet around inner: protocol 4, what a tunnel's
// remote end sends.
func (h IP) IPIP(inner []byte) []byte { return h.Packet(header.ProtocolIPIP, inner) }

// UDP returns a UDP datagram from sport to dport. Its checksum is 0 (none,
// which IPv4 allows), so a test may change the header afterwards.
func (h IP) UDP(sport, dport uint16, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	return h.Packet(ProtocolUDP, udp)
}

// TCP returns a TCP segment with a 20-byte header, window 502 and a whole
// checksum; flags are FlagACK and the like.
func (h IP) TCP(sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	return h.tcp(sport, dport, seq, ack, flags, 502, nil, payload)
}

// tcp is TCP with a window and options (padded by the caller).
func (h IP) tcp(sport, dport uint16, seq, ack uint32, flags uint8, window uint16, options, payload []byte) []byte {
	seg := make([]byte, 20+len(options)+len(payload))
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint32(seg[4:], seq)
	binary.BigEndian.PutUint32(seg[8:], ack)
	seg[12] = byte((20+len(options))/4) << 4
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], window)
	copy(seg[20:], options)
	copy(seg[20+len(options):], payload)
	pkt := h.Packet(header.ProtocolTCP, seg)
	binary.BigEndian.PutUint16(pkt[header.MinSize+16:], ^header.Checksum(pkt[header.MinSize:], PseudoHeaderSum(pkt)))
	return pkt
}

// ProtocolUDP is UDP's IP protocol number (header names those the
// datapath reads).
const ProtocolUDP = 17

// ICMP types the builders use.
const (
	ICMPEchoReply   = 0
	ICMPUnreachable = 3
	ICMPEcho        = 8
)

// ICMP returns an ICMP message of type typ and code: the 4 type-specific
// bytes rest (an echo's ID and sequence, a frag-needed's MTU), then body,
// with a valid ICMP checksum.
func (h IP) ICMP(typ, code uint8, rest uint32, body []byte) []byte {
	msg := make([]byte, 8+len(body))
	msg[0], msg[1] = typ, code
	binary.BigEndian.PutUint32(msg[4:], rest)
	copy(msg[8:], body)
	pkt := h.Packet(header.ProtocolICMP, msg)
	FixICMP(pkt)
	return pkt
}

// Echo returns an ICMP echo request of total bytes (at least 28): ID 0,
// sequence 0, Pattern as its data.
func (h IP) Echo(total int) []byte {
	return h.ICMP(ICMPEcho, 0, 0, Pattern(total-header.MinSize-8))
}

// FixICMP recomputes the ICMP checksum of pkt, an ICMP/IPv4 packet, after
// a test changed the message.
func FixICMP(pkt []byte) {
	ip := header.IPv4(pkt)
	msg := pkt[ip.HeaderLength():ip.TotalLength()]
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:], ^header.Checksum(msg, 0))
}

// Unreachable returns the ICMP destination unreachable (type 3) from
// `from` to `to` with code and, for frag needed (code 4), the next-hop
// MTU, quoting offending as a router does (header.BuildICMPError: as much
// as 576 bytes allow). It panics if offending may not be answered
// (header.MayAnswer): the test is wrong.
func Unreachable(from, to netip.Addr, code uint8, mtu uint16, offending []byte) []byte {
	out := make([]byte, header.ICMPErrorMaxSize)
	n := header.BuildICMPError(out, offending, &header.ICMPError{
		Code: code, MTU: mtu, Src: addr4(from), Dst: addr4(to), ID: 99,
	})
	if n == 0 {
		panic("packettest: BuildICMPError refused the offending packet")
	}
	return out[:n]
}

// Pattern returns n bytes counting up from 0 (wrapping at 256): a payload
// whose every byte says where it was, so a cut or a shift shows.
func Pattern(n int) []byte {
	b := make([]byte, max(n, 0))
	for i := range b {
		b[i] = byte(i)
	}
	return b
}
