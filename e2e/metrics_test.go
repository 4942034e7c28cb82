package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipipd/ipipd/internal/lab"
)

// metricsAddr is where the daemons of these tests serve metrics: on the
// loopback of their own namespace, so tests never meet on a port.
const metricsAddr = "127.0.0.1:9477"

// TestMetrics runs two nodes of the seed's mesh, node1 with --metrics, and
// scrapes it from inside its namespace as Prometheus would.
//
// Checked: after a ping, the scraped counters of tunl0 equal what `ipipd
// show` reports; every drop reason is a series already; the process's
// metrics are there; and a second daemon that cannot bind the port stops
// at start-up with the reason, before it creates its device.
func TestMetrics(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}), "--metrics", metricsAddr)
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	shown := node1.stats(t, "tunl0")
	families := scrape(t, l.nodes[0])
	for _, c := range []struct {
		name string
		want uint64
	}{
		{"ipipd_tunnel_receive_packets_total", shown.RxPackets},
		{"ipipd_tunnel_receive_bytes_total", shown.RxBytes},
		{"ipipd_tunnel_transmit_packets_total", shown.TxPackets},
		{"ipipd_tunnel_transmit_bytes_total", shown.TxBytes},
	} {
		got, ok := value(families, c.name, map[string]string{"tunnel": "tunl0"})
		if !ok {
			t.Errorf("no %s{tunnel=\"tunl0\"} in the scrape", c.name)
			continue
		}
		if c.want == 0 || got != float64(c.want) {
			t.Errorf("%s = %v; ipipd show says %d (want equal, and not 0 after a ping)", c.name, got, c.want)
		}
	}
	if got, ok := value(families, "ipipd_tunnel_drops_total", map[string]string{"tunnel": "tunl0", "direction": "receive", "reason": "ecn_drop"}); !ok || got != 0 {
		t.Errorf("ipipd_tunnel_drops_total{ecn_drop} = %v, present %v; want a 0 series before any drop", got, ok)
	}
	if got, ok := value(families, "process_resident_memory_bytes", nil); !ok || got <= 0 {
		t.Errorf("process_resident_memory_bytes = %v, present %v", got, ok)
	}

	// A second daemon in node1's namespace, with a tunnel of another name,
	// finds the port taken.
	second := `tunnels:
  - name: ipipm
    local: 10.245.1.2
    remote: 10.245.1.9
`
	cfgFile := t.TempDir() + "/second.yaml"
	if err := os.WriteFile(cfgFile, []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := l.nodes[0].Try(ipipdBin, "run", "-c", cfgFile, "--control", t.TempDir()+"/second.sock", "--metrics", metricsAddr)
	if err == nil {
		t.Fatalf("a second daemon on a taken metrics port ran and exited 0:\n%s", out)
	}
	for _, want := range []string{"cannot serve metrics", "--metrics " + metricsAddr, "address already in use"} {
		if !strings.Contains(out, want) {
			t.Errorf("the second daemon's output does not say %q:\n%s", want, out)
		}
	}
	if links, _ := l.nodes[0].Try("ip", "link", "show", "ipipm"); !strings.Contains(links, "does not exist") {
		t.Errorf("the second daemon created its device, or left it behind:\n%s", links)
	}
}

// scrape fetches /metrics from the daemon in ns and parses it. The
// connection is opened inside ns (a socket belongs to the namespace it
// was made in), and HTTP/1.0 keeps the exchange to one read to EOF.
func scrape(t *testing.T, ns *lab.NS) map[string]*dto.MetricFamily {
	t.Helper()
	var body string
	err := ns.Do(func() error {
		conn, err := net.DialTimeout("tcp", metricsAddr, 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		req, _ := http.NewRequest("GET", "http://"+metricsAddr+"/metrics", nil)
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.0", 1, 0
		if err := req.Write(conn); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /metrics: %s\n%s", resp.Status, b)
		}
		body = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("scraping %s in %s: %v", metricsAddr, ns, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape is not the Prometheus text format: %v\n%.2000s", err, body)
	}
	return families
}

// value is the sample of family name whose labels include want.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}
