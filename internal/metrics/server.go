package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipipd/ipipd/internal/buildinfo"
	"github.com/ipipd/ipipd/internal/engine"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Server serves the metrics over HTTP.
type Server struct {
	http *http.Server
	ln   net.Listener
	done chan struct{}
}

// CheckAddress reports whether addr is a listen address: host:port, with
// an IP address or a name for host (empty for every address) and a port
// number.
func CheckAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT with a port number (for example 127.0.0.1:9477, or :9477 for every address)", addr)
	}
	return nil
}

// Handler serves status's metrics at Path, with ipipd_build_info, the Go
// runtime's and the process's (memory, CPU, open files).
func Handler(status func() engine.Status, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(status), newBuildInfo(buildinfo.Read()), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogErrors{log}, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "ipipd: the metrics are at %s\n", Path)
	})
	return mux
}

// Bind checks addr and binds it. The daemon binds before it installs its
// config, so that a taken port or a bad address stops it at start-up with
// the reason, before any device or route exists (a service manager that
// restarts it then creates and removes nothing).
func Bind(addr string) (net.Listener, error) {
	if err := CheckAddress(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// Serve serves Handler on ln until Close.
func Serve(ln net.Listener, status func() engine.Status, log *slog.Logger) *Server {
	s := &Server{ln: ln, done: make(chan struct{}),
		http: &http.Server{Handler: Handler(status, log), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address the server listens on (with the port the kernel
// chose, for a :0 address).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close closes the listener and every connection, and waits until Serve
// has returned. A scrape cut short loses nothing: the counters are read,
// not moved.
func (s *Server) Close() error {
	err := s.http.Close()
	<-s.done
	return err
}

// slogErrors passes promhttp's errors (a metric that could not be
// gathered) to the daemon's log.
type slogErrors struct{ log *slog.Logger }

func (l slogErrors) Println(v ...any) { l.log.Error("metrics", "err", fmt.Sprint(v...)) }
