package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// tcpSegments returns count TCP segments of one flow, mss payload bytes
// each (the last one last bytes, if last > 0), with consecutive IDs and
// sequence numbers, PSH on the last, whole checksums: what a sender's
// tcp_gso_segment makes of one super-packet.
func tcpSegments(count, mss, last int, tos uint8, df bool) [][]byte {
	h := packettest.IP{Src: netip.MustParseAddr("192.168.41.0"), Dst: netip.MustParseAddr("192.168.42.0"), TOS: tos, ID: 0x1000, DF: df}
	payload := packettest.Pattern(count * mss)
	var segs [][]byte
	for i := range count {
		n := mss
		if i == count-1 && last > 0 {
			n = last
		}
		flags := uint8(packettest.FlagACK)
		if i == count-1 {
			flags |= packettest.FlagPSH
		}
		h.ID = 0x1000 + uint16(i)
		segs = append(segs, h.TCP(40000, 5201, 1000+uint32(i*mss), 1, flags, payload[i*mss:i*mss+n]))
	}
	return segs
}

// superPacket is segs merged as a TUN hands them whole (GROMerge: the
// first headers, every payload, a partial checksum), at Headroom in a
// buffer.
func superPacket(segs [][]byte) []byte {
	merged := packettest.GROMerge(segs)
	return append(make([]byte, Headroom, Headroom+len(merged)), merged...)
}

// RefuseGSO refuses a super-packet whole exactly when Encap refuses its
// first segment (frag needed, or too big under an outer DF), with Encap's
// result; a super-packet whose segments Encap sends or fragments is not
// refused.
func TestRefuseGSOIsEncapOfTheFirstSegment(t *testing.T) {
	verdicts := map[Verdict]int{}
	for _, pmtudisc := range []bool{false, true} {
		for _, df := range []bool{false, true} {
			for _, path := range []Path{{MTU: 1500}, {MTU: 1499}, {MTU: 1400}, {MTU: 552, Locked: true}, {MTU: 9000}} {
				for _, mss := range []int{1460, 1440, 1000, 400} {
					segs := tcpSegments(3, mss, 100, 0, df)
					buf := superPacket(segs)
					inner := bytes.Clone(buf)
					tu := NewTunnel(Params{Local: local, PMTUDisc: pmtudisc})
					r, refused := tu.RefuseGSO(buf, len(buf)-Headroom, mss, path)
					if !bytes.Equal(buf, inner) {
						t.Fatal("RefuseGSO wrote into the buffer")
					}
					seg := append(make([]byte, Headroom), segs[0]...)
					want := tu.Encap(seg, len(segs[0]), remote, NewIDs(7), path)
					wantRefused := want.Verdict == FragNeeded || want.Verdict == Drop
					if refused != wantRefused || (refused && r != want) {
						t.Errorf("pmtudisc %v, DF %v, path %+v, mss %d: RefuseGSO = %+v, %v; Encap of the first segment %+v",
							pmtudisc, df, path, mss, r, refused, want)
					}
					verdicts[want.Verdict]++
				}
			}
		}
	}
	if len(verdicts) != 4 {
		t.Errorf("the cases gave the first segment only the verdicts %v; want all four", verdicts)
	}
	// Not a super-packet: left to SplitGSO, which refuses it.
	buf := superPacket(tcpSegments(3, 1460, 0, 0, true))
	header.IPv4(buf[Headroom:]).SetTotalLength(1)
	if r, refused := NewTunnel(Params{PMTUDisc: true}).RefuseGSO(buf, len(buf)-Headroom, 1460, Path{MTU: 576}); refused {
		t.Errorf("a bad header refused as %+v", r)
	}
}

