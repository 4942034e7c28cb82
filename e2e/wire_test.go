package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
)

// TestOnTheWire captures node2's underlay while node1 pings node2's tunnel
// address and decodes the outer packets.
//
// Kernel behaviour checked (ip_tunnel_xmit, iptunnel_xmit):
//   - protocol 4, outer 10.245.1.2 > 10.245.1.3 (the route's gateway)
//     around the untouched inner 192.168.41.0 > 192.168.42.0;
//   - ttl inherit: outer TTL = inner TTL; tos inherit: outer TOS = inner TOS;
//   - on a tunnel without pmtudisc (the fallback's default) outer DF = inner
//     DF, both ways (ping sets DF by default, -M dont clears it);
//   - the outer ID is chosen for every packet, DF or not (never 0);
//   - outer and inner header checksums and the ICMP checksum are valid;
//   - a fixed TTL (17) is used as is and forces DF even for a non-DF inner
//     packet; a fixed TOS (0x20) takes the inner ECN bits through
//     INET_ECN_encapsulate, which turns inner CE into ECT(0).
func TestOnTheWire(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 2)
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}, "ttl: inherit", "tos: inherit"))
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	// ARP and the first round trip happen before the capture starts.
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	capt := openCapture(t, l.nodes[1], "eth0")

	// Each case: ping flags, and what the outer header must carry.
	type want struct {
		ttl        uint8
		tos        uint8
		df         bool
		innerDF    bool
		innerTOS   uint8
		innerTTL   uint8
		checkInner bool
	}
	cases := 0
	check := func(name string, args []string, w want) {
		t.Helper()
		// A payload pattern of its own tells this case's echo request from
		// any other packet on the wire.
		cases++
		pattern := fmt.Sprintf("e2e0%04x", cases)
		marker, _ := hex.DecodeString(pattern + pattern)
		capt.drain()
		if out, ok := ping(l.nodes[0], append([]string{"-c", "1", "-p", pattern}, append(args, tunnelAddr(1).String())...)...); !ok {
			t.Fatalf("%s: ping failed:\n%s", name, out)
		}
		p, err := capt.waitFor(3*time.Second, func(p captured) bool {
			return !p.outgoing && len(p.data) > 9 && p.data[9] == header.ProtocolIPIP && bytes.Contains(p.data, marker)
		})
		if err != nil {
			t.Fatalf("%s: no IPIP packet from node1 on node2's eth0: %v", name, err)
		}
		outer, inner, icmp := decodeIPIP(t, name, p.data)
		t.Logf("%s: outer %v > %v tos %#x ttl %d id %d flags %v; inner %v > %v tos %#x ttl %d flags %v", name,
			outer.SrcIP, outer.DstIP, outer.TOS, outer.TTL, outer.Id, outer.Flags, inner.SrcIP, inner.DstIP, inner.TOS, inner.TTL, inner.Flags)
		if !outer.SrcIP.Equal(underlayAddr(0).AsSlice()) || !outer.DstIP.Equal(underlayAddr(1).AsSlice()) {
			t.Errorf("%s: outer %v > %v, want %v > %v", name, outer.SrcIP, outer.DstIP, underlayAddr(0), underlayAddr(1))
		}
		if !inner.SrcIP.Equal(tunnelAddr(0).AsSlice()) || !inner.DstIP.Equal(tunnelAddr(1).AsSlice()) {
			t.Errorf("%s: inner %v > %v, want %v > %v", name, inner.SrcIP, inner.DstIP, tunnelAddr(0), tunnelAddr(1))
		}
		if icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeEchoRequest {
			t.Errorf("%s: inner payload is not an ICMP echo request", name)
		}
		if outer.IHL != 5 {
			t.Errorf("%s: outer IHL %d, want 5 (no options)", name, outer.IHL)
		}
		if outer.Id == 0 {
			t.Errorf("%s: outer ID 0; the tunnel must choose an ID for every packet (__ip_select_ident)", name)
		}
		if got := outer.Flags&layers.IPv4DontFragment != 0; got != w.df {
			t.Errorf("%s: outer DF %v, want %v", name, got, w.df)
		}
		if got := inner.Flags&layers.IPv4DontFragment != 0; got != w.innerDF {
			t.Errorf("%s: inner DF %v, want %v (ping's own choice)", name, got, w.innerDF)
		}
		if outer.Flags&layers.IPv4MoreFragments != 0 || outer.FragOffset != 0 {
			t.Errorf("%s: outer packet is a fragment (flags %v offset %d)", name, outer.Flags, outer.FragOffset)
		}
		if inner.TOS != w.innerTOS {
			t.Errorf("%s: inner TOS %#x, want %#x as ping set it", name, inner.TOS, w.innerTOS)
		}
		wantTTL := w.ttl
		if wantTTL == 0 { // inherit
			wantTTL = inner.TTL
		}
		if outer.TTL != wantTTL {
			t.Errorf("%s: outer TTL %d, want %d (inner TTL %d)", name, outer.TTL, wantTTL, inner.TTL)
		}
		if outer.TOS != w.tos {
			t.Errorf("%s: outer TOS %#x, want %#x (inner TOS %#x)", name, outer.TOS, w.tos, inner.TOS)
		}
		if inner.TTL != 64 {
			t.Errorf("%s: inner TTL %d, want ping's 64 unchanged", name, inner.TTL)
		}
		checkChecksums(t, name, p.data)
	}

	check("inherit, DF", []string{"-Q", "0x28"}, want{tos: 0x28, df: true, innerDF: true, innerTOS: 0x28})
	check("inherit, no DF", []string{"-Q", "0x28", "-M", "dont"}, want{tos: 0x28, df: false, innerDF: false, innerTOS: 0x28})
	check("inherit, inner CE", []string{"-Q", "0x2b", "-M", "dont"}, want{tos: 0x2a, df: false, innerDF: false, innerTOS: 0x2b})

	node1.mustReload(t, fallbackConfig(0, []int{1}, "ttl: 17", "tos: 0x20"))
	if got := node1.tunnel(t, "tunl0"); got.TTL != 17 || got.TOS != 0x20 || got.TOSInherit || !got.PMTUDisc {
		t.Errorf("after reload ipipd show: ttl %d tos %#x inherit %v pmtudisc %v; want ttl 17 tos 0x20, not inherit, pmtudisc (forced by the fixed TTL)", got.TTL, got.TOS, got.TOSInherit, got.PMTUDisc)
	}
	check("fixed ttl/tos, inner Not-ECT", []string{"-Q", "0x28", "-M", "dont"}, want{ttl: 17, tos: 0x20, df: true, innerDF: false, innerTOS: 0x28})
	check("fixed ttl/tos, inner ECT(1)", []string{"-Q", "0x29"}, want{ttl: 17, tos: 0x21, df: true, innerDF: true, innerTOS: 0x29})
	check("fixed ttl/tos, inner CE", []string{"-Q", "0xb7", "-M", "dont"}, want{ttl: 17, tos: 0x22, df: true, innerDF: false, innerTOS: 0xb7})
}

