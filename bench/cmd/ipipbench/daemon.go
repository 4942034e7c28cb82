package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

const (
	readyTimeout = 15 * time.Second // from start until `show` answers
	stopTimeout  = 10 * time.Second // from SIGTERM until SIGKILL
	outputLimit  = 1 << 20          // bytes of a process's output kept: a chatty daemon must not eat the memory
)

// The kinds of daemon a case runs.
const (
	kindIPIPD     = "ipipd"
	kindWireGuard = "wireguard-go"
)

// daemon is one tunnel daemon inside a namespace: an `ipipd run`, or a
// wireguard-go (wireguard.go).
type daemon struct {
	kind    string // kindIPIPD or kindWireGuard
	side    string // "A" or "B"
	ns      string
	binary  string
	dev     string // its TUN device
	control string // ipipd's control socket; "" for wireguard-go
	pid     int    // the daemon's own PID (verified against /proc/PID/exe)
	proc    *lab.Process
	out     lab.LockedBuffer
}

// showStatus is the part of `ipipd show --json` the harness reads. The
// harness depends on the built binary, not on the engine package: these
// are the JSON names the binary prints.
type showStatus struct {
	Tunnels []struct {
		Name  string
		Stats tunnelStats
	}
	Global struct {
		Drops         map[string]uint64
		ReceiveErrors uint64
	}
}

// tunnelStats are one tunnel's counters, named as the kernel names them.
type tunnelStats struct {
	RxPackets, RxBytes, RxErrors, RxDropped uint64
	TxPackets, TxBytes, TxErrors, TxDropped uint64
	Drops                                   map[string]uint64
}

// startDaemon starts `ip netns exec NS BINARY run -c CONFIG --control SOCK
// FLAGS...` (config is a file writeDaemonConfig wrote) and returns once
// `show` answers, or fails with the daemon's log tail.
func startDaemon(ctx context.Context, s side, binary, config, control string, flags ...string) (*daemon, error) {
	d := &daemon{kind: kindIPIPD, side: s.name, ns: s.ns, binary: binary, dev: ipipDev, control: control, out: lab.LockedBuffer{Limit: outputLimit}}
	// SIGKILL on the harness's death: the daemon dies with it even if
	// cleanup never runs.
	o := lab.Options{Output: &d.out, DeathSignal: syscall.SIGKILL}
	proc, err := lab.Start(s.ns, o, lab.RunArgs(binary, config, control, flags...)...)
	if err != nil {
		return nil, fmt.Errorf("ipipd in %s: %w", s.name, err)
	}
	d.proc = proc
	answers := func(ctx context.Context) error {
		_, err := d.show(ctx)
		return err
	}
	if err := d.proc.WaitReady(ctx, readyTimeout, 100*time.Millisecond, answers); err != nil {
		d.stop()
		return nil, fmt.Errorf("ipipd in %s: %w: %s", d.side, err, d.logTail(6))
	}
	pid, err := d.findPID()
	if err != nil {
		d.stop()
		return nil, err
	}
	d.pid = pid
	return d, nil
}

// findPID returns the daemon's PID. `ip netns exec` execs the command in
// place, so the started process's PID should already be the daemon's;
// this checks it against /proc/PID/exe and, should an ip version ever
// fork instead, looks among the children.
func (d *daemon) findPID() (int, error) {
	want, err := filepath.EvalSymlinks(d.binary)
	if err != nil {
		return 0, err
	}
	pid := d.proc.Pid()
	if exe, err := exePath(pid); err == nil && exe == want {
		return pid, nil
	}
	for _, c := range children(pid) {
		if exe, err := exePath(c); err == nil && exe == want {
			return c, nil
		}
	}
	exe, _ := exePath(pid)
	return 0, fmt.Errorf("%s in %s: PID %d runs %q, not %q, and no child runs it", d.kind, d.side, pid, exe, want)
}

// show asks ipipd for its state through the binary's own `show`.
func (d *daemon) show(ctx context.Context) (*showStatus, error) {
	if d.kind != kindIPIPD {
		return nil, fmt.Errorf("%s has no ipipd show", d.kind)
	}
	var st showStatus
	if err := lab.Show(ctx, d.binary, d.control, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// totals are the daemon's packet and error counters: ipipd's own, summed
// over its tunnels; for wireguard-go, which counts nothing it can be asked
// for over wg(8) but bytes, its TUN device's link statistics (rx: packets
// it wrote to the kernel, tx: packets it read).
func (d *daemon) totals(ctx context.Context) (totals, error) {
	if d.kind == kindIPIPD {
		st, err := d.show(ctx)
		if err != nil {
			return totals{}, err
		}
		return totalsOf(st), nil
	}
	out, err := lab.Run(ctx, cmdTimeout, "ip", "-n", d.ns, "-s", "-j", "link", "show", "dev", d.dev)
	if err != nil {
		return totals{}, err
	}
	c := netCounters{}
	addLinkStats(c, d.side, out)
	k := d.side + " " + d.dev + " "
	return totals{
		RxPackets: uint64(c[k+"rx_packets"]), RxErrors: uint64(c[k+"rx_errors"]), RxDropped: uint64(c[k+"rx_dropped"]),
		TxPackets: uint64(c[k+"tx_packets"]), TxErrors: uint64(c[k+"tx_errors"]), TxDropped: uint64(c[k+"tx_dropped"]),
	}, nil
}

// stop sends SIGTERM (the daemon removes its devices), then SIGKILL if it
// has not exited in time. Only the kill is an error: how a daemon that
// exited on its own ended is reported where that is noticed.
func (d *daemon) stop() error {
	if err := d.proc.Stop(stopTimeout); errors.Is(err, lab.ErrKilled) {
		return fmt.Errorf("%s in %s: %w", d.kind, d.side, err)
	}
	return nil
}

// exited reports whether the daemon has stopped on its own.
func (d *daemon) exited() bool { return d.proc.Exited() }

func (d *daemon) logTail(n int) string {
	lines := lab.TailLines(d.out.String(), n)
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}

// writeDaemonConfig writes the point-to-point tunnel of one side and
// returns the file's path.
func writeDaemonConfig(dir string, s side, tun, dev, addr string) (string, error) {
	cfg := fmt.Sprintf(`# ipipbench: side %s, point-to-point IPIP over the veth underlay
tunnels:
  - name: %s
    local: %s
    remote: %s
    dev: %s
    mtu: %d
    tun: %s
    addresses: [%s]
`, s.name, dev, s.addr, s.peer, s.dev, ipipMTU, tun, addr)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.yaml", tun, strings.ToLower(s.name)))
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}
