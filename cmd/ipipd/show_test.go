package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/engine"
)

func sampleStatus() engine.Status {
	return engine.Status{
		Tunnels: []engine.TunnelStatus{
			{Name: "ipiptun", Local: "10.3.3.3", Remote: "10.4.4.4", TTL: 64, TOS: 0x10, PMTUDisc: true, MTU: 1480, PathMTU: 1500, Up: true, Table: 254,
				Addresses: []string{"172.16.0.1/30"}, AcceptFrom: []string{"known"}},
			{Name: "tunl0", Local: "any", Remote: "any", MTU: 1480, PathMTU: 1500, Fallback: true, Up: true, Table: 254,
				Addresses: []string{"192.168.41.0/32"},
				Routes:    []engine.RouteStatus{{To: "192.168.42.0/24", Via: "10.245.1.3", Proto: 70}},
				Stats: engine.Stats{RxPackets: 3, RxBytes: 252, RxFrameErrors: 1, Multicast: 2, TxPackets: 4, TxBytes: 336,
					Collisions: 5, TxCarrierErrors: 6, TxDropped: 7, ICMPSent: 8, Drops: map[string]uint64{"ecn_drop": 1, "too_big": 7}}},
		},
		Global: engine.GlobalStats{Drops: map[string]uint64{"no_tunnel": 9}, PortUnreachables: 9},
	}
}

// The JSON carries iproute2's words and the kernel's counter names, and
// every reason, zero or not, so scripts see stable keys.
func TestShowJSON(t *testing.T) {
	doc := newShowJSON(sampleStatus(), true, true, true)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tunnels []map[string]any `json:"tunnels"`
		Global  map[string]any   `json:"global"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	p2p, fb := got.Tunnels[0], got.Tunnels[1]
	for key, want := range map[string]any{"ifname": "ipiptun", "ttl": 64.0, "tos": "0x10", "pmtudisc": true, "remote": "10.4.4.4", "state": "UP"} {
		if p2p[key] != want {
			t.Errorf("ipiptun %s = %v, want %v", key, p2p[key], want)
		}
	}
	for key, want := range map[string]any{"ttl": "inherit", "tos": "0x0", "pmtudisc": false, "remote": "any", "local": "any", "fallback": true} {
		if fb[key] != want {
			t.Errorf("tunl0 %s = %v, want %v", key, fb[key], want)
		}
	}
	st := fb["stats64"].(map[string]any)
	rx, tx := st["rx"].(map[string]any), st["tx"].(map[string]any)
	if rx["packets"] != 3.0 || rx["frame_errors"] != 1.0 || rx["multicast"] != 2.0 || tx["collisions"] != 5.0 || tx["carrier_errors"] != 6.0 || tx["dropped"] != 7.0 {
		t.Errorf("tunl0 stats64 = %v", st)
	}
	drops := fb["drops"].(map[string]any)
	if r := drops["receive"].(map[string]any); r["ecn_drop"] != 1.0 || r["bad_inner"] != 0.0 {
		t.Errorf("receive drops %v: want every reason after selection, ecn_drop 1", r)
	}
	if d := fb["details"].(map[string]any); d["path_mtu"] != 1500.0 || d["icmp"].(map[string]any)["sent"] != 8.0 {
		t.Errorf("details %v", d)
	}
	if a := p2p["details"].(map[string]any)["accept_from"].([]any); len(a) != 1 || a[0] != "known" {
		t.Errorf("ipiptun accept_from %v, want [known]", a)
	}
	if r := fb["routes"].([]any)[0].(map[string]any); r["via"] != "10.245.1.3" || r["proto"] != "ipipd" {
		t.Errorf("route %v", r)
	}
	if g := got.Global["drops"].(map[string]any); g["no_tunnel"] != 9.0 || g["bad_outer"] != 0.0 {
		t.Errorf("global drops %v", g)
	}

	// Without -s and -d, the parameters only.
	b, _ = json.Marshal(newShowJSON(sampleStatus(), false, false, true))
	for _, key := range []string{"stats64", "drops", "details", "global"} {
		if strings.Contains(string(b), `"`+key+`"`) {
			t.Errorf("without -s -d the JSON has %q: %s", key, b)
		}
	}
}

// -s prints iproute2's columns (tnl_print_stats) with the kernel counters
// each names.
func TestShowStatsColumns(t *testing.T) {
	var buf bytes.Buffer
	st, err := selectTunnel(sampleStatus(), "tunl0")
	if err != nil {
		t.Fatal(err)
	}
	printStatus(&buf, st, true, false, false)
	out := buf.String()
	for _, want := range []string{
		"tunl0: ip/ip remote any local any ttl inherit nopmtudisc\n",
		"RX: Packets    Bytes        Errors CsumErrs OutOfSeq Mcasts\n    3          252          0      1        0        2       \n",
		"TX: Packets    Bytes        Errors DeadLoop NoRoute  NoBufs\n    4          336          0      5        6        7     \n",
		"drops: ecn_drop 1, too_big 7\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show -s tunl0 lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ipiptun") || strings.Contains(out, "no tunnel:") {
		t.Errorf("show -s tunl0 prints more than tunl0:\n%s", out)
	}
}

func TestShowName(t *testing.T) {
	_, err := selectTunnel(sampleStatus(), "tun9")
	if err == nil || !strings.Contains(err.Error(), "ipiptun, tunl0") {
		t.Errorf("unknown name: %v; want the tunnels listed", err)
	}
	flags, names := splitShowArgs([]string{"tunl0", "-s", "--control", "/run/x.sock", "-j"})
	if !slices.Equal(names, []string{"tunl0"}) || !slices.Equal(flags, []string{"-s", "--control", "/run/x.sock", "-j"}) {
		t.Errorf("split: flags %q names %q", flags, names)
	}
}
