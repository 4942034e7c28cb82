package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// iprouteCounters are the counters that `ipipd show -s -j` and `ip -s -j
// link show DEV` both print, under the same stats64 names.
type iprouteCounters struct {
	RX struct {
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
	} `json:"rx"`
	TX struct {
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
	} `json:"tx"`
}

// TestShowLikeIproute2 runs one daemon of a two-node mesh, pings through
// its tunl0 and reads the same device two ways: `ipipd show -s -j tunl0`
// and the kernel's own counters of the TUN device, `ip -s -j link show
// tunl0`.
//
// Which agree, and why: the kernel counts a TUN device from its side, so
// what ipipd writes into the TUN is the kernel's rx and what ipipd reads
// from it is the kernel's tx.
//   - rx packets and bytes: every inner packet ipipd delivers is one write
//     of its inner IP packet (the kernel counts the IP length, as ipipd's
//     rx_bytes does), so the two grow alike. ipipd's ICMP errors toward
//     inner senders are writes too, but a ping of the tunnel's MTU earns
//     none, and the test checks that none was sent.
//   - tx packets and bytes: every packet the kernel routes into the TUN is
//     one read; ipipd counts it in tx_packets once it is sent, or in
//     tx_errors / tx_dropped when it is not. Pings of the MTU are all sent,
//     so tx agrees as well. (With the offload TUN a TCP super-packet is one
//     kernel tx and many ipipd tx_packets; pings are never merged.)
//   - errors, dropped and the rest do not name the same thing: the kernel's
//     are the TUN's (a full queue, a bad write), ipipd's the tunnel's
//     (iproute2's columns of ip -s tunnel show), so they are not compared.
func TestShowLikeIproute2(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 2)
	d1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}, "mtu: 1480"))
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}, "mtu: 1480"))
	warmUp(t, l.nodes[0], tunnelAddr(1))

	ipipd := func() (iprouteCounters, map[string]any) {
		t.Helper()
		out, stderr, err := runBinarySplit(10*time.Second, "show", "tunl0", "-s", "-d", "-j", "--control", d1.control)
		if err != nil {
			t.Fatalf("ipipd show tunl0 -s -d -j: %v: %s", err, stderr)
		}
		var doc struct {
			Tunnels []struct {
				Ifname  string          `json:"ifname"`
				Stats64 iprouteCounters `json:"stats64"`
			} `json:"tunnels"`
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Tunnels) != 1 || doc.Tunnels[0].Ifname != "tunl0" {
			t.Fatalf("ipipd show tunl0 -s -d -j: %v, want tunl0 alone: %s", err, out)
		}
		json.Unmarshal([]byte(out), &raw)
		return doc.Tunnels[0].Stats64, raw
	}
	kernel := func() iprouteCounters {
		t.Helper()
		out := l.nodes[0].Run(t, "ip", "-s", "-j", "link", "show", "dev", "tunl0")
		var links []struct {
			Stats64 iprouteCounters `json:"stats64"`
		}
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
			t.Fatalf("ip -s -j link show dev tunl0: %v: %s", err, out)
		}
		return links[0].Stats64
	}

	icmpBefore := d1.stats(t, "tunl0").ICMPSent
	ib, _ := ipipd()
	kb := kernel()
	const pings = 5
	if out, ok := ping(l.nodes[0], "-c", fmt.Sprint(pings), "-i", "0.2", "-M", "do", "-s", "1452", tunnelAddr(1).String()); !ok {
		t.Fatalf("node1 → node2 pings of the tunnel's MTU (1480) failed:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // the last reply through the TUN
	ia, doc := ipipd()
	ka := kernel()
	if d1.stats(t, "tunl0").ICMPSent != icmpBefore {
		t.Fatal("ipipd wrote ICMP errors into tunl0 during the pings; rx would not compare")
	}

	for _, c := range []struct {
		name                      string
		ipipdBefore, ipipdAfter   uint64
		kernelBefore, kernelAfter uint64
	}{
		{"rx packets", ib.RX.Packets, ia.RX.Packets, kb.RX.Packets, ka.RX.Packets},
		{"rx bytes", ib.RX.Bytes, ia.RX.Bytes, kb.RX.Bytes, ka.RX.Bytes},
		{"tx packets", ib.TX.Packets, ia.TX.Packets, kb.TX.Packets, ka.TX.Packets},
		{"tx bytes", ib.TX.Bytes, ia.TX.Bytes, kb.TX.Bytes, ka.TX.Bytes},
	} {
		di, dk := c.ipipdAfter-c.ipipdBefore, c.kernelAfter-c.kernelBefore
		if di != dk || di == 0 {
			t.Errorf("%s: ipipd show grew by %d, ip -s link show tunl0 by %d; want the same, not 0", c.name, di, dk)
		}
	}
	if ia.RX.Packets-ib.RX.Packets != pings || ia.RX.Bytes-ib.RX.Bytes != pings*1480 {
		t.Errorf("ipipd rx grew by %d packets, %d bytes; want %d replies of 1480 bytes", ia.RX.Packets-ib.RX.Packets, ia.RX.Bytes-ib.RX.Bytes, pings)
	}

	// The words of iproute2 and the documented keys.
	tun := doc["tunnels"].([]any)[0].(map[string]any)
	for key, want := range map[string]any{"remote": "any", "local": "any", "ttl": "inherit", "pmtudisc": false, "state": "UP", "mtu": 1480.0} {
		if tun[key] != want {
			t.Errorf("ipipd show -j: %q is %v, want %v", key, tun[key], want)
		}
	}
	if r := tun["routes"].([]any); len(r) != 1 || r[0].(map[string]any)["proto"] != "ipipd" {
		t.Errorf("ipipd show -j routes: %v; want the file's route, proto ipipd", r)
	}
	if _, ok := tun["details"].(map[string]any)["path_mtu"]; !ok {
		t.Errorf("ipipd show -d -j has no details.path_mtu: %v", tun["details"])
	}

	// The text: iproute2's columns; an unknown name lists the tunnels.
	text, _, err := runBinarySplit(10*time.Second, "show", "-s", "--control", d1.control)
	if err != nil || !strings.Contains(text, "RX: Packets    Bytes        Errors CsumErrs OutOfSeq Mcasts") ||
		!strings.Contains(text, "TX: Packets    Bytes        Errors DeadLoop NoRoute  NoBufs") {
		t.Errorf("ipipd show -s: %v; want iproute2's RX and TX columns:\n%s", err, text)
	}
	if _, stderr, err := runBinarySplit(10*time.Second, "show", "tun9", "--control", d1.control); err == nil || !strings.Contains(stderr, `no tunnel "tun9"; the tunnels are: tunl0`) {
		t.Errorf("ipipd show tun9: %v, %q; want an error naming tunl0", err, stderr)
	}
	if js, _, err := runBinarySplit(10*time.Second, "show", "--json", "--control", d1.control); err != nil || !strings.Contains(js, `"ifname": "tunl0"`) {
		t.Errorf("ipipd show --json: %v; want -j's document:\n%s", err, js)
	}
}
