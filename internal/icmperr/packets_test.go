package icmperr

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipipd/ipipd/internal/header"
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

const protoUDP = 17

// ipv4Packet returns a packet of total bytes with a 20-byte header (DF set,
// TTL 64) and a byte pattern as payload.
func ipv4Packet(proto uint8, src, dst netip.Addr, total int) []byte {
	pkt := make([]byte, total)
	for i := header.MinSize; i < total; i++ {
		pkt[i] = byte(i)
	}
	header.IPv4(pkt).Encode(&header.Fields{
		TotalLength: uint16(total),
		ID:          0x1234,
		Flags:       header.FlagDF,
		TTL:         64,
		Protocol:    proto,
		Src:         header.Addr4(src),
		Dst:         header.Addr4(dst),
	})
	return pkt
}

// ipipPacket is an outer packet src > dst (protocol 4) around an inner
// UDP packet innerSrc > innerDst of innerLen bytes.
func ipipPacket(src, dst netip.Addr, innerLen int) []byte {
	pkt := ipv4Packet(header.ProtocolIPIP, src, dst, header.MinSize+innerLen)
	copy(pkt[header.MinSize:], ipv4Packet(protoUDP, innerSrc, innerDst, innerLen))
	return pkt
}

// unreach builds a destination unreachable from `from` to `to` quoting
// offending, with header.BuildICMPError (which quotes as much as 576 bytes
// allow).
func unreach(from, to netip.Addr, code uint8, mtu uint16, offending []byte) []byte {
	out := make([]byte, header.ICMPErrorMaxSize)
	n := header.BuildICMPError(out, offending, &header.ICMPError{
		Code: code, MTU: mtu, Src: header.Addr4(from), Dst: header.Addr4(to), ID: 99,
	})
	if n == 0 {
		panic("BuildICMPError refused the test packet")
	}
	return out[:n]
}

// icmpMessage builds any ICMP message by hand: a 20-byte header from `from`
// to `to`, type, code, the 4 type-specific bytes rest, then body.
func icmpMessage(from, to netip.Addr, typ, code uint8, rest uint32, body []byte) []byte {
	pkt := ipv4Packet(header.ProtocolICMP, from, to, header.MinSize+icmpHeaderLen+len(body))
	icmp := pkt[header.MinSize:]
	icmp[0], icmp[1] = typ, code
	binary.BigEndian.PutUint32(icmp[4:], rest)
	copy(icmp[icmpHeaderLen:], body)
	fixICMP(pkt)
	return pkt
}

// fixICMP recomputes the ICMP checksum of pkt after a test changed it.
func fixICMP(pkt []byte) {
	h := header.IPv4(pkt)
	icmp := pkt[h.HeaderLength():h.TotalLength()]
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], ^header.Checksum(icmp, 0))
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
	fixICMP(p)
	return p
}
