package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/control"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/metrics"
	"github.com/ipipd/ipipd/internal/rawsock"
)

const runUsage = `usage: ipipd run [-c FILE] [--control PATH] [--log-level debug|info|warn|error] [--log-format text|json] [--cpuprofile FILE]
                [--receive-batch N] [--transmit raw|packet|packet-gso] [--metrics HOST:PORT]

Creates the TUN device of every tunnel in FILE with its MTU, addresses and
routes, and runs the datapath in the foreground. Without -c, creates the
fallback tunl0 as modprobe ipip does (down, MTU 1480, no address); ip link,
ip addr and ip route then drive it as they drive the kernel's.
Routes through ipipd's devices come from the kernel's routing table, whoever
added them: ip route, a routing daemon such as BIRD, or FILE's routes, which
ipipd installs as "via G dev NAME onlink proto 70".
  SIGHUP           reload FILE; a bad file keeps the running config and logs why
  SIGTERM, SIGINT  stop, removing every device, address and route ipipd created
--control PATH     the control socket for ipipd show (default ` + control.DefaultPath + `)
--metrics HOST:PORT
                   serve the counters of ipipd show -s, the Go runtime's and
                   the process's for Prometheus at http://HOST:PORT/metrics
                   (off by default; 127.0.0.1:9477 keeps them on this host)
--cpuprofile FILE  write a CPU profile of the whole run to FILE, for go tool pprof
--receive-batch N  most outer packets one raw-socket read (recvmmsg) takes,
                   1 to 256 (default 64); 1 is the one-packet-per-system-call
                   design ipipbench measures as its naive baseline
--transmit raw     send outer packets through a raw IP socket, as the kernel's
                   tunnel sends them: IP output, netfilter, xfrm (the default)
--transmit packet  send them as frames to the next hop's MAC address on a
                   packet socket, resolved through the kernel's routes and
                   neighbours: less kernel work per packet, but outer packets
                   skip netfilter (OUTPUT, POSTROUTING, SNAT) and xfrm; what
                   it cannot address yet goes through the raw socket
--transmit packet-gso
                   as packet, and TCP super-packets from the TUN leave whole,
                   one frame for up to 45 segments, which the kernel or the
                   NIC segments after ipipd (a tcx program on the egress
                   device marks them IPIP); needs CAP_BPF and CAP_NET_ADMIN
                   and Linux 6.6, or else it says why and sends as packet`

// maxReceiveBatch bounds --receive-batch: 256 buffers of 64 KiB are 16 MiB.
const maxReceiveBatch = 256

