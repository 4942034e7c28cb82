package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

type options struct {
	tunnels, routes int
	binary          string
	timeout         time.Duration
	water           bool
	cpuprofile      string // passed to the measured daemon as --cpuprofile
	reloads         int    // one-tunnel reloads, for their median
}

func (o options) profileFlags() []string {
	if o.cpuprofile == "" {
		return nil
	}
	return []string{"--cpuprofile", o.cpuprofile}
}

func (o options) check() error {
	if o.tunnels < 1 || o.tunnels > lab.MaxManyTunnels {
		return fmt.Errorf("-tunnels %d: want 1 to %d", o.tunnels, lab.MaxManyTunnels)
	}
	if o.routes < 0 || o.routes+1 > lab.MaxManyRoutes {
		return fmt.Errorf("-routes %d: want 0 to %d", o.routes, lab.MaxManyRoutes-1)
	}
	if o.reloads < 1 {
		return fmt.Errorf("-reloads %d: want at least 1", o.reloads)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("-timeout %v: want a positive duration", o.timeout)
	}
	return nil
}

func (o options) backend() string {
	if o.water {
		return "water"
	}
	return "offload"
}

// result is one run's figures.
type result struct {
	Tunnels, Routes int
	Backend         string
	// Baseline is the daemon with one tunnel and one route, at ready.
	Baseline procStats
	// Start is from exec to READY=1; Ready the process then, and Settled
	// 5 s later, once the watcher has followed the start's routes.
	Start   time.Duration
	Ready   procStats
	Settled procStats
	// ReloadOne is the median from SIGHUP to READY=1 of Reloads, each a
	// file that adds one route to one tunnel or takes it away again.
	ReloadOne time.Duration
	Reloads   []time.Duration
	// ReloadDown is from SIGHUP to READY=1 for a file of one tunnel and
	// one route; After the process 2 s later.
	ReloadDown time.Duration
	After      procStats
	// Stop is from SIGTERM to the exit.
	Stop time.Duration
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "ipiptunnels: %d tunnels (tun: %s), %d routes\n", r.Tunnels, r.Backend, r.Routes)
	fmt.Fprintf(w, "  baseline (1 tunnel, 1 route)  %v\n", r.Baseline)
	fmt.Fprintf(w, "  start to READY=1              %v\n", r.Start.Round(time.Millisecond))
	fmt.Fprintf(w, "  at ready                      %v\n", r.Ready)
	fmt.Fprintf(w, "  5 s after ready               %v\n", r.Settled)
	fmt.Fprintf(w, "  reload changing one tunnel    %v (median of %d: %v)\n", r.ReloadOne.Round(time.Millisecond), len(r.Reloads), rounded(r.Reloads))
	fmt.Fprintf(w, "  reload down to one tunnel     %v\n", r.ReloadDown.Round(time.Millisecond))
	fmt.Fprintf(w, "  2 s after it                  %v\n", r.After)
	fmt.Fprintf(w, "  SIGTERM to exit               %v\n", r.Stop.Round(time.Millisecond))
}

// measure runs the whole sequence, logging each step to log. On error it
// returns what it measured so far.
func measure(ctx context.Context, o options, log io.Writer) (*result, error) {
	dir, err := os.MkdirTemp("", "ipiptunnels-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	binary := o.binary
	if binary == "" {
		root, err := lab.ModuleRoot()
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(log, "ipiptunnels: building ./cmd/ipipd")
		if binary, err = lab.Build(ctx, root, dir); err != nil {
			return nil, err
		}
	}
	ns := fmt.Sprintf("ipiptunnels-%d", os.Getpid())
	if err := setupNamespace(ns); err != nil {
		removeNamespace(ns)
		return nil, err
	}
	defer removeNamespace(ns)

	r := &result{Tunnels: o.tunnels, Routes: o.routes, Backend: o.backend()}
	minimal := lab.ManyTunnels(1, 1, 0, o.backend())
	fmt.Fprintln(log, "ipiptunnels: baseline, one tunnel")
	d, err := startDaemon(ctx, ns, binary, dir, "baseline", minimal, o.timeout)
	if err != nil {
		return r, err
	}
	r.Baseline, err = readProcStats(d.proc.Pid())
	if _, stopErr := d.stop(o.timeout); err == nil {
		err = stopErr
	}
	if err != nil {
		return r, err
	}

	fmt.Fprintf(log, "ipiptunnels: writing %d tunnels and %d routes\n", o.tunnels, o.routes)
	full := lab.ManyTunnels(o.tunnels, o.routes, 0, o.backend())
	fmt.Fprintln(log, "ipiptunnels: starting")
	begin := time.Now()
	d, err = startDaemon(ctx, ns, binary, dir, "full", full, o.timeout, o.profileFlags()...)
	if err != nil {
		return r, err
	}
	defer d.kill()
	r.Start = time.Since(begin)
	if r.Ready, err = readProcStats(d.proc.Pid()); err != nil {
		return r, err
	}
	time.Sleep(5 * time.Second)
	if r.Settled, err = readProcStats(d.proc.Pid()); err != nil {
		return r, err
	}
	fmt.Fprintf(log, "ipiptunnels: ready after %v; %d reloads adding a route to t0 and taking it away\n", r.Start.Round(time.Millisecond), o.reloads)
	for i := range o.reloads {
		// A pause as between an operator's reloads: the View of the last
		// one's routes arrives and is applied first.
		time.Sleep(time.Second)
		took, err := d.reload(ctx, lab.ManyTunnels(o.tunnels, o.routes, 1-i%2, o.backend()), o.timeout)
		if err != nil {
			return r, err
		}
		r.Reloads = append(r.Reloads, took)
		fmt.Fprintf(log, "ipiptunnels: reload %d took %v\n", i+1, took.Round(time.Millisecond))
	}
	r.ReloadOne = lab.Median(r.Reloads)
	fmt.Fprintln(log, "ipiptunnels: reloading down to one tunnel")
	if r.ReloadDown, err = d.reload(ctx, minimal, o.timeout); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second)
	if r.After, err = readProcStats(d.proc.Pid()); err != nil {
		return r, err
	}
	fmt.Fprintln(log, "ipiptunnels: stopping")
	r.Stop, err = d.stop(o.timeout)
	return r, err
}

