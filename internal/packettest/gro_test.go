package packettest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
)

// A merged packet carries every payload byte after the first segment's
// headers, with the merged length, and is the same however the sender cut
// it; its TCP checksum field holds only the pseudo-header sum, and filling
// in the rest of the sum makes it whole.
func TestGROMergeIsOnePartialPacket(t *testing.T) {
	segs := testFlow.Segments(2500, 1000)
	merged := GROMerge(segs)
	ip := header.IPv4(merged)
	if !ip.IsValid(len(merged)) || int(ip.TotalLength()) != len(merged) || len(merged) != 20+32+2500 {
		t.Fatalf("merged packet of %d bytes: valid %v, total length %d", len(merged), ip.IsValid(len(merged)), ip.TotalLength())
	}
	if !bytes.Equal(merged[20:32], segs[0][20:32]) || merged[20+13] != segs[0][20+13]|FlagPSH {
		t.Error("the merged TCP header is not the first segment's with PSH of the last")
	}
	if !bytes.Equal(merged, testFlow.Coalesced(2500)) {
		t.Error("merging depends on where the segments were cut")
	}
	tcp := merged[20:]
	if got := binary.BigEndian.Uint16(tcp[16:]); got != PseudoHeaderSum(ip) {
		t.Fatalf("TCP checksum field %#04x, want the pseudo-header sum %#04x", got, PseudoHeaderSum(ip))
	}
	binary.BigEndian.PutUint16(tcp[16:], 0)
	binary.BigEndian.PutUint16(tcp[16:], ^header.Checksum(tcp, PseudoHeaderSum(ip)))
	if !TCPChecksumWhole(merged) {
		t.Error("finishing the partial checksum does not make it whole")
	}
}
