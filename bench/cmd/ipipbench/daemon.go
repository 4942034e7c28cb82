package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	readyTimeout = 15 * time.Second // from start until `show` answers
	stopTimeout  = 10 * time.Second // from SIGTERM until SIGKILL
)

// daemon is one `ipipd run` inside a namespace.
type daemon struct {
	side    string // "A" or "B"
	ns      string
	binary  string
	control string // the control socket
	pid     int    // the daemon's own PID (verified against /proc/PID/exe)
	cmd     *exec.Cmd
	out     lockedBuffer
	done    chan struct{}
	err     error // cmd.Wait's result, valid once done is closed
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
	d := &daemon{side: s.name, ns: s.ns, binary: binary, control: control, done: make(chan struct{})}
	args := append([]string{binary, "run", "-c", config, "--control", control}, flags...)
	d.cmd = exec.Command("ip", inNS(s.ns, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	// Pdeathsig: the daemon dies with the harness even if cleanup never runs.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ipipd in %s: %w", s.name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	if err := d.waitReady(ctx); err != nil {
		d.stop()
		return nil, err
	}
	pid, err := d.findPID()
	if err != nil {
		d.stop()
		return nil, err
	}
	d.pid = pid
	return d, nil
}

// waitReady polls `show` until it answers, the daemon exits, or time runs out.
func (d *daemon) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("ipipd in %s exited (%v) before it was ready: %s", d.side, d.err, d.logTail(6))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, last = d.show(ctx); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("ipipd in %s: show did not answer within %v (%v): %s", d.side, readyTimeout, last, d.logTail(6))
}

// findPID returns the daemon's PID. `ip netns exec` execs the command in
// place, so cmd.Process.Pid should already be the daemon's; this checks it
// against /proc/PID/exe and, should an ip version ever fork instead,
// looks among the children.
func (d *daemon) findPID() (int, error) {
	want, err := filepath.EvalSymlinks(d.binary)
	if err != nil {
		return 0, err
	}
	pid := d.cmd.Process.Pid
	if exe, err := exePath(pid); err == nil && exe == want {
		return pid, nil
	}
	for _, c := range children(pid) {
		if exe, err := exePath(c); err == nil && exe == want {
			return c, nil
		}
	}
	exe, _ := exePath(pid)
	return 0, fmt.Errorf("ipipd in %s: PID %d runs %q, not %q, and no child runs it", d.side, pid, exe, want)
}

// show asks the daemon for its state through the binary's own `show`.
func (d *daemon) show(ctx context.Context) (*showStatus, error) {
	out, errOut, err := runSplit(ctx, 5*time.Second, d.binary, "show", "--json", "--control", d.control)
	if err != nil {
		return nil, fmt.Errorf("ipipd show: %v: %s", err, tail(errOut, 3))
	}
	var st showStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("ipipd show --json: %v", err)
	}
	return &st, nil
}

// stop sends SIGTERM (the daemon removes its devices), then SIGKILL if it
// has not exited in time.
func (d *daemon) stop() error {
	select {
	case <-d.done:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(stopTimeout):
	}
	d.cmd.Process.Kill()
	<-d.done
	return fmt.Errorf("ipipd in %s did not stop within %v of SIGTERM; killed", d.side, stopTimeout)
}

// exited reports whether the daemon has stopped on its own.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) logTail(n int) string {
	lines := tailLines(d.out.String(), n)
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
