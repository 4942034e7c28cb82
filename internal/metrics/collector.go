package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/engine"
)

// Collector turns a Status, read at each scrape, into metrics.
type Collector struct {
	status func() engine.Status
	peers  peerSeries
}

// NewCollector returns a Collector over status, which the engine's
// Status method satisfies.
func NewCollector(status func() engine.Status) *Collector {
	return &Collector{status: status}
}

// Describe sends every metric's description: the set is fixed, so the
// registry can check names and labels once, at registration.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range tunnelCounters {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{tunnelDrops, tunnelMTU, tunnelPathMTU, tunnelInfo,
		globalDrops, portUnreachables, portUnreachablesLimited, receiveErrors, outerErrors, fragNeededDiscarded} {
		ch <- d
	}
	for _, d := range peerDescs {
		ch <- d
	}
}

// Collect reads the status once and sends it as metrics. Every drop
// reason is sent where it can happen (per tunnel once a tunnel is
// selected, for the daemon before), zero or not, so that a rate over a
// reason that has not happened yet is 0 rather than absent.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	for _, t := range st.Tunnels {
		for _, m := range tunnelCounters {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value(&t.Stats)), t.Name)
		}
		for r := decap.Reason(1); int(r) < decap.Reasons; r++ {
			if !r.BeforeSelection() {
				ch <- prometheus.MustNewConstMetric(tunnelDrops, prometheus.CounterValue, float64(t.Stats.Drops[r.String()]), t.Name, "receive", r.String())
			}
		}
		for r := encap.Reason(1); int(r) < encap.Reasons; r++ {
			ch <- prometheus.MustNewConstMetric(tunnelDrops, prometheus.CounterValue, float64(t.Stats.Drops[r.String()]), t.Name, "transmit", r.String())
		}
		ch <- prometheus.MustNewConstMetric(tunnelMTU, prometheus.GaugeValue, float64(t.MTU), t.Name)
		ch <- prometheus.MustNewConstMetric(tunnelPathMTU, prometheus.GaugeValue, float64(t.PathMTU), t.Name)
		ch <- prometheus.MustNewConstMetric(tunnelInfo, prometheus.GaugeValue, 1, t.Name, t.Local, t.Remote, t.Dev, mode(t))
		c.collectPeers(ch, t)
	}
	c.peers.forget(st)
	g := st.Global
	for r := decap.Reason(1); int(r) < decap.Reasons; r++ {
		if r.BeforeSelection() {
			ch <- prometheus.MustNewConstMetric(globalDrops, prometheus.CounterValue, float64(g.Drops[r.String()]), r.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(portUnreachables, prometheus.CounterValue, float64(g.PortUnreachables))
	ch <- prometheus.MustNewConstMetric(portUnreachablesLimited, prometheus.CounterValue, float64(g.RateLimited))
	ch <- prometheus.MustNewConstMetric(receiveErrors, prometheus.CounterValue, float64(g.ReceiveErrors))
	ch <- prometheus.MustNewConstMetric(outerErrors, prometheus.CounterValue, float64(g.OuterErrors))
	ch <- prometheus.MustNewConstMetric(fragNeededDiscarded, prometheus.CounterValue, float64(g.FragNeededDiscarded))
}

// mode names what kind of tunnel t is, as the kernel's lookup sees it.
func mode(t engine.TunnelStatus) string {
	switch {
	case t.Fallback:
		return "fallback"
	case t.Remote == "any":
		return "one-to-many"
	}
	return "point-to-point"
}
