package metrics

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// exposition is c's metrics in the text format a scraper reads.
func exposition(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// reorder sorts a label list by name, as the text format writes it.
func reorder(labels string) string {
	parts := strings.Split(labels, ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
