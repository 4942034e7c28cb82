// Package outerlab is what the outer-I/O prototypes (bench/cmd/outergso,
// bench/cmd/rxring, bench/cmd/mqtun) share: two network namespaces joined by
// a veth pair, removed on return, on error and on SIGINT/SIGTERM; work run on
// a thread locked inside one of them; CPU accounting; packet builders.
//
// Everything a prototype sends stays inside the namespaces it creates
// (10.245.x and 192.168.x addresses only).
package outerlab

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Lab is two namespaces, A and B, joined by a veth pair (vA in A, vB in B).
type Lab struct {
	Prefix string // namespace names are Prefix+"-a" and Prefix+"-b"
	A, B   string
	AAddr  string // 10.245.<n>.1
	BAddr  string // 10.245.<n>.2
	Net    int
	once   sync.Once
}

// New creates the namespaces and the veth pair. The caller must defer
// Close; New also closes the lab on SIGINT, SIGTERM, SIGHUP and SIGPIPE, and after limit (a
// watchdog that bounds the whole program's time) it closes the lab and
// exits with status 3.
func New(name string, subnet int, limit time.Duration) (*Lab, error) {
	p := fmt.Sprintf("%s-%d", name, os.Getpid())
	l := &Lab{Prefix: p, A: p + "-a", B: p + "-b", Net: subnet,
		AAddr: fmt.Sprintf("10.245.%d.1", subnet), BAddr: fmt.Sprintf("10.245.%d.2", subnet)}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE) // SIGPIPE: a closed pipe on stdout must not skip the clean-up
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "%s: %v: cleaning up\n", name, s)
		case <-time.After(limit):
			fmt.Fprintf(os.Stderr, "%s: time limit %v reached: cleaning up\n", name, limit)
		}
		l.Close()
		os.Exit(3)
	}()
	cmds := [][]string{
		{"ip", "netns", "add", l.A},
		{"ip", "netns", "add", l.B},
		{"ip", "-n", l.A, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", l.B},
		{"ip", "-n", l.A, "addr", "add", l.AAddr + "/24", "dev", "vA"},
		{"ip", "-n", l.B, "addr", "add", l.BAddr + "/24", "dev", "vB"},
		{"ip", "-n", l.A, "link", "set", "vA", "up"},
		{"ip", "-n", l.B, "link", "set", "vB", "up"},
		{"ip", "-n", l.A, "link", "set", "lo", "up"},
		{"ip", "-n", l.B, "link", "set", "lo", "up"},
	}
	for _, c := range cmds {
		if err := Cmd(c...); err != nil {
			l.Close()
			return nil, err
		}
	}
	// Resolve each side's MAC once so nothing waits for ARP later.
	if err := Cmd("ip", "netns", "exec", l.A, "ping", "-c1", "-W1", l.BAddr); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close deletes both namespaces (and with them every device in them).
func (l *Lab) Close() {
	l.once.Do(func() {
		exec.Command("ip", "netns", "del", l.A).Run()
		exec.Command("ip", "netns", "del", l.B).Run()
	})
}

// Cmd runs a command, returning its output in the error if it fails.
func Cmd(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Output runs a command and returns its standard output.
func Output(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).Output()
	return string(out), err
}

// In runs fn on the calling goroutine's thread, locked and moved into the
// named namespace; the thread stays locked (and is discarded when the
// goroutine ends), so sockets fn opens belong to that namespace and fn may
// go on using the thread for measuring.
func In(ns string, fn func() error) error {
	runtime.LockOSThread()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	return fn()
}

// Go runs fn in ns on a new locked thread and returns a channel with its
// error.
func Go(ns string, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- In(ns, fn) }()
	return done
}

// Sysctl writes a value in a namespace.
func Sysctl(ns, key, value string) error {
	return Cmd("ip", "netns", "exec", ns, "sysctl", "-qw", key+"="+value)
}

// LinkStat reads one counter of a device in a namespace
// (/sys/class/net/DEV/statistics/NAME).
func LinkStat(ns, dev, name string) uint64 {
	out, err := Output("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/statistics/"+name)
	if err != nil {
		return 0
	}
	var v uint64
	fmt.Sscan(out, &v)
	return v
}

// Load is the first field of /proc/loadavg.
func Load() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
