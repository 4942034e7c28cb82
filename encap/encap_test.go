package encap

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

var (
	local  = netip.MustParseAddr("10.245.1.2")
	remote = header.Addr4(netip.MustParseAddr("10.245.1.3"))
)

// innerPacket returns a buffer with headroom and an inner ICMP echo of
// total length n (≥ 28) from 192.168.41.0 to 192.168.42.0.
func innerPacket(n int, tos, ttl uint8, df bool) []byte {
	pkt := packettest.IP{Src: netip.MustParseAddr("192.168.41.0"), Dst: netip.MustParseAddr("192.168.42.0"),
		TOS: tos, ID: 0x1234, TTL: ttl, DF: df}.Echo(n)
	return append(make([]byte, Headroom, Headroom+n), pkt...)
}

// TestECNEncapVectors checks every encap row of testdata/ecn-vectors.json,
// both with the TOS fixed to outer_tos_base and inherited from an inner TOS
// whose DSCP is outer_tos_base's: the outer ECN is the vector's, the rest of
// the byte outer_tos_base & 0xFC.
func TestECNEncapVectors(t *testing.T) {
	var vectors []struct {
		Inner, Outer, Result string
		OuterTOSBase         *int   `json:"outer_tos_base"`
		EncapResult          string `json:"encap_result"`
	}
	data, err := os.ReadFile("../testdata/ecn-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	cells := 0
	for _, v := range vectors {
		if v.OuterTOSBase == nil {
			continue // a decap row
		}
		inner, ok1 := header.ParseECN(v.Inner)
		want, ok2 := header.ParseECN(v.EncapResult)
		if !ok1 || !ok2 {
			t.Fatalf("unknown codepoint in %+v", v)
		}
		base := uint8(*v.OuterTOSBase)
		for _, inherit := range []bool{false, true} {
			tu := NewTunnel(Params{Local: local, TOS: base, InheritTOS: inherit, PMTUDisc: true})
			innerTOS := uint8(inner)
			if inherit {
				innerTOS = base&0xfc | uint8(inner)
			}
			buf := innerPacket(84, innerTOS, 64, false)
			r := tu.Encap(buf, 84, remote, NewIDs(1), Path{MTU: 1500})
			if r.Verdict != Send {
				t.Fatalf("verdict %v", r.Verdict)
			}
			got := header.IPv4(r.Packet(buf)).TOS()
			wantTOS := base&0xfc | uint8(want)
			if !inherit {
				wantTOS = base&0xfc | uint8(want)
			}
			if got != wantTOS {
				t.Errorf("inner %s, tos base %#x, inherit %v: outer TOS %#x, want %#x", v.Inner, base, inherit, got, wantTOS)
			}
			outer, _ := decodeOuter(t, r.Packet(buf))
			if outer.TOS != wantTOS {
				t.Errorf("gopacket reads TOS %#x, want %#x", outer.TOS, wantTOS)
			}
		}
		cells++
	}
	if cells != 16 {
		t.Fatalf("read %d encap vectors, want 16", cells)
	}
	// RFC 6040 normal mode differs in one cell: CE stays CE.
	tu := NewTunnel(Params{ECN: ECNNormal})
	buf := innerPacket(84, uint8(header.CE), 64, false)
	if r := tu.Encap(buf, 84, remote, NewIDs(1), Path{MTU: 1500}); header.ECNOf(header.IPv4(r.Packet(buf)).TOS()) != header.CE {
		t.Errorf("normal mode turned CE into %v", header.ECNOf(header.IPv4(r.Packet(buf)).TOS()))
	}
}

// TestTTLTOSDFMatrix walks the combinations of section 4.2: TTL fixed or
// inherited, TOS fixed or inherited, pmtudisc on or off, inner DF set or
// not; each outer packet goes through gopacket.
func TestTTLTOSDFMatrix(t *testing.T) {
	for _, ttl := range []uint8{0, 1, 64, 255} {
		for _, tos := range []uint8{0, 0x10, 0xb8, 0xbb} {
			for _, inheritTOS := range []bool{false, true} {
				for _, pmtudisc := range []bool{false, true} {
					for _, innerDF := range []bool{false, true} {
						p := Params{Local: local, TTL: ttl, TOS: tos, InheritTOS: inheritTOS, PMTUDisc: pmtudisc}
						tu := NewTunnel(p)
						const innerTOS, innerTTL = 0x2a, 37 // DSCP 10, ECT(0)
						buf := innerPacket(100, innerTOS, innerTTL, innerDF)
						r := tu.Encap(buf, 100, remote, NewIDs(7), Path{MTU: 1500})
						if r.Verdict != Send {
							t.Fatalf("%+v: verdict %v", p, r.Verdict)
						}
						outer, inner := decodeOuter(t, r.Packet(buf))
						wantTTL := ttl
						if ttl == 0 {
							wantTTL = innerTTL
						}
						wantTOS := tos&0xfc | uint8(header.ECT0)
						if inheritTOS {
							wantTOS = innerTOS
						}
						wantDF := pmtudisc || ttl != 0 || innerDF // a fixed TTL forces DF
						if outer.TTL != wantTTL || outer.TOS != wantTOS ||
							(outer.Flags&layers.IPv4DontFragment != 0) != wantDF {
							t.Errorf("%+v innerDF=%v: TTL %d TOS %#x flags %v; want TTL %d TOS %#x DF %v",
								p, innerDF, outer.TTL, outer.TOS, outer.Flags, wantTTL, wantTOS, wantDF)
						}
						if outer.SrcIP.String() != "10.245.1.2" || outer.DstIP.String() != "10.245.1.3" ||
							outer.Id == 0 || outer.FragOffset != 0 || outer.Flags&layers.IPv4MoreFragments != 0 {
							t.Errorf("%+v: outer %v > %v id %d frag %d", p, outer.SrcIP, outer.DstIP, outer.Id, outer.FragOffset)
						}
						if inner.TTL != innerTTL || inner.TOS != innerTOS || inner.SrcIP.String() != "192.168.41.0" {
							t.Errorf("inner header changed: %+v", inner)
						}
						checkHeaderChecksum(t, inner)
					}
				}
			}
		}
	}
}

// TestOversizeMatrix is section 4.5, with M = 1500 and N around M - 20;
// then the same on a path MTU locked at min_pmtu (learned from a frag
// needed below 552, or with ip_no_pmtu_disc = 1): iptunnel_xmit clears DF
// on every outer packet, so what does not fit is fragmented by IP output,
// whatever pmtudisc and a fixed TTL say, and an inner DF packet still
// earns ICMP 3/4 with 552 - 20.
func TestOversizeMatrix(t *testing.T) {
	const M = 1500
	open := Path{MTU: M}
	locked := Path{MTU: 552, Locked: true}
	tests := []struct {
		name     string
		path     Path
		pmtudisc bool
		ttl      uint8
		innerDF  bool
		n        int
		want     Verdict
		reason   Reason
		wantDF   bool
	}{
		{"DF fits", open, false, 0, true, M - 20, Send, NoReason, true},
		{"DF one byte over: ICMP 3/4 with M-20", open, false, 0, true, M - 19, FragNeeded, NoReason, false},
		{"DF over with pmtudisc: ICMP 3/4", open, true, 0, true, M + 100, FragNeeded, NoReason, false},
		{"pmtudisc, no DF, fits: outer DF", open, true, 0, false, M - 20, Send, NoReason, true},
		{"pmtudisc, no DF, over: dropped like IP output", open, true, 0, false, M - 19, Drop, TooBig, false},
		{"fixed TTL forces DF: over is dropped", open, false, 64, false, M - 19, Drop, TooBig, false},
		{"no pmtudisc, no DF, fits: outer DF clear", open, false, 0, false, M - 20, Send, NoReason, false},
		{"no pmtudisc, no DF, over: fragment", open, false, 0, false, M - 19, Fragment, NoReason, false},
		{"no pmtudisc, no DF, 9000 bytes: fragment", open, false, 0, false, 9000, Fragment, NoReason, false},
		{"locked: DF fits: sent, outer DF clear", locked, true, 0, true, 532, Send, NoReason, false},
		{"locked: DF over: ICMP 3/4", locked, true, 0, true, 533, FragNeeded, NoReason, false},
		{"locked: pmtudisc, no DF, over: fragmented, not dropped", locked, true, 0, false, 1000, Fragment, NoReason, false},
		{"locked: fixed TTL, no DF, over: fragmented", locked, false, 64, false, 1000, Fragment, NoReason, false},
		{"locked: no pmtudisc, no DF, fits: sent", locked, false, 0, false, 532, Send, NoReason, false},
	}
	for _, tt := range tests {
		tu := NewTunnel(Params{Local: local, PMTUDisc: tt.pmtudisc, TTL: tt.ttl})
		buf := innerPacket(tt.n, 0, 64, tt.innerDF)
		r := tu.Encap(buf, tt.n, remote, NewIDs(3), tt.path)
		if r.Verdict != tt.want || r.Reason != tt.reason {
			t.Errorf("%s: %v/%v, want %v/%v", tt.name, r.Verdict, r.Reason, tt.want, tt.reason)
			continue
		}
		switch r.Verdict {
		case FragNeeded, Drop:
			if int(r.MTU) != tt.path.MTU-20 {
				t.Errorf("%s: MTU %d, want %d", tt.name, r.MTU, tt.path.MTU-20)
			}
		case Send, Fragment:
			if header.IPv4(r.Packet(buf)).DontFragment() != tt.wantDF {
				t.Errorf("%s: DF %v, want %v", tt.name, !tt.wantDF, tt.wantDF)
			}
			decodeOuter(t, r.Packet(buf))
		}
	}
}

func TestBadInnerPackets(t *testing.T) {
	tu := NewTunnel(Params{Local: local})
	ids := NewIDs(1)
	v6 := innerPacket(60, 0, 64, false)
	v6[Headroom] = 0x60
	short := innerPacket(40, 0, 64, false)
	lying := innerPacket(60, 0, 64, false)
	header.IPv4(lying[Headroom:]).SetTotalLength(61)
	padded := innerPacket(60, 0, 64, false)
	header.IPv4(padded[Headroom:]).SetTotalLength(50) // 10 bytes of padding after the packet
	tests := []struct {
		name   string
		buf    []byte
		n      int
		want   Verdict
		reason Reason
		length int
	}{
		{"IPv6 from the TUN", v6, 60, Drop, NotIPv4, 0},
		{"19 bytes", short, 19, Drop, BadHeader, 0},
		{"total length past the read", lying, 60, Drop, BadHeader, 0},
		{"n past the buffer", short, 100, Drop, BadHeader, 0},
		{"zero bytes", short, 0, Drop, BadHeader, 0},
		{"padding after total length is not sent", padded, 60, Send, NoReason, 70},
	}
	for _, tt := range tests {
		r := tu.Encap(tt.buf, tt.n, remote, ids, Path{MTU: 1500})
		if r.Verdict != tt.want || r.Reason != tt.reason || len(r.Packet(tt.buf)) != tt.length {
			t.Errorf("%s: %v/%v len %d, want %v/%v len %d", tt.name, r.Verdict, r.Reason, len(r.Packet(tt.buf)), tt.want, tt.reason, tt.length)
		}
	}
}

func TestNoLocalLeavesSourceForTheKernel(t *testing.T) {
	tu := NewTunnel(Params{})
	buf := innerPacket(84, 0, 64, false)
	r := tu.Encap(buf, 84, remote, NewIDs(1), Path{MTU: 1500})
	outer, _ := decodeOuter(t, r.Packet(buf))
	if !outer.SrcIP.Equal([]byte{0, 0, 0, 0}) {
		t.Fatalf("source %v, want 0.0.0.0 (filled in by the raw socket)", outer.SrcIP)
	}
}

func TestIDsPerDestination(t *testing.T) {
	ids := NewIDs(42)
	a := header.Addr4(netip.MustParseAddr("10.0.0.1"))
	prev := ids.Next(0, a)
	for i := 0; i < 70000; i++ { // more than one wrap of the 16-bit counter
		got := ids.Next(0, a)
		if got == 0 {
			t.Fatal("ID 0 handed out")
		}
		if got != prev+1 && !(prev == 0xffff && got == 1) {
			t.Fatalf("ID %d after %d: not consecutive", got, prev)
		}
		prev = got
	}
	starts := map[uint16]bool{}
	for seed := uint64(0); seed < 8; seed++ {
		starts[NewIDs(seed).Next(0, a)] = true
	}
	if len(starts) < 7 {
		t.Errorf("8 seeds gave %d distinct first IDs", len(starts))
	}
}
