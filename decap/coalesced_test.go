package decap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/hexfile"
	"github.com/ipipd/ipipd/internal/packettest"
)

// tcpSegments are total payload bytes of the flow these tests merge and
// split, in segments of mss, with the TCP timestamp option unless plain.
// Its sequence numbers wrap, and its TOS and options must survive the
// split.
func tcpSegments(total, mss int, flags uint8, plain bool) [][]byte {
	flow := packettest.Flow{Src: netip.MustParseAddr("192.168.41.1"), Dst: netip.MustParseAddr("192.168.41.2"),
		SrcPort: 40000, DstPort: 5201,
		Seq: 0xfffff000, // sequence arithmetic is mod 2^32
		Ack: 77, ID: 0x1234, TOS: 0x02, Window: 502, Flags: flags, Options: packettest.Timestamps}
	if plain {
		flow.Options = nil
	}
	return flow.Segments(total, mss)
}

func split(t *testing.T, inner []byte, mss int) [][]byte {
	t.Helper()
	count, need := SplitSpace(inner, mss, 20)
	segs := make([][]byte, count)
	slab := make([]byte, need)
	if n := SplitCoalesced(inner, mss, slab, 20, segs); n != count {
		t.Fatalf("SplitCoalesced made %d segments, SplitSpace said %d", n, count)
	}
	out := make([][]byte, count)
	for i, s := range segs {
		if cap(s) != len(s) {
			t.Fatalf("segment %d has %d bytes of spare capacity, shared with the next: a TUN write that grows it in place would overwrite that", i, cap(s)-len(s))
		}
		out[i] = s[20:]
	}
	return out
}

// The round trip: segments merged as GRO merges them are coalesced, and
// splitting at the sender's MSS gives back the sender's segments, byte for
// byte.
func TestSplitUndoesGRO(t *testing.T) {
	tests := []struct {
		name         string
		total, mss   int
		flags        uint8
		plain        bool
		mtu, wantMSS int
	}{
		{"45 full segments, timestamps", 45 * 1428, 1428, header.TCPFlagPSH, false, 1480, 1428},
		{"short last segment", 10*1448 + 100, 1448, header.TCPFlagPSH, true, 1488, 1448},
		{"FIN on the last", 3 * 1000, 1000, header.TCPFlagFIN | header.TCPFlagPSH, true, 1040, 1000},
		{"CWR on the first only", 4 * 500, 500, header.TCPFlagCWR, false, 552, 500},
		{"small segments under the MTU", 2 * 100, 100, header.TCPFlagPSH, false, 152, 100},
		{"largest IPv4 packet", 65535 - 52, 1428, 0, false, 1480, 1428},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := tcpSegments(tt.total, tt.mss, tt.flags, tt.plain)
			merged := packettest.GROMerge(segs)
			if !header.IPv4(merged).IsValid(len(merged)) {
				t.Fatal("merged packet is not valid IPv4")
			}
			if !Coalesced(merged) {
				t.Fatal("a GRO-merged packet is not reported coalesced")
			}
			for i, s := range segs {
				if Coalesced(s) {
					t.Fatalf("segment %d with a whole checksum is reported coalesced", i)
				}
			}
			mss := SegmentSize(merged, tt.mtu)
			if mss != tt.wantMSS {
				t.Fatalf("SegmentSize = %d for MTU %d, want %d", mss, tt.mtu, tt.wantMSS)
			}
			got := split(t, merged, mss)
			if len(got) != len(segs) {
				t.Fatalf("%d segments, want %d", len(got), len(segs))
			}
			for i := range segs {
				if !bytes.Equal(got[i], segs[i]) {
					t.Fatalf("segment %d differs:\n got %x\nwant %x", i, got[i][:60], segs[i][:60])
				}
			}
		})
	}
}

