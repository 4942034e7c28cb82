package header

import "encoding/binary"

// What the datapath reads and writes of an inner TCP header: the fields in
// which the segments of a TCP super-packet differ (a GRO-merged packet the
// receive path cuts back, a GSO packet the transmit path cuts when it
// cannot go whole). Offsets from the start of the TCP header.
const (
	TCPSeq      = 4
	TCPDataOff  = 12
	TCPFlags    = 13
	TCPChecksum = 16
	TCPMinSize  = 20

	TCPFlagFIN = 0x01
	TCPFlagPSH = 0x08
	TCPFlagCWR = 0x80
)

// TCPHeadersLength is the length of ip's IP and TCP headers, or 0 when ip
// is not TCP, or its TCP header is shorter than 20 bytes or runs past the
// packet.
func TCPHeadersLength(ip IPv4) int {
	if len(ip) < MinSize {
		return 0
	}
	ihl := ip.HeaderLength()
	if ip.Protocol() != ProtocolTCP || ihl < MinSize || len(ip) < ihl+TCPMinSize {
		return 0
	}
	doff := int(ip[ihl+TCPDataOff]>>4) * 4
	if doff < TCPMinSize || ihl+doff > len(ip) {
		return 0
	}
	return ihl + doff
}

// TCPPseudoHeaderSum is the one's complement sum of the TCP pseudo-header
// of a segment of length bytes in ip, not complemented: the value a
// partial checksum field holds.
func TCPPseudoHeaderSum(ip IPv4, length int) uint16 {
	src, dst := uint64(ip.Src()), uint64(ip.Dst())
	return Fold(src>>16 + src&0xffff + dst>>16 + dst&0xffff + ProtocolTCP + uint64(length))
}

// TCPSegment writes segment i of count of the TCP super-packet super
// (headers hdrs bytes long, payload cut every mss bytes) into pkt, as
// tcp_gso_segment cuts one: super's IP and TCP headers with the segment's
// total length, an IP ID i more than super's, its sequence number, whole
// IP and TCP checksums (super's own TCP checksum field is not read), CWR
// on the first segment only, FIN and PSH on the last only. It returns the
// segment's length; pkt must hold it. Both the receive path (a GRO-merged
// outer packet's inner) and the transmit path (a GSO packet that cannot go
// whole) cut with it.
func TCPSegment(pkt []byte, super IPv4, hdrs, mss, i, count int) int {
	payload := super[hdrs:]
	chunk := payload[min(i*mss, len(payload)):min((i+1)*mss, len(payload))]
	size := hdrs + len(chunk)
	pkt = pkt[:size]
	copy(pkt, super[:hdrs])
	copy(pkt[hdrs:], chunk)

	ip := IPv4(pkt)
	ip.SetTotalLength(uint16(size))
	ip.SetID(super.ID() + uint16(i))
	ip.SetHeaderChecksum()

	ihl := super.HeaderLength()
	tcp := pkt[ihl:]
	binary.BigEndian.PutUint32(tcp[TCPSeq:], binary.BigEndian.Uint32(super[ihl+TCPSeq:])+uint32(i*mss))
	f := super[ihl+TCPFlags]
	if i > 0 {
		f &^= TCPFlagCWR
	}
	if i < count-1 {
		f &^= TCPFlagFIN | TCPFlagPSH
	}
	tcp[TCPFlags] = f
	binary.BigEndian.PutUint16(tcp[TCPChecksum:], 0)
	binary.BigEndian.PutUint16(tcp[TCPChecksum:], ^Checksum(tcp, TCPPseudoHeaderSum(ip, len(tcp))))
	return size
}
