package icmperr

import (
	"net/netip"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// Addresses of the tests: this node (the outer source of its IPIP packets),
// the tunnel's remote, a router between them and the inner hosts.
var (
	local    = netip.MustParseAddr("10.245.9.1")
	remote   = netip.MustParseAddr("10.245.9.2")
	router   = netip.MustParseAddr("10.245.9.254")
	innerSrc = netip.MustParseAddr("192.168.41.1")
	innerDst = netip.MustParseAddr("192.168.42.1")
)

// ipv4Packet returns a packet of total bytes with a 20-byte header (ID
// 0x1234, DF set, TTL 64) and a byte pattern as payload.
func ipv4Packet(proto uint8, src, dst netip.Addr, total int) []byte {
	return packettest.IP{Src: src, Dst: dst, ID: 0x1234, DF: true}.Packet(proto, packettest.Pattern(total-header.MinSize))
}

// ipipPacket is an outer packet src > dst (protocol 4) around an inner
// UDP packet innerSrc > innerDst of innerLen bytes.
func ipipPacket(src, dst netip.Addr, innerLen int) []byte {
	inner := ipv4Packet(packettest.ProtocolUDP, innerSrc, innerDst, innerLen)
	return packettest.IP{Src: src, Dst: dst, ID: 0x1234, DF: true}.IPIP(inner)
}

// icmpMessage builds any ICMP message from `from` to `to`: type, code, the
// 4 type-specific bytes rest, then body.
func icmpMessage(from, to netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	return packettest.IP{Src: from, Dst: to, ID: 0x1234, DF: true}.ICMP(typ, code, rest, body)
}

// withOuterOptions gives pkt's outer header n option bytes (NOPs, n a
// multiple of 4) and fixes lengths and checksums.
func withOuterOptions(pkt []byte, n int) []byte {
	out := make([]byte, len(pkt)+n)
	copy(out, pkt[:header.MinSize])
	for i := range n {
		out[header.MinSize+i] = 1 // IPOPT_NOOP
	}
	copy(out[header.MinSize+n:], pkt[header.MinSize:])
	h := header.IPv4(out)
	out[0] = 0x40 | byte((header.MinSize+n)/4)
	h.SetTotalLength(uint16(len(out)))
	h.SetHeaderChecksum()
	return out
}

// edit returns a copy of pkt changed by fn, with the outer header checksum
// and the ICMP checksum recomputed.
func edit(pkt []byte, fn func(p []byte)) []byte {
	p := append([]byte(nil), pkt...)
	fn(p)
	header.IPv4(p).SetHeaderChecksum()
	packettest.FixICMP(p)
	return p
}
