package metrics

import (
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipipd/ipipd/internal/engine"
)

// meshPeers is tunl0 with n peers, peer k (from 1) having received k
// packets, and 1000 more in the engine's other bucket.
func meshPeers(first, n int) engine.Status {
	t := engine.TunnelStatus{Name: "tunl0", Local: "any", Remote: "any", Fallback: true,
		PeerTables: engine.PeerTables{Other: engine.PeerStats{RxPackets: 1000}, RxTracked: n, RxRefused: 42}}
	for k := first; k < first+n; k++ {
		t.Peers = append(t.Peers, engine.PeerStats{Addr: netip.AddrFrom4([4]byte{10, 245, byte(k >> 8), byte(k)}), RxPackets: uint64(k)})
	}
	return engine.Status{Tunnels: []engine.TunnelStatus{t}}
}

// receivePackets gathers ipipd_peer_receive_packets_total by peer label.
func receivePackets(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "ipipd_peer_receive_packets_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// At most PeerSeries peers of a tunnel get a series; the rest, and the
// engine's other bucket, are summed under peer="other". A peer keeps its
// series from scrape to scrape, so "other" never falls.
func TestPeerSeriesCapped(t *testing.T) {
	status := meshPeers(1, 150)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() engine.Status { return status }))
	got := receivePackets(t, reg)
	if len(got) != PeerSeries+1 {
		t.Fatalf("%d peer series, want %d and other", len(got), PeerSeries)
	}
	var want float64 = 1000
	for k := PeerSeries + 1; k <= 150; k++ {
		want += float64(k)
	}
	if got["other"] != want || got["10.245.0.1"] != 1 || got["10.245.0.100"] != 100 {
		t.Errorf("other %v (want %v), 10.245.0.1 %v, 10.245.0.100 %v", got["other"], want, got["10.245.0.1"], got["10.245.0.100"])
	}
	// Peer 1 leaves the table (its counts go to the engine's other) and
	// peer 151 comes: 151 takes the freed series, and 101…150 stay summed.
	status = meshPeers(2, 150)
	status.Tunnels[0].PeerTables.Other.RxPackets += 1
	after := receivePackets(t, reg)
	if _, ok := after["10.245.0.1"]; ok || after["10.245.0.151"] != 151 || after["10.245.0.101"] != 0 {
		t.Errorf("after peer 1 left: series %v", after)
	}
	if after["other"] != want+1 {
		t.Errorf("other went from %v to %v, want %v", want, after["other"], want+1)
	}
}