// decodeIPIP decodes an outer IPv4 packet around an inner one with
// gopacket and returns both headers and the inner ICMP layer (nil if none).
func decodeIPIP(t *testing.T, name string, data []byte) (outer, inner *layers.IPv4, icmp *layers.ICMPv4) {
	t.Helper()
	pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
	if e := pkt.ErrorLayer(); e != nil {
		t.Fatalf("%s: decoding %x: %v", name, data, e.Error())
	}
	var ips []*layers.IPv4
	for _, l := range pkt.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			ips = append(ips, v)
		case *layers.ICMPv4:
			icmp = v
		}
	}
	if len(ips) != 2 {
		t.Fatalf("%s: %d IPv4 layers in %x, want 2 (outer and inner)", name, len(ips), data)
	}
	if ips[0].Protocol != layers.IPProtocolIPv4 {
		t.Fatalf("%s: outer protocol %v, want 4 (IPIP)", name, ips[0].Protocol)
	}
	return ips[0], ips[1], icmp
}

// checkChecksums verifies the outer and inner IPv4 header checksums, and the
// inner ICMP checksum if the payload is ICMP, by recomputing them.
func checkChecksums(t *testing.T, name string, data []byte) {
	t.Helper()
	outer := header.IPv4(data)
	if !outer.HeaderChecksumValid() {
		t.Errorf("%s: outer header checksum %#04x is wrong", name, outer.Checksum())
	}
	if int(outer.TotalLength()) != len(data) {
		t.Errorf("%s: outer total length %d, captured %d bytes", name, outer.TotalLength(), len(data))
	}
	inner := header.IPv4(outer.Payload())
	if !inner.IsValid(len(inner)) {
		t.Errorf("%s: inner header: %v", name, inner.Check(len(inner)))
		return
	}
	if !inner.HeaderChecksumValid() {
		t.Errorf("%s: inner header checksum %#04x is wrong", name, inner.Checksum())
	}
	if inner.Protocol() == header.ProtocolICMP {
		if sum := header.Checksum(inner.Payload(), 0); sum != 0xffff {
			t.Errorf("%s: inner ICMP checksum is wrong (sum %#04x)", name, sum)
		}
	}
}
