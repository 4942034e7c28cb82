package outerlab

import (
	"encoding/binary"
	"net/netip"
)

// Checksum is the Internet checksum of b, folded and complemented.
func Checksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// IPv4 writes a 20-byte header at b[:20]: DF set, TTL 64.
func IPv4(b []byte, total int, proto byte, id uint16, src, dst netip.Addr) {
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], 0x4000)
	b[8], b[9] = 64, proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:20], 0))
}

// Inner addresses of every prototype's TCP-like traffic.
var (
	InnerSrc = netip.MustParseAddr("192.168.77.1")
	InnerDst = netip.MustParseAddr("192.168.78.1")
)

// IPIPTCP writes at b an outer IPv4 header (protocol 4, src→dst), an inner
// IPv4/TCP header (InnerSrc:5001 → InnerDst:5201, ACK|PSH, sequence seq) and
// payload bytes of zeros, and returns the packet's length. With partial
// set, the TCP checksum holds the pseudo-header sum only (what a
// virtio-net header with NEEDS_CSUM expects, the kernel finishing it per
// segment); otherwise it is whole.
func IPIPTCP(b []byte, src, dst netip.Addr, id uint16, seq uint32, payload int, partial bool) int {
	total := 20 + 20 + 20 + payload
	IPv4(b, total, 4, id, src, dst)
	in := b[20:]
	IPv4(in, total-20, 6, id, InnerSrc, InnerDst)
	th := in[20:]
	binary.BigEndian.PutUint16(th[0:], 5001)
	binary.BigEndian.PutUint16(th[2:], 5201)
	binary.BigEndian.PutUint32(th[4:], seq)
	binary.BigEndian.PutUint32(th[8:], 1)
	th[12], th[13] = 5<<4, 0x18
	binary.BigEndian.PutUint16(th[14:], 65535)
	th[16], th[17], th[18], th[19] = 0, 0, 0, 0
	clear(th[20 : 20+payload])
	tcpLen := 20 + payload
	s, d := InnerSrc.As4(), InnerDst.As4()
	pseudo := uint32(binary.BigEndian.Uint16(s[0:])) + uint32(binary.BigEndian.Uint16(s[2:])) +
		uint32(binary.BigEndian.Uint16(d[0:])) + uint32(binary.BigEndian.Uint16(d[2:])) + 6 + uint32(tcpLen)
	if partial {
		binary.BigEndian.PutUint16(th[16:], ^Checksum(nil, pseudo))
	} else {
		binary.BigEndian.PutUint16(th[16:], Checksum(th[:tcpLen], pseudo))
	}
	return total
}

// VnetHdr is struct virtio_net_hdr (little-endian on x86).
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Virtio-net header values (include/uapi/linux/virtio_net.h).
const (
	VnetHdrLen        = 10
	VnetNeedsCsum     = 1
	VnetGSONone       = 0
	VnetGSOTCPv4      = 1
	VnetGSOUDP        = 3
	VnetGSOTCPv6      = 4
	VnetGSOUDPL4      = 5
	VnetGSOECN        = 0x80
	TCPChecksumOffset = 16
)

// Put writes h at b[:10].
func (h VnetHdr) Put(b []byte) {
	b[0], b[1] = h.Flags, h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}
