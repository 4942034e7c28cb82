package decap

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/lookup"
)

var (
	peer  = netip.MustParseAddr("10.245.1.3")
	self  = netip.MustParseAddr("10.245.1.2")
	other = netip.MustParseAddr("10.245.1.9")
	eth0  = 2
)

// outerPacket builds outer (src→dst, outerTOS) around an inner ICMP echo of
// innerLen bytes with innerTOS.
func outerPacket(src, dst netip.Addr, outerTOS, innerTOS uint8, innerLen int) []byte {
	inner := packettest.IP{Src: netip.MustParseAddr("192.168.42.0"), Dst: netip.MustParseAddr("192.168.41.0"),
		TOS: innerTOS, ID: 7, TTL: 63}.Echo(innerLen)
	return packettest.IP{Src: src, Dst: dst, TOS: outerTOS, ID: 9, DF: true}.IPIP(inner)
}

func table(t testing.TB, tunnels ...lookup.Tunnel) *lookup.TunnelTable {
	tt, err := lookup.NewTunnelTable(tunnels)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestECNDecapVectors runs every decap row of testdata/ecn-vectors.json
// through Decap and checks the delivered inner ECN with gopacket, whose
// own serializer must agree with the incrementally updated checksum.
func TestECNDecapVectors(t *testing.T) {
	var vectors []struct{ Outer, Inner, Result string }
	data, err := os.ReadFile("../testdata/ecn-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	tunnels := table(t, lookup.Tunnel{Name: "tunl0"})
	cells := 0
	for _, v := range vectors {
		if v.Outer == "" {
			continue // an encap row
		}
		outer, ok1 := header.ParseECN(v.Outer)
		inner, ok2 := header.ParseECN(v.Inner)
		if !ok1 || !ok2 {
			t.Fatalf("unknown codepoint in %+v", v)
		}
		cells++
		const dscp = 0xb8 // EF: the DSCP bits must survive untouched
		pkt := outerPacket(peer, self, uint8(outer), dscp|uint8(inner), 84)
		r := Decap(pkt, len(pkt), eth0, tunnels)
		if v.Result == "drop" {
			if r.Verdict != Drop || r.Reason != ECNDrop || r.Tunnel != 0 {
				t.Errorf("outer %s inner %s: %v/%v tunnel %d, want drop/ecn_drop on the tunnel", v.Outer, v.Inner, r.Verdict, r.Reason, r.Tunnel)
			}
			continue
		}
		want, _ := header.ParseECN(v.Result)
		if r.Verdict != Deliver {
			t.Fatalf("outer %s inner %s: %v/%v", v.Outer, v.Inner, r.Verdict, r.Reason)
		}
		ip := gopacket.NewPacket(r.Inner, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.TOS != dscp|uint8(want) {
			t.Errorf("outer %s inner %s: inner TOS %#x, want %#x", v.Outer, v.Inner, ip.TOS, dscp|uint8(want))
		}
		clone := *ip
		buf := gopacket.NewSerializeBuffer()
		if err := clone.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
			t.Fatal(err)
		}
		if clone.Checksum != ip.Checksum {
			t.Errorf("outer %s inner %s: inner checksum %#04x, gopacket computes %#04x", v.Outer, v.Inner, ip.Checksum, clone.Checksum)
		}
		wantLogged := inner == header.NotECT && outer != header.NotECT
		if (r.ECN == ECNLogged) != wantLogged {
			t.Errorf("outer %s inner %s: ECN outcome %v", v.Outer, v.Inner, r.ECN)
		}
	}
	if cells != 16 {
		t.Fatalf("read %d decap vectors, want 16", cells)
	}
}

func TestVerdicts(t *testing.T) {
	fallback := lookup.Tunnel{Name: "tunl0"}
	p2p := lookup.Tunnel{Name: "p2p", Local: self, Remote: peer}
	mpls := lookup.Tunnel{Name: "mpls", Local: self, Remote: peer, Mode: 137}
	group := lookup.Tunnel{Name: "group", Remote: netip.MustParseAddr("239.1.1.1")}
	good := func() []byte { return outerPacket(peer, self, 0, 0, 84) }
	mutate := func(f func([]byte) []byte) []byte { return f(good()) }
	tests := []struct {
		name    string
		tunnels []lookup.Tunnel
		pkt     []byte
		verdict Verdict
		reason  Reason
		tunnel  string
	}{
		{"delivered to the exact pair", []lookup.Tunnel{fallback, p2p}, good(), Deliver, NoReason, "p2p"},
		{"other source falls back", []lookup.Tunnel{fallback, p2p}, outerPacket(other, self, 0, 0, 84), Deliver, NoReason, "tunl0"},
		{"no fallback: ICMP owed", []lookup.Tunnel{p2p}, outerPacket(other, self, 0, 0, 84), NoTunnel, NoTunnelMatched, ""},
		{"example 14: mplsip tunnel selected, then dropped", []lookup.Tunnel{fallback, mpls}, good(), Drop, ModeMismatch, "mpls"},
		{"multicast group", []lookup.Tunnel{group}, outerPacket(peer, netip.MustParseAddr("239.1.1.1"), 0, 0, 84), Deliver, NoReason, "group"},
		{"outer too short", []lookup.Tunnel{fallback}, good()[:19], Drop, BadOuter, ""},
		{"outer version 6", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { b[0] = 0x65; return b }), Drop, BadOuter, ""},
		{"outer total length past the read", []lookup.Tunnel{fallback}, good()[:100], Drop, BadOuter, ""},
		{"outer fragment", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { header.IPv4(b).SetFlagsFragmentOffset(header.FlagMF); return b }), Drop, BadOuter, ""},
		{"outer source 0.0.0.0 (martian)", []lookup.Tunnel{fallback}, outerPacket(netip.MustParseAddr("0.0.0.0"), self, 0, 0, 84), Drop, BadOuter, ""},
		{"outer destination 0.0.0.0 (martian)", []lookup.Tunnel{fallback}, outerPacket(peer, netip.MustParseAddr("0.0.0.0"), 0, 0, 84), Drop, BadOuter, ""},
		{"outer protocol 41", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { b[9] = 41; return b }), Drop, NotIPIP, ""},
		{"19 inner bytes", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { header.IPv4(b).SetTotalLength(39); return b[:39] }), Drop, ShortInner, ""},
		{"inner version 6", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { b[20] = 0x60; return b }), Drop, BadInner, "tunl0"},
		{"inner IHL 4", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { b[20] = 0x44; return b }), Drop, BadInner, "tunl0"},
		{"inner total length past the outer", []lookup.Tunnel{fallback}, mutate(func(b []byte) []byte { header.IPv4(b[20:]).SetTotalLength(85); return b }), Drop, BadInner, "tunl0"},
		{"ECN: outer CE over Not-ECT", []lookup.Tunnel{fallback}, outerPacket(peer, self, 3, 0, 84), Drop, ECNDrop, "tunl0"},
	}
	for _, tt := range tests {
		tunnels := table(t, tt.tunnels...)
		r := Decap(tt.pkt, len(tt.pkt), eth0, tunnels)
		got := ""
		if r.Tunnel != lookup.None {
			got = tunnels.Tunnel(r.Tunnel).Name
		}
		if r.Verdict != tt.verdict || r.Reason != tt.reason || got != tt.tunnel {
			t.Errorf("%s: %v/%v tunnel %q, want %v/%v %q", tt.name, r.Verdict, r.Reason, got, tt.verdict, tt.reason, tt.tunnel)
		}
		if r.Verdict == Deliver && r.Multicast != (tt.name == "multicast group") {
			t.Errorf("%s: multicast %v", tt.name, r.Multicast)
		}
	}
}

