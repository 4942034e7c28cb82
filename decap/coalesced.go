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

// Coalesced reports whether inner, a valid inner IPv4 packet, is a TCP
// packet the underlay's GRO merged: whole (not a fragment), with a
// checksum field that holds the pseudo-header sum and a segment that does
// not check against it. GRO also merges segments too small to exceed the
// MTU together, so length alone does not tell.
//
// An ordinary packet costs a pseudo-header sum and a compare; the segment
// is summed only when the field matches.
func Coalesced(inner header.IPv4) bool {
	return CouldBeCoalesced(inner) && MergeConfirmed(inner, 0)
}

// CouldBeCoalesced is the cheap half of Coalesced: a whole TCP packet
// whose checksum field holds the pseudo-header sum, a merge or one plain
// segment in 65 536. The receive loop asks it first, and only then what
// the ingress device's MTU is.
func CouldBeCoalesced(inner header.IPv4) bool {
	if inner.Protocol() != header.ProtocolTCP || inner.IsFragment() {
		return false
	}
	tcp := inner[inner.HeaderLength():]
	return len(tcp) >= header.TCPMinSize && binary.BigEndian.Uint16(tcp[header.TCPChecksum:]) == header.TCPPseudoHeaderSum(inner, len(tcp))
}

// MergeConfirmed is the other half, for a packet CouldBeCoalesced accepted
// that arrived on a device whose MTU less the outer header is maxPlain
// (0: unknown). A longer inner packet cannot have come unmerged, so its
// payload (up to 64 KiB) need not be summed; that sum was 7 % of the
// daemon's CPU under a stream of super-packets (docs/performance.md).
// Otherwise the segment is summed: a whole checksum can hold the
// pseudo-header sum too, once in 65 536 segments.
func MergeConfirmed(inner header.IPv4, maxPlain int) bool {
	if maxPlain > 0 && len(inner) > maxPlain {
		return true
	}
	tcp := inner[inner.HeaderLength():]
	return header.Checksum(tcp, header.TCPPseudoHeaderSum(inner, len(tcp))) != 0xffff
}

// SegmentSize is the TCP payload per segment that splitting inner for a
// tunnel of this MTU gives: what fits the MTU with the packet's own IP and
// TCP headers (options included), the MSS a peer with the same MTU sends.
// It returns 0 when inner's TCP header is malformed or leaves no room.
func SegmentSize(inner header.IPv4, mtu int) int {
	hdrs := header.TCPHeadersLength(inner)
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
	hdrs := header.TCPHeadersLength(inner)
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
	hdrs := header.TCPHeadersLength(inner)
	pos := 0
	for i := range count {
		size := min(mss, len(inner)-hdrs-i*mss) + hdrs
		seg := slab[pos : pos+headroom+size]
		pos += len(seg)
		header.TCPSegment(seg[headroom:], inner, hdrs, mss, i, count)
		segs[i] = seg[:len(seg):len(seg)]
	}
	return count
}