// Every segment decodes in gopacket, and gopacket's serializer, computing
// the checksums itself, writes the same bytes.
func TestSplitSegmentsAgreeWithGopacket(t *testing.T) {
	merged := packettest.GROMerge(tcpSegments(7*1000+3, 1000, header.TCPFlagPSH, false))
	for i, seg := range split(t, merged, 1000) {
		p := gopacket.NewPacket(seg, layers.LayerTypeIPv4, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("segment %d: %v", i, el.Error())
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("segment %d: no IPv4/TCP layers", i)
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(tcp.Payload)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), seg) {
			t.Fatalf("segment %d: gopacket serializes\n%x\nwe wrote\n%x", i, buf.Bytes()[:60], seg[:60])
		}
	}
}

func TestCoalescedRejects(t *testing.T) {
	whole := tcpSegments(1000, 1000, 0, false)[0]
	// A whole checksum that equals the pseudo-header sum: set the field to
	// it, then make the last payload word balance the sum.
	lucky := bytes.Clone(whole)
	tcp := lucky[20:]
	binary.BigEndian.PutUint16(tcp[16:], header.TCPPseudoHeaderSum(header.IPv4(lucky), len(tcp)))
	binary.BigEndian.PutUint16(tcp[len(tcp)-2:], 0)
	binary.BigEndian.PutUint16(tcp[len(tcp)-2:], ^header.Checksum(tcp, header.TCPPseudoHeaderSum(header.IPv4(lucky), len(tcp))))
	if header.Checksum(tcp, header.TCPPseudoHeaderSum(header.IPv4(lucky), len(tcp))) != 0xffff {
		t.Fatal("test setup: the lucky segment's checksum is not whole")
	}
	udp := packettest.GROMerge(tcpSegments(2000, 1000, 0, false))
	udp[9] = 17
	fragment := packettest.GROMerge(tcpSegments(2000, 1000, 0, false))
	header.IPv4(fragment).SetFlagsFragmentOffset(header.FlagMF)
	short := packettest.GROMerge(tcpSegments(2000, 1000, 0, false))[:39]
	header.IPv4(short).SetTotalLength(39)
	for name, pkt := range map[string][]byte{
		"whole checksum":                      whole,
		"whole checksum equal to the partial": lucky,
		"not TCP":                             udp,
		"a fragment":                          fragment,
		"TCP header cut short":                short,
	} {
		if Coalesced(pkt) {
			t.Errorf("%s: reported coalesced", name)
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	merged := packettest.GROMerge(tcpSegments(10*1000, 1000, 0, false))
	count, need := SplitSpace(merged, 1000, 20)
	if count != 10 {
		t.Fatalf("SplitSpace count = %d, want 10", count)
	}
	badOffset := bytes.Clone(merged)
	badOffset[20+12] = 0x40 // a 16-byte TCP header
	tests := []struct {
		name  string
		inner []byte
		mss   int
		slab  int
		segs  int
	}{
		{"more segments than slices", merged, 1000, need, 9},
		{"slab one byte short", merged, 1000, need - 1, 10},
		{"no payload room", merged, 0, need, 10},
		{"TCP data offset under 20 bytes", badOffset, 1000, need, 10},
	}
	for _, tt := range tests {
		slab := bytes.Repeat([]byte{0xa5}, tt.slab)
		if n := SplitCoalesced(tt.inner, tt.mss, slab, 20, make([][]byte, tt.segs)); n != 0 {
			t.Errorf("%s: %d segments, want 0", tt.name, n)
		}
		if !bytes.Equal(slab, bytes.Repeat([]byte{0xa5}, tt.slab)) {
			t.Errorf("%s: refused, but wrote into the slab", tt.name)
		}
	}
	if got := SegmentSize(merged, 52); got != 0 {
		t.Errorf("SegmentSize with the MTU all headers = %d, want 0", got)
	}
}

func TestCoalescedAllocatesNothing(t *testing.T) {
	merged := packettest.GROMerge(tcpSegments(45*1428, 1428, 0, false))
	count, need := SplitSpace(merged, 1428, 20)
	slab, segs := make([]byte, need), make([][]byte, count)
	allocs := testing.AllocsPerRun(100, func() {
		if !Coalesced(merged) || SplitCoalesced(merged, 1428, slab, 20, segs) != count {
			t.Fatal("split failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per split", allocs)
	}
}

// BenchmarkCoalescedCheck is what the check costs an ordinary packet: a
// 1400-byte TCP segment with a whole checksum.
func BenchmarkCoalescedCheck(b *testing.B) {
	seg := tcpSegments(1348, 1348, 0, false)[0]
	b.ReportAllocs()
	for b.Loop() {
		if Coalesced(seg) {
			b.Fatal("coalesced")
		}
	}
}

// BenchmarkSplitCoalesced: one 64 KiB GRO packet, check and split into 45
// segments of 1428 bytes; bytes/s counts the merged packet.
func BenchmarkSplitCoalesced(b *testing.B) {
	merged := packettest.GROMerge(tcpSegments(45*1428, 1428, header.TCPFlagPSH, false))
	count, need := SplitSpace(merged, 1428, 20)
	slab, segs := make([]byte, need), make([][]byte, count)
	b.SetBytes(int64(len(merged)))
	b.ReportAllocs()
	for b.Loop() {
		if !Coalesced(merged) || SplitCoalesced(merged, 1428, slab, 20, segs) != count {
			b.Fatal("split failed")
		}
	}
}

// The fuzz seed of a coalesced packet must stay one, or FuzzSplitCoalesced
// starts from nothing to split.
func TestCoalescedSeed(t *testing.T) {
	seed, err := hexfile.Glob("testdata/seeds/tcp-coalesced-by-gro.hex")
	if err != nil || len(seed) != 1 {
		t.Fatalf("seed: %v (%d files)", err, len(seed))
	}
	inner := header.IPv4(header.IPv4(seed[0].Bytes).Payload())
	if !Coalesced(inner) {
		t.Fatal("the seed is not coalesced")
	}
	if got := len(split(t, inner, 100)); got != 3 {
		t.Fatalf("the seed splits into %d segments, want 3", got)
	}
}

// A packet longer than its device could carry unmerged is a merge on the
// pseudo-header sum alone; one that fits is summed, so the 1-in-65 536
// plain segment whose whole checksum happens to equal the pseudo-header
// sum is still told apart.
func TestMergeConfirmed(t *testing.T) {
	coalescedBeyond := func(ip header.IPv4, maxPlain int) bool {
		return CouldBeCoalesced(ip) && MergeConfirmed(ip, maxPlain)
	}
	pkt := packettest.IP{Src: netip.MustParseAddr("192.168.42.1"), Dst: netip.MustParseAddr("192.168.41.0")}.TCP(1000, 2000, 1, 1, 0x10, make([]byte, 4000))
	ip := header.IPv4(pkt)
	tcp := pkt[ip.HeaderLength():]
	pseudo := header.TCPPseudoHeaderSum(ip, len(tcp))
	// The checksum field holds the pseudo-header sum, and two payload bytes
	// make the whole segment check: a plain segment Coalesced must refuse.
	binary.BigEndian.PutUint16(tcp[header.TCPChecksum:], pseudo)
	binary.BigEndian.PutUint16(tcp[len(tcp)-2:], 0)
	sum := header.Checksum(tcp, pseudo)
	binary.BigEndian.PutUint16(tcp[len(tcp)-2:], ^sum)
	if header.Checksum(tcp, pseudo) != 0xffff {
		t.Fatal("test packet: the whole checksum does not check")
	}
	if Coalesced(ip) || coalescedBeyond(ip, len(ip)) || coalescedBeyond(ip, 0) {
		t.Error("a plain segment that fits its device taken for a merge")
	}
	if !coalescedBeyond(ip, len(ip)-1) {
		t.Error("a packet longer than its device carries, with the pseudo-header sum, not taken for a merge")
	}
	binary.BigEndian.PutUint16(tcp[header.TCPChecksum:], pseudo+1)
	if coalescedBeyond(ip, len(ip)-1) {
		t.Error("a long packet without the pseudo-header sum taken for a merge")
	}
}
