package decap

import (
	"encoding/binary"

	"github.com/ipipd/ipipd/internal/header"
)

// An underlay NIC that does GRO may merge consecutive IPIP packets of one
// TCP flow before IP input: ipip_gro_receive is built into every kernel,
// with or without the ipip module. A raw socket then receives a single
// outer packet of up to 64 KiB. Its headers are rewritten to the merged
// length (inet_gro_complete), but its inner TCP checksum field holds only
// the pseudo-header sum (tcp4_gro_complete leaves it for the device to
// finish: CHECKSUM_PARTIAL), and a raw socket does not finish it. Written
// into a TUN as it is, the inner TCP would drop it as a bad checksum.
//
// The kernel's own tunnel keeps such a packet whole, as a GSO buffer. The
// offload TUN backend can do the same (its virtio-net header says "partial
// checksum, segments of this size"); for a TUN without it, the receive path
// cuts the packet back into segments with whole checksums, as
// tcp_gso_segment would.

const (
	tcpSeq      = 4
	tcpDataOff  = 12
	tcpFlags    = 13
	tcpChecksum = 16
	tcpMinSize  = 20

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// Coalesced reports whether inner, a valid inner IPv4 packet, is a TCP
// packet the underlay's GRO merged: whole (not a fragment), with a
// checksum field that holds the pseudo-header sum and a segment that does
// not check against it. GRO also merges segments too small to exceed the
// MTU together, so length alone does not tell.
//
// An ordinary packet costs a pseudo-header sum and a compare; the segment
// is summed only when the field matches.
func Coalesced(inner header.IPv4) bool {
	if inner.Protocol() != header.ProtocolTCP || inner.IsFragment() {
		return false
	}
	tcp := inner[inner.HeaderLength():]
	if len(tcp) < tcpMinSize {
		return false
	}
	pseudo := pseudoHeaderSum(inner, len(tcp))
	if binary.BigEndian.Uint16(tcp[tcpChecksum:]) != pseudo {
		return false
	}
	// A whole checksum can hold that value too, once in 65 536 segments.
	return header.Checksum(tcp, pseudo) != 0xffff
}

// SegmentSize is the TCP payload per segment that splitting inner for a
// tunnel of this MTU gives: what fits the MTU with the packet's own IP and
// TCP headers (options included), the MSS a peer with the same MTU sends.
// It returns 0 when inner's TCP header is malformed or leaves no room.
func SegmentSize(inner header.IPv4, mtu int) int {
	hdrs := tcpHeadersLength(inner)
	if hdrs == 0 || mtu <= hdrs {
		return 0
	}
	return mtu - hdrs
}

// SplitSpace returns how many segments splitting inner into mss-byte
// payloads makes, and how many bytes of slab SplitCoalesced needs for them
// with headroom bytes in front of each. It returns 0, 0 when inner cannot
// be split (a malformed TCP header, or mss < 1).
func SplitSpace(inner header.IPv4, mss, headroom int) (count, bytes int) {
	hdrs := tcpHeadersLength(inner)
	if hdrs == 0 || mss < 1 {
		return 0, 0
	}
	payload := len(inner) - hdrs
	count = max(1, (payload+mss-1)/mss)
	return count, payload + count*(headroom+hdrs)
}

// SplitCoalesced cuts inner, a coalesced TCP/IPv4 packet (see Coalesced),
// into segments of at most mss payload bytes, as tcp_gso_segment does:
// each gets inner's IP and TCP headers with its own total length, an IP ID
// one more than the segment before, its sequence number, and whole IP and
// TCP checksums; CWR stays on the first segment only, FIN and PSH on the
// last only. Segment i is written to slab after headroom bytes, and
// segs[i] is set to it, headroom included, so it can be handed to a TUN
// Write at that offset; its capacity ends where it ends, so a writer that
// grows packets in their spare capacity cannot overwrite the next one.
//
// It returns the number of segments, or 0 (writing nothing) when inner
// cannot be split, when more than len(segs) segments would be needed, or
// when slab is shorter than SplitSpace says. inner is only read.
func SplitCoalesced(inner header.IPv4, mss int, slab []byte, headroom int, segs [][]byte) int {
	count, need := SplitSpace(inner, mss, headroom)
	if count == 0 || count > len(segs) || need > len(slab) || headroom < 0 {
		return 0
	}
	hdrs := tcpHeadersLength(inner)
	ihl := inner.HeaderLength()
	payload := inner[hdrs:]
	seq := binary.BigEndian.Uint32(inner[ihl+tcpSeq:])
	flags := inner[ihl+tcpFlags]
	id := inner.ID()
	pos := 0
	for i := range count {
		chunk := payload[min(i*mss, len(payload)):min((i+1)*mss, len(payload))]
		size := hdrs + len(chunk)
		seg := slab[pos : pos+headroom+size]
		pos += len(seg)
		pkt := seg[headroom:]
		copy(pkt, inner[:hdrs])
		copy(pkt[hdrs:], chunk)

		ip := header.IPv4(pkt)
		ip.SetTotalLength(uint16(size))
		ip.SetID(id + uint16(i))
		ip.SetHeaderChecksum()

		tcp := pkt[ihl:]
		binary.BigEndian.PutUint32(tcp[tcpSeq:], seq+uint32(i*mss))
		f := flags
		if i > 0 {
			f &^= tcpFlagCWR
		}
		if i < count-1 {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		tcp[tcpFlags] = f
		binary.BigEndian.PutUint16(tcp[tcpChecksum:], 0)
		binary.BigEndian.PutUint16(tcp[tcpChecksum:], ^header.Checksum(tcp, pseudoHeaderSum(ip, len(tcp))))
		segs[i] = seg[:len(seg):len(seg)]
	}
	return count
}

// tcpHeadersLength is the length of inner's IP and TCP headers, or 0 when
// the TCP header is shorter than 20 bytes or runs past the packet.
func tcpHeadersLength(inner header.IPv4) int {
	ihl := inner.HeaderLength()
	if inner.Protocol() != header.ProtocolTCP || len(inner) < ihl+tcpMinSize {
		return 0
	}
	doff := int(inner[ihl+tcpDataOff]>>4) * 4
	if doff < tcpMinSize || ihl+doff > len(inner) {
		return 0
	}
	return ihl + doff
}

// pseudoHeaderSum is the one's complement sum of the TCP pseudo-header of
// a TCP segment of length bytes in ip, not complemented: the value a
// partial checksum field holds.
func pseudoHeaderSum(ip header.IPv4, length int) uint16 {
	src, dst := uint64(ip.Src()), uint64(ip.Dst())
	return header.Fold(src>>16 + src&0xffff + dst>>16 + dst&0xffff + header.ProtocolTCP + uint64(length))
}