func TestEncapGSO(t *testing.T) {
	const mss = 1440 // 1480 with 20 + 20 bytes of headers: a tunnel MTU of 1480 on a 1500 path
	tests := []struct {
		name   string
		segs   [][]byte
		mss    int
		params Params
		path   Path
		ok     bool
		df     bool
	}{
		{name: "fits the path: one outer packet", segs: tcpSegments(44, mss, 0, 0, true), mss: mss,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1500}, ok: true, df: true},
		{name: "a short last segment", segs: tcpSegments(10, mss, 100, 0, true), mss: mss,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1500}, ok: true, df: true},
		{name: "inherited TOS and ECN, CE becomes ECT(0)", segs: tcpSegments(3, mss, 0, 0xb8|3, true), mss: mss,
			params: Params{Local: local, InheritTOS: true, PMTUDisc: true}, path: Path{MTU: 1500}, ok: true, df: true},
		{name: "tunl0: no local, no pmtudisc, inner DF clear", segs: tcpSegments(3, mss, 0, 0, false), mss: mss,
			params: Params{}, path: Path{MTU: 1500}, ok: true, df: false},
		{name: "a locked path clears DF", segs: tcpSegments(3, 400, 0, 0, true), mss: 400,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 552, Locked: true}, ok: true, df: false},
		{name: "a segment one byte too big for the path", segs: tcpSegments(3, mss, 0, 0, true), mss: mss,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1499}},
		{name: "a path MTU learned below the segments", segs: tcpSegments(3, mss, 0, 0, true), mss: mss,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1400}},
		{name: "one segment only", segs: tcpSegments(1, mss, 0, 0, true), mss: mss,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1500}},
		{name: "no room for the outer total length", segs: tcpSegments(46, 1440, 680, 0, true), mss: 1440,
			params: Params{Local: local, PMTUDisc: true}, path: Path{MTU: 1500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := superPacket(tt.segs)
			n := len(buf) - Headroom
			inner := bytes.Clone(buf[Headroom:])
			tu := NewTunnel(tt.params)
			ids := NewIDs(7)
			r, ok := tu.EncapGSO(buf, n, tt.mss, remote, ids, tt.path)
			if ok != tt.ok {
				t.Fatalf("EncapGSO ok = %v, want %v (%d bytes, mss %d, path %+v)", ok, tt.ok, n, tt.mss, tt.path)
			}
			if !bytes.Equal(buf[Headroom:], inner) {
				t.Fatal("the inner packet changed")
			}
			if !ok {
				if !bytes.Equal(buf[:Headroom], make([]byte, Headroom)) {
					t.Fatal("wrote an outer header for a packet that cannot go whole")
				}
				return
			}
			out := header.IPv4(r.Packet(buf))
			if r.Verdict != Send || int(r.Length) != Headroom+n || !out.IsValid(len(out)) || !out.HeaderChecksumValid() ||
				out.Protocol() != header.ProtocolIPIP || int(out.TotalLength()) != Headroom+n || out.Dst() != remote {
				t.Fatalf("result %+v, outer header % x", r, buf[:Headroom])
			}
			if out.DontFragment() != tt.df {
				t.Errorf("outer DF = %v, want %v", out.DontFragment(), tt.df)
			}
			// The same header, but for the length, as Encap gives one segment.
			seg := append(make([]byte, Headroom), tt.segs[0]...)
			want := tu.Encap(seg, len(tt.segs[0]), remote, NewIDs(7), tt.path)
			if want.Verdict != Send {
				t.Fatalf("Encap of the first segment: %+v", want)
			}
			if out.TOS() != header.IPv4(seg).TOS() || out.TTL() != header.IPv4(seg).TTL() || out.ID() != header.IPv4(seg).ID() {
				t.Errorf("TOS/TTL/ID %#x/%d/%d, Encap of one segment gives %#x/%d/%d", out.TOS(), out.TTL(), out.ID(),
					header.IPv4(seg).TOS(), header.IPv4(seg).TTL(), header.IPv4(seg).ID())
			}
			// The kernel numbers the segments ID, ID+1, …: the next packet
			// to the same destination comes after them.
			count, bytes := Segments(buf[Headroom:], tt.mss)
			if count != len(tt.segs) {
				t.Errorf("Segments = %d, want %d", count, len(tt.segs))
			}
			if total := totalLen(tt.segs); bytes != total {
				t.Errorf("Segments bytes = %d, want %d", bytes, total)
			}
			if next := ids.Next(tu.src, remote); next != out.ID()+uint16(count) {
				t.Errorf("next ID %d after a super-packet of %d segments from ID %d", next, count, out.ID())
			}
		})
	}
}

func totalLen(segs [][]byte) int {
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	return n
}

// The oracle: SplitGSO of a super-packet gives back, byte for byte, the
// segments it was merged from, as the kernel's tcp_gso_segment would.
func TestSplitGSOGivesTheSegmentsBack(t *testing.T) {
	for _, tc := range []struct{ count, mss, last int }{{44, 1440, 0}, {2, 1440, 1}, {5, 536, 17}, {1, 1440, 0}} {
		segs := tcpSegments(tc.count, tc.mss, tc.last, 0, true)
		inner := packettest.GROMerge(segs)
		outs := make([][]byte, 64)
		for i := range outs {
			outs[i] = make([]byte, Headroom+2000)
		}
		sizes := make([]int, 64)
		n := SplitGSO(inner, tc.mss, outs, sizes, Headroom)
		if n != tc.count {
			t.Fatalf("%+v: SplitGSO = %d segments, want %d", tc, n, tc.count)
		}
		for i := range n {
			got := outs[i][Headroom : Headroom+sizes[i]]
			if !bytes.Equal(got, segs[i]) {
				t.Fatalf("%+v: segment %d\n got % x\nwant % x", tc, i, got[:60], segs[i][:60])
			}
		}
	}
}

