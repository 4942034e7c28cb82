package demo

import (
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/explain"
	"github.com/ipipd/ipipd/internal/hexfile"
)

func TestDecodeSeedPacket(t *testing.T) {
	got, err := decodeIPIP(seedPacket(t))
	if err != nil {
		t.Fatal(err)
	}
	if got != seedDecode {
		t.Errorf("got\n%s\nwant\n%s", got, seedDecode)
	}
}

func TestDecodeEchoReplyNoDF(t *testing.T) {
	pkt := seedPacket(t)
	pkt[6] = 0                  // outer flags: none, as the seed's reply
	pkt[20+20] = 0              // ICMP type 0: echo reply
	pkt[20+1] = 0xb8            // inner TOS
	got, err := decodeIPIP(pkt) // checksums are not checked by a decoder
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flags [none], proto IPIP (4)", "ICMP echo reply, id 31937, seq 1, length 64"} {
		if !strings.Contains(got, want) {
			t.Errorf("got\n%s\nwant it to contain %q", got, want)
		}
	}
}

func TestDecodeRefusesNonIPIP(t *testing.T) {
	pkt := seedPacket(t)[20:] // the inner packet alone: protocol 1
	if _, err := decodeIPIP(pkt); err == nil || !strings.Contains(err.Error(), "protocol 1, want 4") {
		t.Errorf("got %v, want an error naming protocol 1", err)
	}
	if _, err := decodeIPIP([]byte{0x45, 0}); err == nil {
		t.Errorf("a 2-byte packet decoded without error")
	}
	pkt = seedPacket(t)[:20] // IPIP header, nothing inside
	if _, err := decodeIPIP(pkt); err == nil {
		t.Errorf("an IPIP header without an inner packet decoded without error")
	}
}

func TestIPFlags(t *testing.T) {
	for f, want := range map[layers.IPv4Flag]string{
		0: "none", layers.IPv4DontFragment: "DF", layers.IPv4MoreFragments: "+",
		layers.IPv4MoreFragments | layers.IPv4DontFragment: "+DF", layers.IPv4EvilBit: "rsvd",
	} {
		if got := ipFlags(f); got != want {
			t.Errorf("ipFlags(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestHexDump(t *testing.T) {
	dump := hexDump(seedPacket(t))
	lines := strings.Split(dump, "\n")
	want := []string{
		"# outer IPv4 header (20 bytes), proto 4",
		"45 00 00 68 12 5b 40 00 40 04",
		"# inner IPv4 header (20 bytes), proto 1",
		"45 00 00 54 ad 66 40 00 40 01",
		"# ICMP (64 bytes)",
		"08 00",
		"a5 a5", "a5 a5", "a5 a5",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), dump)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: got %q, want it to start with %q", i, lines[i], want[i])
		}
	}
	if got := hexDump([]byte{1, 2, 3}); got != "# 3 bytes\n01 02 03" {
		t.Errorf("a non-IP dump: got %q", got)
	}
}

// TestExplainReadsThePrintedPacket feeds the packet as the demo prints it
// to explain, under the config of the node that received it: it must be
// delivered into tunl0, as node2's daemon delivered it. (Cut to its first
// 48 bytes, as the demo once printed it, it was dropped as bad_outer: the
// outer total length said 104.)
func TestExplainReadsThePrintedPacket(t *testing.T) {
	nodes := meshNodes("test")
	cfg, err := config.Parse("node2.yaml", nodeConfig(nodes[1], nodes))
	if err != nil {
		t.Fatal(err)
	}
	x, err := explain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, text, verdict string
	}{
		{"printed", indent(hexDump(seedPacket(t)), "    "), "4. deliver into TUN \"tunl0\": 192.168.41.0 > 192.168.42.0"},
		{"cut to 48 bytes", hexfile.Format("cut", seedPacket(t)[:48]), "verdict: drop (bad_outer)"},
	} {
		pkt, err := hexfile.Parse(c.text)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var out strings.Builder
		x.Packet(&out, pkt, explain.Options{Link: 2, PathMTU: 1500})
		if !strings.Contains(out.String(), c.verdict) {
			t.Errorf("%s: explain says\n%s\nwant %q", c.name, out.String(), c.verdict)
		}
	}
}
