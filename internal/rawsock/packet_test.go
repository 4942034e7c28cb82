package rawsock_test

import (
	"encoding/binary"
	"net/netip"
)

// Addresses of the test link (see newLink) and of the inner packets.
var (
	addrA     = netip.MustParseAddr("10.245.7.1")
	addrB     = netip.MustParseAddr("10.245.7.2")
	innerSrc  = netip.MustParseAddr("192.168.41.1")
	innerDst  = netip.MustParseAddr("192.168.42.1")
	flagDF    = uint16(0x4000)
	protoIPIP = byte(4)
	protoUDP  = byte(17)
)

// ipipPacket builds an outer IPv4 header (protocol 4, ID id, DF if df, TTL
// 64, valid checksum) around an inner IPv4/UDP packet of innerLen bytes
// (at least 28). The test's own builder, so these tests do not depend on the
// header package they are meant to carry.
func ipipPacket(src, dst netip.Addr, id uint16, df bool, innerLen int) []byte {
	pkt := make([]byte, 20+innerLen)
	inner := pkt[20:]
	putHeader(inner, protoUDP, id, false, innerSrc, innerDst)
	udp := inner[20:]
	binary.BigEndian.PutUint16(udp[0:], 40000)            // source port
	binary.BigEndian.PutUint16(udp[2:], 9)                // discard
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp))) // length
	// UDP checksum 0 means none; the payload is a byte pattern.
	for i := range udp[8:] {
		udp[8+i] = byte(i)
	}
	putHeader(pkt, protoIPIP, id, df, src, dst)
	return pkt
}

// putHeader writes a 20-byte IPv4 header for a packet of len(b) bytes.
func putHeader(b []byte, proto byte, id uint16, df bool, src, dst netip.Addr) {
	b[0] = 0x45 // version 4, IHL 5
	b[1] = 0    // TOS
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	var frag uint16
	if df {
		frag = flagDF
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = 64 // TTL
	b[9] = proto
	binary.BigEndian.PutUint16(b[10:], 0)
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], headerChecksum(b[:20]))
}

// headerChecksum is the RFC 1071 checksum of an IPv4 header whose checksum
// field is zero (or verifies to 0 if it is filled in).
func headerChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func packetID(pkt []byte) uint16 { return binary.BigEndian.Uint16(pkt[4:]) }