// TestInnerIsASubSlice: delivery copies nothing, and trailing padding after
// the inner total length is not delivered.
func TestInnerIsASubSlice(t *testing.T) {
	pkt := outerPacket(peer, self, 0, 0, 84)
	pkt = append(pkt, 0, 0, 0, 0) // link padding beyond the outer total length
	header.IPv4(pkt[20:]).SetTotalLength(80)
	header.IPv4(pkt[20:]).SetHeaderChecksum()
	r := Decap(pkt, len(pkt), eth0, table(t, lookup.Tunnel{Name: "tunl0"}))
	if r.Verdict != Deliver || len(r.Inner) != 80 || unsafe.SliceData(r.Inner) != &pkt[20] {
		t.Fatalf("inner len %d at %p, want 80 at %p", len(r.Inner), unsafe.SliceData(r.Inner), &pkt[20])
	}
}

func TestBuildPortUnreachable(t *testing.T) {
	pkt := outerPacket(other, self, 0, 0, 1400)
	out := make([]byte, 1500)
	n := BuildPortUnreachable(out, pkt, 5)
	p := gopacket.NewPacket(out[:n], layers.LayerTypeIPv4, gopacket.Default)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 3) {
		t.Fatalf("not an ICMP port unreachable: %v", p)
	}
	if ip.SrcIP.String() != self.String() || ip.DstIP.String() != other.String() {
		t.Errorf("ICMP %v > %v, want %v > %v", ip.SrcIP, ip.DstIP, self, other)
	}
	if n != header.ICMPErrorMaxSize || string(icmp.Payload[:28]) != string(pkt[:28]) {
		t.Errorf("length %d; quote must start with the outer header and 8 bytes", n)
	}
	if header.Checksum(out[20:n], 0) != 0xffff || !header.IPv4(out[:n]).HeaderChecksumValid() {
		t.Error("checksums do not verify")
	}
	mc := outerPacket(other, netip.MustParseAddr("239.1.1.1"), 0, 0, 84)
	if BuildPortUnreachable(out, mc, 5) != 0 {
		t.Error("answered a packet sent to a multicast group")
	}
}

func TestDecapAllocatesNothing(t *testing.T) {
	tunnels := table(t, lookup.Tunnel{Name: "tunl0"}, lookup.Tunnel{Name: "p2p", Local: self, Remote: peer, Link: eth0})
	pkt := outerPacket(peer, self, 3, 2, 1400)
	allocs := testing.AllocsPerRun(1000, func() {
		header.IPv4(pkt[20:]).SetTOS(2)
		header.IPv4(pkt[20:]).SetHeaderChecksum()
		if r := Decap(pkt, len(pkt), eth0, tunnels); r.Verdict != Deliver {
			t.Fatal(r.Verdict, r.Reason)
		}
	})
	if allocs != 0 {
		t.Errorf("Decap allocates %.1f times per run, want 0", allocs)
	}
}
