package metrics

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipipd/ipipd/internal/engine"
)

// PeerSeries is the most peers of one tunnel exported as series of their
// own; the others are summed under peer="other". The engine counts up to
// engine.MaxPeers apart per direction, which a scraper need not store for
// every tunnel: a mesh's nodes fit, a flood of spoofed sources does not.
const PeerSeries = 100

// otherPeer is the peer label of the sum of the peers without a series.
const otherPeer = "other"

var (
	peerReceivePackets = peerDesc("receive_packets_total", "Inner packets from the peer (outer source) written into the tunnel's TUN device.")
	peerReceiveBytes   = peerDesc("receive_bytes_total", "Inner IP bytes from the peer written into the TUN device.")
	peerReceiveDrops   = peerDesc("receive_drops_total", "Packets from the peer dropped once the tunnel was selected, for any reason.")
	peerTransmitPkts   = peerDesc("transmit_packets_total", "Outer packets sent to the peer (outer destination; a fragmented packet counts once).")
	peerTransmitBytes  = peerDesc("transmit_bytes_total", "Inner IP bytes of the outer packets sent to the peer.")
	peerTransmitDrops  = peerDesc("transmit_drops_total", "Packets on their way to the peer that were not sent, for any reason.")
	peerLastSeen       = prometheus.NewDesc("ipipd_peer_last_seen_seconds",
		"When a packet last came from or went to the peer (Unix time); absent for peer=\"other\".", []string{"tunnel", "peer"}, nil)
	tunnelPeers = prometheus.NewDesc("ipipd_tunnel_peers",
		"Peers holding a slot of the tunnel's per-peer table, by direction (at most engine.MaxPeers, 1024).", []string{"tunnel", "direction"}, nil)
	tunnelPeersRefused = prometheus.NewDesc("ipipd_tunnel_peers_refused",
		"An estimate (HyperLogLog, about 6.5%) of the distinct peers the tunnel's full per-peer table had no slot for, by direction; their packets count under peer=\"other\".",
		[]string{"tunnel", "direction"}, nil)
)

func peerDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("ipipd_peer_"+name,
		help+" At most 100 peers a tunnel have a series; the rest are summed under peer=\"other\".", []string{"tunnel", "peer"}, nil)
}

var peerDescs = []*prometheus.Desc{peerReceivePackets, peerReceiveBytes, peerReceiveDrops,
	peerTransmitPkts, peerTransmitBytes, peerTransmitDrops, peerLastSeen, tunnelPeers, tunnelPeersRefused}

// peerSeries chooses which peers of each tunnel have a series of their
// own. A peer keeps its choice while the engine's table holds it: one
// that had a series keeps it, and one summed into other stays there, so
// that peer="other" only grows (a peer moving out of it would make the
// counter fall, which Prometheus takes for a restart). A peer the table
// drops frees its place; its counts went into the engine's other bucket.
type peerSeries struct {
	mu      sync.Mutex
	tunnels map[string]map[netip.Addr]bool // true: a series of its own
}

// split returns the peers of t with a series of their own, and the sum of
// the rest with the engine's other bucket.
func (ps *peerSeries) split(t engine.TunnelStatus) (own []engine.PeerStats, other engine.PeerStats) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.tunnels == nil {
		ps.tunnels = map[string]map[netip.Addr]bool{}
	}
	chosen := ps.tunnels[t.Name]
	if chosen == nil {
		chosen = map[netip.Addr]bool{}
		ps.tunnels[t.Name] = chosen
	}
	present := make(map[netip.Addr]bool, len(t.Peers))
	for _, p := range t.Peers {
		present[p.Addr] = true
	}
	owned := 0
	for a, mine := range chosen {
		switch {
		case !present[a]:
			delete(chosen, a)
		case mine:
			owned++
		}
	}
	other = t.PeerTables.Other
	for _, p := range t.Peers {
		mine, known := chosen[p.Addr]
		if !known {
			mine = owned < PeerSeries
			chosen[p.Addr] = mine
			if mine {
				owned++
			}
		}
		if mine {
			own = append(own, p)
			continue
		}
		other.RxPackets += p.RxPackets
		other.RxBytes += p.RxBytes
		other.RxDrops += p.RxDrops
		other.TxPackets += p.TxPackets
		other.TxBytes += p.TxBytes
		other.TxDrops += p.TxDrops
	}
	return own, other
}

// forget drops the choices of tunnels not in st.
func (ps *peerSeries) forget(st engine.Status) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	names := make(map[string]bool, len(st.Tunnels))
	for _, t := range st.Tunnels {
		names[t.Name] = true
	}
	for name := range ps.tunnels {
		if !names[name] {
			delete(ps.tunnels, name)
		}
	}
}

// collectPeers sends one tunnel's per-peer metrics.
func (c *Collector) collectPeers(ch chan<- prometheus.Metric, t engine.TunnelStatus) {
	own, other := c.peers.split(t)
	send := func(p engine.PeerStats, label string) {
		for _, m := range []struct {
			desc  *prometheus.Desc
			value uint64
		}{
			{peerReceivePackets, p.RxPackets}, {peerReceiveBytes, p.RxBytes}, {peerReceiveDrops, p.RxDrops},
			{peerTransmitPkts, p.TxPackets}, {peerTransmitBytes, p.TxBytes}, {peerTransmitDrops, p.TxDrops},
		} {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value), t.Name, label)
		}
	}
	for _, p := range own {
		send(p, p.Addr.String())
		seen := p.LastRx
		if p.LastTx.After(seen) {
			seen = p.LastTx
		}
		if !seen.IsZero() {
			ch <- prometheus.MustNewConstMetric(peerLastSeen, prometheus.GaugeValue, float64(seen.UnixNano())/1e9, t.Name, p.Addr.String())
		}
	}
	send(other, otherPeer)
	pt := t.PeerTables
	ch <- prometheus.MustNewConstMetric(tunnelPeers, prometheus.GaugeValue, float64(pt.RxTracked), t.Name, "receive")
	ch <- prometheus.MustNewConstMetric(tunnelPeers, prometheus.GaugeValue, float64(pt.TxTracked), t.Name, "transmit")
	ch <- prometheus.MustNewConstMetric(tunnelPeersRefused, prometheus.GaugeValue, float64(pt.RxRefused), t.Name, "receive")
	ch <- prometheus.MustNewConstMetric(tunnelPeersRefused, prometheus.GaugeValue, float64(pt.TxRefused), t.Name, "transmit")
}