func TestSplitGSORefuses(t *testing.T) {
	segs := tcpSegments(4, 1000, 0, 0, true)
	inner := packettest.GROMerge(segs)
	big := [][]byte{make([]byte, 1100), make([]byte, 1100), make([]byte, 1100), make([]byte, 1100)}
	sizes := make([]int, 4)
	tests := []struct {
		name   string
		inner  []byte
		mss    int
		outs   [][]byte
		offset int
	}{
		{"too few buffers", inner, 1000, big[:3], 0},
		{"a buffer too short", inner, 1000, [][]byte{big[0], big[1], big[2], make([]byte, 1039)}, 0},
		{"no room for the offset", inner, 1000, big, 100},
		{"mss 0", inner, 0, big, 0},
		{"not TCP", packettest.IP{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}.UDP(1, 2, make([]byte, 3000)), 1000, big, 0},
		{"total length is not the packet's", inner[:len(inner)-1], 1000, big, 0},
	}
	for _, tt := range tests {
		if n := SplitGSO(tt.inner, tt.mss, tt.outs, sizes, tt.offset); n != 0 {
			t.Errorf("%s: SplitGSO = %d, want 0", tt.name, n)
		}
	}
}

func TestGSOAllocatesNothing(t *testing.T) {
	segs := tcpSegments(44, 1440, 0, 0, true)
	buf := superPacket(segs)
	inner := bytes.Clone(buf[Headroom:])
	tu := NewTunnel(Params{Local: local, PMTUDisc: true})
	ids := NewIDs(1)
	outs := make([][]byte, 64)
	for i := range outs {
		outs[i] = make([]byte, Headroom+1500)
	}
	sizes := make([]int, 64)
	if a := testing.AllocsPerRun(100, func() {
		tu.EncapGSO(buf, len(inner), 1440, remote, ids, Path{MTU: 1500})
		SplitGSO(inner, 1440, outs, sizes, Headroom)
	}); a != 0 {
		t.Errorf("EncapGSO and SplitGSO: %v allocations, want 0", a)
	}
}

// FuzzEncapGSO: on any inner bytes, segment size and path, EncapGSO and
// SplitGSO must not panic; what EncapGSO sends whole is a valid outer
// header in front of the unchanged packet with segments that fit the path,
// and SplitGSO then cuts it into as many segments as Segments counts, each
// a valid packet Encap sends on that path.
func FuzzEncapGSO(f *testing.F) {
	// A super-packet of three 1440-byte segments on a 1500-byte path (sent
	// whole), the same on a path one byte short (split), and a one-segment
	// packet (never whole).
	f.Add(packettest.GROMerge(tcpSegments(3, 1440, 0, 0, true)), uint16(1440), uint16(1500), false)
	f.Add(packettest.GROMerge(tcpSegments(3, 1440, 0, 0, true)), uint16(1440), uint16(1499), false)
	f.Add(packettest.GROMerge(tcpSegments(2, 500, 7, 0, false)), uint16(500), uint16(552), true)
	f.Add(packettest.GROMerge(tcpSegments(1, 1440, 0, 0, true)), uint16(1440), uint16(1500), false)
	f.Fuzz(func(t *testing.T, inner []byte, mss, pathMTU uint16, locked bool) {
		buf := append(make([]byte, Headroom), inner...)
		tu := NewTunnel(Params{Local: local, PMTUDisc: true})
		path := Path{MTU: int(pathMTU), Locked: locked}
		r, ok := tu.EncapGSO(buf, len(inner), int(mss), remote, NewIDs(1), path)
		if !bytes.Equal(buf[Headroom:], inner) {
			t.Fatal("the inner packet changed")
		}
		count, _ := Segments(inner, int(mss))
		if count > 64 {
			count = 0 // not worth cutting in a fuzz run
		}
		outs, sizes := make([][]byte, count), make([]int, count)
		for i := range outs {
			outs[i] = make([]byte, Headroom+min(len(inner), 120+int(mss)))
		}
		split := SplitGSO(inner, int(mss), outs, sizes, Headroom)
		if count > 0 && split != count {
			t.Fatalf("SplitGSO = %d, Segments = %d", split, count)
		}
		// Refused whole exactly when the first segment, the longest, is
		// refused (below the lengths Encap refuses for the 16-bit field).
		refusal, refused := tu.RefuseGSO(buf, len(inner), int(mss), path)
		if refused && ok {
			t.Fatalf("refused whole as %+v and sent whole", refusal)
		}
		if split > 0 && sizes[0] <= header.MaxTotalLength-Overhead {
			first := tu.Encap(outs[0][:Headroom+sizes[0]], sizes[0], remote, NewIDs(1), path)
			if want := first.Verdict == FragNeeded || first.Verdict == Drop; refused != want || (refused && refusal != first) {
				t.Fatalf("RefuseGSO = %+v, %v; Encap of the first segment %+v", refusal, refused, first)
			}
		}
		if !ok {
			return
		}
		out := header.IPv4(r.Packet(buf))
		if !out.IsValid(len(out)) || !out.HeaderChecksumValid() || int(r.Length) != Headroom+len(inner) {
			t.Fatalf("sent whole: result %+v, %d segments, header % x", r, count, buf[:Headroom])
		}
		for i := range split {
			seg := outs[i][:Headroom+sizes[i]]
			if v := tu.Encap(seg, sizes[i], remote, NewIDs(1), path); v.Verdict != Send {
				t.Fatalf("segment %d of a packet sent whole: Encap says %+v on %+v", i, v, path)
			}
		}
	})
}