// daemon is one `ipipd run` with its notify socket.
type daemon struct {
	proc    *lab.Process
	out     *lab.LockedBuffer
	config  string
	notify  *net.UnixConn
	notices chan string
}

// startDaemon writes cfg and runs ipipd on it in ns with NOTIFY_SOCKET set,
// returning once it says READY=1.
func startDaemon(ctx context.Context, ns, binary, dir, name, cfg string, timeout time.Duration, flags ...string) (*daemon, error) {
	d := &daemon{out: &lab.LockedBuffer{}, config: filepath.Join(dir, name+".yaml"), notices: make(chan string, 16)}
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, name+".notify")
	var err error
	if d.notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"}); err != nil {
		return nil, err
	}
	go d.readNotices()
	// The daemon inherits the variable; a path, not an abstract socket,
	// since abstract sockets belong to a network namespace.
	os.Setenv("NOTIFY_SOCKET", socket)
	defer os.Unsetenv("NOTIFY_SOCKET")
	d.proc, err = lab.Start(ns, lab.Options{Output: d.out, DeathSignal: syscall.SIGKILL},
		lab.RunArgs(binary, d.config, filepath.Join(dir, name+".sock"), flags...)...)
	if err != nil {
		d.notify.Close()
		return nil, err
	}
	if err := d.await(ctx, "READY=1", timeout); err != nil {
		d.kill()
		return nil, fmt.Errorf("starting: %w", err)
	}
	return d, nil
}

func (d *daemon) readNotices() {
	defer close(d.notices)
	buf := make([]byte, 4096)
	for {
		n, err := d.notify.Read(buf)
		if err != nil {
			return
		}
		d.notices <- string(buf[:n])
	}
}

// await waits for a notice that starts with prefix.
func (d *daemon) await(ctx context.Context, prefix string, timeout time.Duration) error {
	deadline := time.After(timeout)
	exited := make(chan struct{})
	go func() { d.proc.Wait(timeout); close(exited) }()
	for {
		select {
		case n, ok := <-d.notices:
			if !ok {
				return errors.New("the notify socket closed")
			}
			if strings.HasPrefix(n, prefix) {
				return nil
			}
		case <-exited:
			if d.proc.Exited() {
				return fmt.Errorf("ipipd exited (%v); its last lines:\n%s", d.proc.Wait(0), strings.Join(lab.TailLines(d.out.String(), 20), "\n"))
			}
		case <-deadline:
			return fmt.Errorf("no %s within %v; its last lines:\n%s", prefix, timeout, strings.Join(lab.TailLines(d.out.String(), 20), "\n"))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reload writes cfg, sends SIGHUP and times it to READY=1; a refused file
// is an error.
func (d *daemon) reload(ctx context.Context, cfg string, timeout time.Duration) (time.Duration, error) {
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		return 0, err
	}
	refused := strings.Count(d.out.String(), "reload refused")
	begin := time.Now()
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		return 0, err
	}
	if err := d.await(ctx, "RELOADING=1", timeout); err != nil {
		return 0, fmt.Errorf("reload: %w", err)
	}
	if err := d.await(ctx, "READY=1", timeout); err != nil {
		return 0, fmt.Errorf("reload: %w", err)
	}
	took := time.Since(begin)
	if strings.Count(d.out.String(), "reload refused") > refused {
		return took, fmt.Errorf("reload refused; its last lines:\n%s", strings.Join(lab.TailLines(d.out.String(), 10), "\n"))
	}
	return took, nil
}

// stop sends SIGTERM and times the exit.
func (d *daemon) stop(timeout time.Duration) (time.Duration, error) {
	defer d.notify.Close()
	begin := time.Now()
	err := d.proc.Stop(timeout)
	took := time.Since(begin)
	if err != nil {
		return took, fmt.Errorf("stopping: %w; its last lines:\n%s", err, strings.Join(lab.TailLines(d.out.String(), 10), "\n"))
	}
	return took, nil
}

// kill ends a daemon that is still running, for the error paths.
func (d *daemon) kill() {
	if !d.proc.Exited() {
		d.proc.Signal(syscall.SIGKILL)
		d.proc.Wait(10 * time.Second)
	}
	d.notify.Close()
}

// setupNamespace makes ns with the underlay u0.
func setupNamespace(ns string) error {
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		// A veth pair, since a kernel may lack the dummy module; what
		// leaves u0 goes to u1 and no further.
		{"-n", ns, "link", "add", "u0", "type", "veth", "peer", "name", "u1"},
		{"-n", ns, "link", "set", "u1", "up"},
		{"-n", ns, "addr", "add", lab.ManyTunnelsLocal.String() + "/32", "dev", "u0"},
		{"-n", ns, "link", "set", "u0", "up"},
		{"-n", ns, "route", "add", lab.ManyTunnelsRemotes, "dev", "u0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// removeNamespace deletes ns, killing what still runs in it.
func removeNamespace(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// rounded is ds to the millisecond, for printing.
func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
