package header

import (
	"math/rand/v2"
	"testing"
)

// slowChecksum is RFC 1071 word by word with an end-around carry after each
// addition: the oracle for the 8-byte-stride Checksum.
func slowChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		sum += w
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksumAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 2001)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := make([]byte, 2001)
	for i := range ones {
		ones[i] = 0xff
	}
	for n := 0; n <= 2000; n++ {
		for _, initial := range []uint16{0, 0x1234, 0xffff} {
			for _, b := range [][]byte{buf[:n], buf[1 : n+1], ones[:n]} { // also unaligned, and all carries
				if got, want := Checksum(b, initial), slowChecksum(b, initial); got != want {
					t.Fatalf("len %d initial %#x: got %#04x, want %#04x", n, initial, got, want)
				}
			}
		}
	}
}

// TestChecksumKnownHeader is the worked example of RFC 1071 style
// calculation on a captured header (tcpdump of the seed's ICMP echo).
func TestChecksumKnownHeader(t *testing.T) {
	h := IPv4{0x45, 0x00, 0x00, 0x54, 0xad, 0x66, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00,
		192, 168, 41, 0, 192, 168, 42, 0}
	h.SetHeaderChecksum()
	if !h.HeaderChecksumValid() {
		t.Fatal("header does not verify after SetHeaderChecksum")
	}
	if Checksum(h, 0) != 0xffff {
		t.Fatalf("sum over a valid header = %#x, want 0xffff", Checksum(h, 0))
	}
}

// TestUpdateChecksum changes one word of random headers and checks that the
// RFC 1624 update equals a full recomputation.
func TestUpdateChecksum(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 100000; i++ {
		h := make(IPv4, MinSize)
		for j := range h {
			h[j] = byte(rng.Uint32())
		}
		h[0] = 0x45
		h.SetHeaderChecksum()
		word := 2 * rng.IntN(MinSize/2)
		if word == checksum || word == versionIHL {
			continue
		}
		old := uint16(h[word])<<8 | uint16(h[word+1])
		nw := uint16(rng.Uint32())
		if i%7 == 0 {
			nw = old ^ 0x0003 // the ECN bits, as decap changes them
		}
		h[word], h[word+1] = byte(nw>>8), byte(nw)
		h.SetChecksum(UpdateChecksum(h.Checksum(), old, nw))
		if !h.HeaderChecksumValid() {
			t.Fatalf("incremental update of word %d %#x→%#x left an invalid checksum", word, old, nw)
		}
	}
}

func BenchmarkChecksum20(b *testing.B) {
	h := make([]byte, 20)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Checksum(h, uint16(i))
	}
}
