package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/control"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/metrics"
	"github.com/ipipd/ipipd/internal/rawsock"
)

const runUsage = `usage: ipipd run [-c FILE] [--control PATH] [--log-level debug|info|warn|error] [--log-format text|json] [--cpuprofile FILE]
                [--receive-batch N] [--transmit raw|packet] [--metrics HOST:PORT]

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
                   it cannot address yet goes through the raw socket`

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
	transmit := fs.String("transmit", engine.TransmitRaw, "raw or packet")
	metricsAddr := fs.String("metrics", "", "HOST:PORT for Prometheus metrics")
	if code := parse(fs, runUsage, args); code >= 0 {
		return code
	}
	if *receiveBatch < 1 || *receiveBatch > maxReceiveBatch {
		fmt.Fprintf(os.Stderr, "ipipd run: --receive-batch %d: want 1 to %d (each packet of a batch has a 64 KiB buffer)\n", *receiveBatch, maxReceiveBatch)
		return exitUsage
	}
	if *transmit != engine.TransmitRaw && *transmit != engine.TransmitPacket {
		fmt.Fprintf(os.Stderr, "ipipd run: --transmit %q: want raw or packet\n", *transmit)
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
	cfg := config.Default()
	if *path != "" {
		var code int
		if cfg, code = loadConfig(*path); cfg == nil {
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

	eng, err := engine.New(engine.Options{Logger: log, ReceiveBatch: *receiveBatch, Transmit: *transmit})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer eng.Close()
	if err := eng.Apply(cfg); err != nil {
		log.Error("cannot install the config", "file", *path, "err", err)
		return exitFailure
	}
	srv, err := control.Listen(*socket, func(cmd string) (any, error) {
		if cmd == "show" {
			return eng.Status(), nil
		}
		return nil, fmt.Errorf("unknown command %q; want show or trace", cmd)
	}, map[string]control.Streamer{"trace": eng.Trace})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	defer srv.Close()
	if metricsListener != nil {
		m := metrics.Serve(metricsListener, eng.Status, log)
		defer m.Close()
		log.Info("serving metrics", "url", "http://"+m.Addr().String()+metrics.Path)
	}
	notifyReady(log, eng) // systemd: devices, addresses, routes and sockets are up
	log.Info("ipipd running", "config", *path, "tunnels", tunnelNames(cfg), "control", *socket, "transmit", *transmit)

	for {
		select {
		case err := <-eng.Fatal():
			// A device deleted from outside that could not be made again:
			// exit non-zero so that the service manager restarts ipipd.
			log.Error("stopping: the datapath cannot go on", "err", err)
			notifyStopping(log)
			return exitFailure
		case sig := <-signals:
			if sig != syscall.SIGHUP {
				log.Info("stopping", "signal", sig.String())
				notifyStopping(log)
				return exitOK
			}
			if *path == "" {
				log.Info("SIGHUP: no file to reload; ip link, ip addr and ip route drive tunl0")
				continue
			}
			notifyReloading(log, *path)
			reload(log, eng, *path)
			notifyReady(log, eng)
		}
	}
}

// reload applies the file again; any problem keeps the running config.
func reload(log *slog.Logger, eng *engine.Engine, path string) {
	cfg, err := config.Load(path)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				log.Error("reload refused: keeping the running config", "error", e.Error())
			}
			return
		}
		log.Error("reload refused: keeping the running config", "err", err)
		return
	}
	if err := eng.Apply(cfg); err != nil {
		log.Error("reload refused: keeping the running config", "err", err)
		return
	}
	log.Info("reloaded", "config", path, "tunnels", tunnelNames(cfg))
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