func runCommand(args []string) int {
	fs := newFlags("run", runUsage)
	path := fs.String("c", "", "config file")
	socket := fs.String("control", control.DefaultPath, "control socket")
	level := fs.String("log-level", "info", "log level")
	format := fs.String("log-format", "text", "log format")
	cpuprofile := fs.String("cpuprofile", "", "CPU profile file")
	receiveBatch := fs.Int("receive-batch", rawsock.DefaultBatchSize, "packets per raw-socket read")
	transmit := fs.String("transmit", engine.TransmitRaw, "raw, packet or packet-gso")
	metricsAddr := fs.String("metrics", "", "HOST:PORT for Prometheus metrics")
	if code := parse(fs, runUsage, args); code >= 0 {
		return code
	}
	if *receiveBatch < 1 || *receiveBatch > maxReceiveBatch {
		fmt.Fprintf(os.Stderr, "ipipd run: --receive-batch %d: want 1 to %d (each packet of a batch has a 64 KiB buffer)\n", *receiveBatch, maxReceiveBatch)
		return exitUsage
	}
	if *transmit != engine.TransmitRaw && *transmit != engine.TransmitPacket && *transmit != engine.TransmitPacketGSO {
		fmt.Fprintf(os.Stderr, "ipipd run: --transmit %q: want raw, packet or packet-gso\n", *transmit)
		return exitUsage
	}
	if *metricsAddr != "" {
		if err := metrics.CheckAddress(*metricsAddr); err != nil {
			fmt.Fprintf(os.Stderr, "ipipd run: --metrics: %v\n", err)
			return exitUsage
		}
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ipipd run: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer stop()
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd run: %v\n", err)
		return exitUsage
	}
	// One Loader reads the file at the start and on every reload, so that
	// a reload decodes only the tunnels the file changed.
	loader := new(config.Loader)
	cfg := config.Default()
	if *path != "" {
		var code int
		if cfg, code = firstConfig(loader, *path); cfg == nil {
			return code
		}
	}

	// The metrics port is bound before anything is created: a taken port
	// stops the daemon with nothing to undo.
	var metricsListener net.Listener
	if *metricsAddr != "" {
		if metricsListener, err = metrics.Bind(*metricsAddr); err != nil {
			log.Error("cannot serve metrics", "flag", "--metrics "+*metricsAddr, "err", err)
			return exitFailure
		}
		defer metricsListener.Close()
	}

	// Signals first: a SIGHUP or SIGTERM during start-up must not kill the
	// daemon before it can clean up what it created.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)

	// The control socket next, also before anything is created: a path
	// another daemon answers on, or one that holds something else, stops
	// this one with nothing to undo. It answers `show` once the config is
	// installed; until then it says so, and a client retries.
	var running atomic.Pointer[engine.Engine]
	noteStaleSocket(log, *socket)
	srv, err := control.Listen(*socket, func(cmd string) (any, error) {
		eng := running.Load()
		if eng == nil {
			return nil, errStarting
		}
		if cmd == "show" {
			return eng.Status(), nil
		}
		return nil, fmt.Errorf("unknown command %q; want show or trace", cmd)
	}, map[string]control.Streamer{"trace": func(ctx context.Context, emit func(string) error) error {
		eng := running.Load()
		if eng == nil {
			return errStarting
		}
		return eng.Trace(ctx, emit)
	}})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer srv.Close()

	eng, err := engine.New(engine.Options{Logger: log, ReceiveBatch: *receiveBatch, Transmit: *transmit})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer eng.Close()
	// The first Apply runs as a reload does, so that a SIGTERM during a
	// long one is answered at once (it is undone), and a SIGHUP is kept
	// for after it.
	l := &lifecycle{log: log, eng: eng, path: *path, loader: loader, signals: signals}
	if err := l.apply(cfg); err != nil {
		if errors.Is(err, errStopped) {
			return exitOK
		}
		log.Error("cannot install the config", "file", *path, "err", err)
		return exitFailure
	}
	running.Store(eng)
	if metricsListener != nil {
		m := metrics.Serve(metricsListener, eng.Status, log)
		defer m.Close()
		log.Info("serving metrics", "url", "http://"+m.Addr().String()+metrics.Path)
	}
	notifyReady(log, eng, "") // systemd: devices, addresses, routes and sockets are up
	log.Info("ipipd running", "config", *path, "tunnels", tunnelSummary(cfg), "control", *socket, "transmit", *transmit)
	return l.serve()
}

// firstConfig loads path through loader. A file it refuses has every
// problem printed as ipipd check prints them, and the daemon exits.
func firstConfig(loader *config.Loader, path string) (*config.Config, int) {
	cfg, err := loader.Load(path)
	if err != nil {
		return nil, reportConfigError(path, err)
	}
	return cfg, exitOK
}

// noteStaleSocket says when the control socket path holds a socket nobody
// answers on: what an ipipd killed with SIGKILL leaves, and all it leaves.
// Its TUN devices were not persistent, so the kernel deleted them when the
// process died, and with them their addresses, their routes in every table
// and their per-device sysctls; ipipd changes nothing host-wide. So a
// restart needs only the socket replaced, which control.Listen does.
func noteStaleSocket(log *slog.Logger, path string) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return // a running daemon: Listen refuses the path
	}
	log.Info("replacing the control socket a stopped ipipd left; its devices, addresses and routes went with it", "control", path)
}

