package packettest

import "net/netip"

// TCP flags a Flow's segments carry.
const (
	FlagFIN = 0x01
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagCWR = 0x80
)

// Timestamps is the TCP timestamp option as Linux sends it on every
// segment (two NOPs, then kind 8): 12 bytes that a segment splitter must
// carry along with the header.
var Timestamps = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}

// Flow is one direction of a TCP connection over IPv4, as far as its
// segments show it. Every segment has DF set and a TTL of 64.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Seq is the first segment's sequence number; later ones count up by
	// their payload, wrapping as TCP's sequence space does.
	Seq uint32
	Ack uint32
	// ID is the first segment's IP ID; later ones count up by one, as
	// Linux numbers the packets of a connection.
	ID     uint16
	TOS    uint8
	Window uint16
	// Flags are set on the segments besides ACK, which all carry: as a
	// sender's TSO does, PSH and FIN stay on the last segment only and CWR
	// on the first only.
	Flags uint8
	// Options are the TCP options of every segment, padded to a multiple
	// of 4 bytes by the caller.
	Options []byte
}

// Segments returns total payload bytes of the flow in segments of at most
// mss bytes (one empty segment when total is 0), each with whole IP and
// TCP checksums. The payload byte at flow offset i is byte(i), the same
// whatever the cut, so that merged segments equal one unsegmented packet.
func (f Flow) Segments(total, mss int) [][]byte {
	var segs [][]byte
	for off := 0; off == 0 || off < total; off += max(mss, 1) {
		segs = append(segs, f.segment(len(segs), off, min(mss, total-off), off+mss >= total))
	}
	return segs
}

// segment builds segment i, n payload bytes from flow offset off.
func (f Flow) segment(i, off, n int, last bool) []byte {
	flags := f.Flags | FlagACK
	if !last {
		flags &^= FlagPSH | FlagFIN
	}
	if i > 0 {
		flags &^= FlagCWR
	}
	payload := make([]byte, n)
	for j := range payload {
		payload[j] = byte(off + j)
	}
	h := IP{Src: f.Src, Dst: f.Dst, TOS: f.TOS, ID: f.ID + uint16(i), DF: true}
	return h.tcp(f.SrcPort, f.DstPort, f.Seq+uint32(off), f.Ack, flags, f.Window, f.Options, payload)
}

// Coalesced is the flow's first payload bytes as a raw socket reads them
// when the underlay's GRO merged the segments they came in: one packet
// with the merged lengths and only the pseudo-header sum in its TCP
// checksum field (see GROMerge).
func (f Flow) Coalesced(payload int) []byte {
	return GROMerge(f.Segments(payload, payload))
}
