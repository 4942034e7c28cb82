package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipipd/ipipd/internal/buildinfo"
)

// newBuildInfo is ipipd_build_info, always 1, with the running binary's
// version, commit and Go version as labels, as Prometheus's own
// prometheus_build_info: a dashboard joins on it to see which build each
// node runs, and a change of labels marks an upgrade.
func newBuildInfo(b buildinfo.Info) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ipipd_build_info",
		Help: "The running ipipd's module version, VCS revision (+dirty for uncommitted changes) and Go version; always 1.",
		ConstLabels: prometheus.Labels{
			"version":   b.Version,
			"revision":  b.Revision,
			"goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}
