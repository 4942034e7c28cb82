package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/lab"
)

// Bounds of the daemon helpers.
const (
	readyTimeout  = 10 * time.Second // from start to `show` answering
	reloadTimeout = 5 * time.Second  // from SIGHUP to "reloaded" or "reload refused" in the log
)

// daemon is one `ipipd run` inside a node's namespace.
type daemon struct {
	ns      *lab.NS
	name    string
	config  string // its config file
	control string // its control socket
	proc    *lab.Process
}

// startDaemon writes cfg to a file and runs `ipipd run -c FILE --control
// SOCK FLAGS...` inside ns, then waits until `ipipd show` answers, which the
// daemon does only once the whole config is installed (engine.Apply comes
// before control.Listen). lab stops the process at the end of the test.
func startDaemon(t *testing.T, ns *lab.NS, name, cfg string, flags ...string) *daemon {
	t.Helper()
	return startWrappedDaemon(t, ns, name, cfg, nil, flags...)
}

// startWrappedDaemon is startDaemon with the command run by wrap, a command
// that execs its arguments (setpriv, to drop privileges).
func startWrappedDaemon(t *testing.T, ns *lab.NS, name, cfg string, wrap []string, flags ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		ns:      ns,
		name:    name,
		config:  filepath.Join(dir, name+".yaml"),
		control: filepath.Join(dir, name+".sock"),
	}
	if len(d.control) > 100 { // sun_path holds 108 bytes
		t.Fatalf("control socket path %q is too long for a unix socket", d.control)
	}
	d.write(t, cfg)
	d.proc = ns.Start(t, append(wrap, lab.RunArgs(ipipdBin, d.config, d.control, flags...)...)...)
	d.waitReady(t)
	return d
}

func (d *daemon) write(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exited reports whether the daemon process has ended.
func (d *daemon) exited() bool {
	return d.proc.Exited()
}

func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	answers := func(context.Context) error {
		_, err := d.tryShow()
		return err
	}
	if err := d.proc.WaitReady(context.Background(), readyTimeout, 50*time.Millisecond, answers); err != nil {
		t.Fatalf("%s: ipipd %v; its output:\n%s", d.name, err, d.proc.Output())
	}
}

// tryShow runs `ipipd show --json --control SOCK` and decodes it.
func (d *daemon) tryShow() (engine.Status, error) {
	var st engine.Status
	err := lab.Show(context.Background(), ipipdBin, d.control, &st)
	return st, err
}

// show is tryShow failing the test on error.
func (d *daemon) show(t *testing.T) engine.Status {
	t.Helper()
	st, err := d.tryShow()
	if err != nil {
		t.Fatalf("%s: %v", d.name, err)
	}
	return st
}

// tunnel returns the status of one tunnel, failing the test if the daemon
// does not list it.
func (d *daemon) tunnel(t *testing.T, name string) engine.TunnelStatus {
	t.Helper()
	st := d.show(t)
	for _, ts := range st.Tunnels {
		if ts.Name == name {
			return ts
		}
	}
	t.Fatalf("%s: ipipd show lists no tunnel %q: %+v", d.name, name, st.Tunnels)
	return engine.TunnelStatus{}
}

// stats returns one tunnel's counters.
func (d *daemon) stats(t *testing.T, name string) engine.Stats {
	t.Helper()
	return d.tunnel(t, name).Stats
}

// reload writes cfg and sends SIGHUP, then waits for the daemon to log the
// outcome. It returns true for "reloaded", false for "reload refused".
func (d *daemon) reload(t *testing.T, cfg string) bool {
	t.Helper()
	before := d.proc.Output()
	reloaded, refused := strings.Count(before, "msg=reloaded"), strings.Count(before, "reload refused")
	d.write(t, cfg)
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("%s: SIGHUP: %v", d.name, err)
	}
	deadline := time.Now().Add(reloadTimeout)
	for {
		out := d.proc.Output()
		switch {
		case strings.Count(out, "msg=reloaded") > reloaded:
			return true
		case strings.Count(out, "reload refused") > refused:
			return false
		case d.exited():
			t.Fatalf("%s: ipipd exited after SIGHUP (%v); its output:\n%s", d.name, d.proc.Wait(0), out)
		case time.Now().After(deadline):
			t.Fatalf("%s: no \"reloaded\" or \"reload refused\" in the log %v after SIGHUP; its output:\n%s", d.name, reloadTimeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustReload is reload that fails the test unless the file was accepted.
func (d *daemon) mustReload(t *testing.T, cfg string) {
	t.Helper()
	if !d.reload(t, cfg) {
		t.Fatalf("%s: reload refused; its output:\n%s", d.name, d.proc.Output())
	}
}

// stop sends SIGTERM and waits for the exit; it fails the test unless the
// daemon exits 0 in time.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.proc.Stop(lab.StopTimeout); err != nil {
		t.Fatalf("%s: ipipd did not exit 0 on SIGTERM: %v; its output:\n%s", d.name, err, d.proc.Output())
	}
}

// runBinarySplit runs the ipipd binary in the host namespace (the control
// socket is a file, reachable from any namespace) and returns stdout and
// stderr apart; err is an *exec.ExitError for a non-zero exit.
func runBinarySplit(timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	stdout, stderr, err = lab.RunSplit(context.Background(), timeout, ipipdBin, args...)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		err = fmt.Errorf("ipipd %s: %w", strings.Join(args, " "), err)
	}
	return stdout, stderr, err
}
