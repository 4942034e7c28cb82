package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
)

// peersStatus is tunl0 of a mesh that talked to two nodes and was sent
// packets from sources its tables had no room for.
func peersStatus(now time.Time) engine.Status {
	st := sampleStatus()
	t := &st.Tunnels[1]
	t.Peers = []engine.PeerStats{
		{Addr: netip.MustParseAddr("10.245.1.3"), RxPackets: 5, RxBytes: 420, TxPackets: 5, TxBytes: 420,
			LastRx: now.Add(-3 * time.Second), LastTx: now.Add(-2 * time.Second)},
		{Addr: netip.MustParseAddr("10.245.1.4"), RxPackets: 3, RxBytes: 252, RxDrops: 1, LastRx: now.Add(-time.Minute)},
	}
	t.PeerTables = engine.PeerTables{Other: engine.PeerStats{RxPackets: 7, RxBytes: 700},
		RxSlots: engine.MaxPeers, TxSlots: 8, RxTracked: 2, TxTracked: 1, RxRefused: 7}
	return st
}

// show -s lists each peer on a line under its tunnel, with the other
// peers' bucket when some had no slot.
func TestShowPeers(t *testing.T) {
	now := time.Now()
	st, err := selectTunnel(peersStatus(now), "tunl0")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	printStatus(&buf, st, true, false, false)
	out := buf.String()
	for _, want := range []string{
		"    Peer            RX: Packets Bytes        Drops  TX: Packets Bytes        Drops  Seen\n",
		"    10.245.1.3      5          420          0      5          420          0      2s ago\n",
		"    10.245.1.4      3          252          1      0          0            0      1m0s ago\n",
		"    other           7          700          0      0          0            0      ~7 rx, ~0 tx refused a slot (tables hold 1024 each)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show -s lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	printStatus(&buf, sampleStatus(), true, false, true)
	if strings.Contains(buf.String(), "Peer ") {
		t.Errorf("show -s prints a peer block for tunnels that saw none:\n%s", buf.String())
	}
}

// show -j -s has a peers array per tunnel, empty when none, and the
// tables' summary, under snake_case keys.
func TestShowPeersJSON(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	b, err := json.Marshal(newShowJSON(peersStatus(now), true, false, true))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tunnels []struct {
			Peers     []map[string]any `json:"peers"`
			PeerTable map[string]any   `json:"peer_table"`
		} `json:"tunnels"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"peers":[]`) {
		t.Errorf("ipiptun has no empty peers array: %s", b)
	}
	peers := got.Tunnels[1].Peers
	if len(peers) != 2 || peers[0]["address"] != "10.245.1.3" {
		t.Fatalf("tunl0 peers %v", peers)
	}
	rx := peers[0]["rx"].(map[string]any)
	if rx["packets"] != 5.0 || rx["bytes"] != 420.0 || rx["dropped"] != 0.0 || rx["last_seen"] != "2026-12-07T01:02:00Z" {
		t.Errorf("10.245.1.3 rx %v", rx)
	}
	if tx := peers[1]["tx"].(map[string]any); tx["packets"] != 0.0 || tx["last_seen"] != nil {
		t.Errorf("10.245.1.4 tx %v, want nothing sent and no last_seen", tx)
	}
	pt := got.Tunnels[1].PeerTable
	if pt["max"] != float64(engine.MaxPeers) || pt["other"].(map[string]any)["rx"].(map[string]any)["packets"] != 7.0 ||
		pt["rx"].(map[string]any)["refused"] != 7.0 || pt["tx"].(map[string]any)["slots"] != 8.0 {
		t.Errorf("tunl0 peer_table %v", pt)
	}
	if b, _ := json.Marshal(newShowJSON(peersStatus(now), false, false, true)); strings.Contains(string(b), "peer") {
		t.Errorf("show -j without -s has peers: %s", b)
	}
}