// errStarting is the control socket's answer before the config is
// installed.
var errStarting = errors.New("ipipd is starting: the config is not installed yet")

// errStopped is apply's error when a SIGTERM or SIGINT cancelled it.
var errStopped = errors.New("stopped by a signal")

// lifecycle is the daemon's loop over signals once the engine runs.
type lifecycle struct {
	log     *slog.Logger
	eng     *engine.Engine
	path    string
	loader  *config.Loader // the start's, reused by every reload
	signals chan os.Signal
	// rehup is a SIGHUP that came during an Apply: one more reload after.
	rehup bool
}

// apply runs eng.ApplyContext while it watches the signals: SIGTERM or
// SIGINT cancels it (it undoes what it did) and apply returns errStopped;
// a SIGHUP sets rehup.
func (l *lifecycle) apply(cfg *config.Config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.eng.ApplyContext(ctx, cfg) }()
	stopping := false
	for {
		select {
		case err := <-done:
			if stopping {
				return errStopped
			}
			return err
		case sig := <-l.signals:
			if sig == syscall.SIGHUP {
				l.rehup = true
				continue
			}
			if !stopping {
				l.log.Info("stopping: undoing the config being installed", "signal", sig.String())
				notifyStopping(l.log)
				stopping = true
				cancel()
			}
		}
	}
}

// serve handles signals and the engine's fatal errors until the daemon
// stops, and returns the exit code.
func (l *lifecycle) serve() int {
	for {
		if l.rehup {
			l.rehup = false
			if code, stop := l.reload(); stop {
				return code
			}
			continue
		}
		select {
		case err := <-l.eng.Fatal():
			// A device deleted from outside that could not be made again:
			// exit non-zero so that the service manager restarts ipipd.
			l.log.Error("stopping: the datapath cannot go on", "err", err)
			notifyStopping(l.log)
			return exitFailure
		case sig := <-l.signals:
			if sig != syscall.SIGHUP {
				l.log.Info("stopping", "signal", sig.String())
				notifyStopping(l.log)
				return exitOK
			}
			if code, stop := l.reload(); stop {
				return code
			}
		}
	}
}

// reload applies the file again; any problem keeps the running config, and
// the STATUS line says it was refused. stop is true when a SIGTERM or
// SIGINT came meanwhile.
func (l *lifecycle) reload() (code int, stop bool) {
	if l.path == "" {
		l.log.Info("SIGHUP: no file to reload; ip link, ip addr and ip route drive tunl0")
		return 0, false
	}
	notifyReloading(l.log, l.path)
	refused := ""
	loading := time.Now()
	cfg, err := l.loader.Load(l.path)
	l.log.Debug("config read", "file", l.path, "took", time.Since(loading).Round(time.Millisecond))
	if err == nil {
		err = l.apply(cfg)
		if errors.Is(err, errStopped) {
			return exitOK, true
		}
	}
	if err != nil {
		logRefusal(l.log, err)
		refused = refusalSummary(err)
	} else {
		l.log.Info("reloaded", "config", l.path, "tunnels", tunnelSummary(cfg))
	}
	notifyReady(l.log, l.eng, refused)
	return 0, false
}

// logRefusal logs why a reload was refused, one line per error of the file.
func logRefusal(log *slog.Logger, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			log.Error("reload refused: keeping the running config", "error", e.Error())
		}
		return
	}
	log.Error("reload refused: keeping the running config", "err", err)
}

// refusalSummary is the first line of a refusal, for the STATUS line.
func refusalSummary(err error) string {
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		err = errs[0]
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// tunnelSummary is the tunnels' names for the log, shortened past a few
// dozen: a line of 10 000 names helps no one.
func tunnelSummary(cfg *config.Config) []string {
	const most = 32
	names := tunnelNames(cfg)
	if len(names) > most {
		names = append(names[:most:most], fmt.Sprintf("and %d more", len(names)-most))
	}
	return names
}

func tunnelNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Tunnels))
	for i, t := range cfg.Tunnels {
		names[i] = t.Name
	}
	return names
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
