package demo

import (
	"bytes"
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

// Bounds of a daemon's life in the demo.
const (
	readyTimeout = 10 * time.Second // from start to tunl0 up and `show` answering
	stopTimeout  = 5 * time.Second  // from SIGTERM to SIGKILL
	logTailLines = 20
)

// daemon is one `ipipd run` inside a node's namespace.
type daemon struct {
	node    node
	binary  string
	config  string // its config file
	control string // its control socket
	log     string // its stdout and stderr

	proc  *lab.Process // nil until start succeeds
	ready bool         // waitReady succeeded: from then on it must stop cleanly

	readyTimeout time.Duration // readyTimeout; tests shorten it
}

// newDaemon names the files of n's daemon in dir; start writes the config
// and starts it.
func newDaemon(binary string, n node, dir string) *daemon {
	return &daemon{
		node:    n,
		binary:  binary,
		config:  filepath.Join(dir, n.Name+".yaml"),
		control: filepath.Join(dir, n.Name+".sock"),
		log:     filepath.Join(dir, n.Name+".log"),

		readyTimeout: readyTimeout,
	}
}

// start writes the config and runs
//
//	ip netns exec NS BINARY run -c CONFIG --control CONTROL
//
// with stdout and stderr into the log file. `ip netns exec` execs the binary
// in place, so the process is the daemon itself and signals reach it.
//
// The daemon gets its own process group, so a Ctrl-C at the terminal reaches
// only the demo, which then stops the daemons in order. Unless detach (Keep),
// it also gets SIGTERM if the demo dies, so a killed demo leaves no daemon.
func (d *daemon) start(cfg []byte, detach bool) error {
	if err := os.WriteFile(d.config, cfg, 0o644); err != nil {
		return fmt.Errorf("%s: writing the config file: %w", d.node.Name, err)
	}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%s: creating the log file: %w", d.node.Name, err)
	}
	defer logf.Close() // the child has its own copy
	o := lab.Options{Output: logf, OwnGroup: true}
	if !detach {
		o.DeathSignal = syscall.SIGTERM
	}
	proc, err := lab.Start(d.node.NS, o, lab.RunArgs(d.binary, d.config, d.control)...)
	if err != nil {
		return fmt.Errorf("%s: %w", d.node.Name, err)
	}
	d.proc = proc
	return nil
}

// pid returns the daemon's process ID, 0 if it was never started.
func (d *daemon) pid() int {
	if d.proc == nil {
		return 0
	}
	return d.proc.Pid()
}

// hasExited reports whether the daemon process has ended.
func (d *daemon) hasExited() bool {
	return d.proc == nil || d.proc.Exited()
}

// waitReady polls until the daemon's tunl0 is UP and `show` answers on its
// control socket, both signs that set-up is done. It fails at once if the
// daemon exits, and after readyTimeout otherwise; either way the error
// names the node and quotes the log's tail. A cancelled ctx ends the wait
// with ctx's error.
func (d *daemon) waitReady(ctx context.Context) error {
	if d.proc == nil {
		return fmt.Errorf("%s: ipipd was never started", d.node.Name)
	}
	err := d.proc.WaitReady(ctx, d.readyTimeout, 50*time.Millisecond, d.setUp)
	switch {
	case err == nil:
		d.ready = true
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Interrupted, not failed: the log would say nothing about why.
		return fmt.Errorf("%s: ipipd in namespace %s: %w", d.node.Name, d.node.NS, err)
	default:
		return d.failure(err.Error())
	}
}

// setUp says what the daemon has not done yet: bring tunl0 up, then answer
// `show`; nil once it has done both.
func (d *daemon) setUp(ctx context.Context) error {
	if up, why := d.tunnelUp(ctx); !up {
		return errors.New(why)
	}
	if _, err := d.show(ctx, false); err != nil {
		return fmt.Errorf("`show` does not answer yet: %w", err)
	}
	return nil
}

// tunnelUp reports whether `ip -n NS link show tunl0` shows the UP flag;
// if not, why not.
func (d *daemon) tunnelUp(ctx context.Context) (bool, string) {
	out, err := command(ctx, "ip", "-n", d.node.NS, "-o", "link", "show", "dev", tunnelDev)
	if err != nil {
		return false, tunnelDev + " does not exist yet"
	}
	// "7: tunl0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1480 …"
	if i, j := strings.IndexByte(out, '<'), strings.IndexByte(out, '>'); i >= 0 && j > i {
		for _, flag := range strings.Split(out[i+1:j], ",") {
			if flag == "UP" {
				return true, ""
			}
		}
	}
	return false, tunnelDev + " exists but is not up: " + strings.TrimSpace(out)
}

// show runs `BINARY show [-s] --control CONTROL` in the node's namespace
// and returns its output; -s (stats) adds the counters, as in
// `ip -s tunnel show`. The control socket is a path, reachable from any
// namespace, but running inside keeps the command what a user would type.
func (d *daemon) show(ctx context.Context, stats bool) (string, error) {
	if d.hasExited() {
		return "", d.failure(fmt.Sprintf("the daemon is not running (%v)", d.exitStatus()))
	}
	args := []string{"netns", "exec", d.node.NS, d.binary, "show"}
	if stats {
		args = append(args, "-s")
	}
	return command(ctx, "ip", append(args, "--control", d.control)...)
}

// stop sends SIGTERM, waits up to stopTimeout for the daemon to remove what
// it created and exit, then sends SIGKILL. The error says how it ended if
// that was not a clean exit after SIGTERM.
func (d *daemon) stop() error {
	if d.hasExited() {
		return nil // never started, or already reported by whoever saw it exit
	}
	err := d.proc.Stop(stopTimeout)
	switch {
	case errors.Is(err, lab.ErrKilled):
		return d.failure(fmt.Sprintf("the daemon did not exit within %v of SIGTERM and was killed", stopTimeout))
	case err != nil && d.ready:
		// Before it is ready a daemon may not handle SIGTERM yet (Go's
		// default action kills the process; `ip netns exec` may not even
		// have exec'd it), so only a ready daemon owes a clean exit.
		return d.failure(fmt.Sprintf("the daemon did not exit cleanly on SIGTERM (%v)", err))
	}
	return nil
}

// exitStatus is how the daemon ended: nil for exit code 0, or never started.
func (d *daemon) exitStatus() error {
	if d.proc == nil {
		return nil
	}
	return d.proc.Wait(0)
}

// failure is an error about this daemon that names the node and the log and
// quotes the log's last lines, where the daemon says what went wrong.
func (d *daemon) failure(what string) error {
	return fmt.Errorf("%s: ipipd in namespace %s: %s\n%s", d.node.Name, d.node.NS, what, d.logTail())
}

// logTail returns the last lines of the log, indented, under a heading
// naming the file.
func (d *daemon) logTail() string {
	data, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("    (cannot read its log %s: %v)", d.log, err)
	}
	lines := strings.Split(strings.TrimRight(string(bytes.ToValidUTF8(data, []byte("?"))), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return fmt.Sprintf("    (its log %s is empty)", d.log)
	}
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("    last lines of %s:\n        %s", d.log, strings.Join(lines, "\n        "))
}
