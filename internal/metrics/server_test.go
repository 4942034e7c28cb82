package metrics

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The handler serves the tunnels' metrics with the runtime's and the
// process's beside them, and points a browser at /metrics.
func TestHandler(t *testing.T) {
	h := Handler(status, discard())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", Path, rec.Code, body)
	}
	for _, want := range []string{
		`ipipd_tunnel_receive_packets_total{tunnel="tunl0"} 3`,
		`ipipd_build_info{goversion="` + runtime.Version() + `",`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET %s has no %q", Path, want)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), Path) {
		t.Errorf("GET / does not point at %s: %q", Path, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", rec.Code)
	}
}

func TestCheckAddress(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9477", ":9477", "[::1]:9477", "localhost:0"} {
		if err := CheckAddress(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"9477", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ""} {
		err := CheckAddress(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "127.0.0.1:9477") {
			t.Errorf("%q: the error does not show what would be accepted: %v", bad, err)
		}
	}
}

// Bind binds at once: a taken port is an error from Bind, not a log line
// later; Serve then serves the metrics. In a namespace of the test's own,
// on its loopback.
func TestBindAndServeInNamespace(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "metrics")
	err := ns.Do(func() error {
		ln, err := Bind("127.0.0.1:0")
		if err != nil {
			return err
		}
		s := Serve(ln, status, discard())
		defer s.Close()
		if _, err := Bind(s.Addr().String()); err == nil {
			t.Error("a second Bind on the same port succeeded")
		}
		if _, err := Bind("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
			t.Errorf("Bind without a port: %v", err)
		}
		conn, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		io.WriteString(conn, "GET /metrics HTTP/1.0\r\n\r\n")
		body, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		if !strings.Contains(string(body), `ipipd_tunnel_receive_packets_total{tunnel="ipiptun"} 7`) {
			t.Errorf("the served metrics lack the tunnel's counters:\n%.2000s", body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
