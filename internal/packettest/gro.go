package packettest

import (
	"bytes"
	"encoding/binary"

	"github.com/ipipd/ipipd/internal/header"
)

// GROMerge merges segments of one flow as the kernel's GRO does
// (tcp_gro_receive, inet_gro_complete, tcp4_gro_complete): the first
// one's headers, every payload in order, FIN and PSH of later segments,
// the merged total length with a new header checksum, and a partial TCP
// checksum (see PartialChecksum), which a raw socket hands on as it is.
func GROMerge(segs [][]byte) []byte {
	first := header.IPv4(segs[0])
	flags := first.HeaderLength() + 13
	hdrs := first.HeaderLength() + int(segs[0][first.HeaderLength()+12]>>4)*4
	merged := bytes.Clone(segs[0])
	for _, s := range segs[1:] {
		merged = append(merged, s[hdrs:]...)
		merged[flags] |= s[flags] & (FlagFIN | FlagPSH)
	}
	ip := header.IPv4(merged)
	ip.SetTotalLength(uint16(len(merged)))
	ip.SetHeaderChecksum()
	PartialChecksum(ip)
	return merged
}

// PartialChecksum puts into the TCP checksum field of pkt, a whole TCP/IPv4
// packet, the pseudo-header sum alone: what GRO leaves there for the device
// to finish (CHECKSUM_PARTIAL), and what a GSO write hands the kernel.
func PartialChecksum(pkt header.IPv4) {
	binary.BigEndian.PutUint16(pkt[pkt.HeaderLength()+16:], PseudoHeaderSum(pkt))
}

// PseudoHeaderSum is the one's complement sum, not complemented, of the
// TCP pseudo-header of pkt, a whole TCP/IPv4 packet (RFC 793 3.1).
func PseudoHeaderSum(pkt header.IPv4) uint16 {
	var pseudo [12]byte
	copy(pseudo[:8], pkt[12:20])
	pseudo[9] = header.ProtocolTCP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(pkt)-pkt.HeaderLength()))
	return header.Checksum(pseudo[:], 0)
}

// TCPChecksumWhole reports whether the TCP checksum of pkt, a whole
// TCP/IPv4 packet, verifies: what the receiving TCP checks before it
// takes a segment.
func TCPChecksumWhole(pkt header.IPv4) bool {
	return header.Checksum(pkt[pkt.HeaderLength():], PseudoHeaderSum(pkt)) == 0xffff
}
