// Package outerlab is what the outer-I/O prototypes (bench/cmd/outergso,
// bench/cmd/rxring, bench/cmd/mqtun) share: two network namespaces joined by
// a veth pair, removed on return, on error and on SIGINT/SIGTERM; work run on
// a thread locked inside one of them; CPU accounting; packet builders.
//
// Everything a prototype sends stays inside the namespaces it creates
// (10.245.x and 192.168.x addresses only).
package outerlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/vishvananda/netns"
)

// Lab is two namespaces, A and B, joined by a veth pair (vA in A, vB in B),
// made with internal/lab like every namespace of the project's tests,
// demo and bench.
type Lab struct {
	A, B  string // the namespaces' names
	AAddr string // 10.245.<n>.1
	BAddr string // 10.245.<n>.2
	Net   int
	once  sync.Once
}

// namePrefix starts the names of the prototypes' namespaces, so that
// lab.CleanupStale removes those a killed prototype left.
const namePrefix = "outerlab-"

// New creates the namespaces and the veth pair. The caller must defer
// Close; New also closes the lab on SIGINT, SIGTERM, SIGHUP and SIGPIPE, and after limit (a
// watchdog that bounds the whole program's time) it closes the lab and
// exits with status 3.
func New(name string, subnet int, limit time.Duration) (*Lab, error) {
	ctx := context.Background()
	if _, err := lab.CleanupStale(namePrefix); err != nil {
		return nil, err
	}
	l := &Lab{A: lab.Name(namePrefix, name+"-a"), B: lab.Name(namePrefix, name+"-b"), Net: subnet,
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
	a, err := lab.Add(ctx, l.A, "A")
	if err != nil {
		return nil, err
	}
	b, err := lab.Add(ctx, l.B, "B")
	if err == nil {
		err = lab.AddVeth(ctx, a, "vA", netip.MustParsePrefix(l.AAddr+"/24"), b, "vB", netip.MustParsePrefix(l.BAddr+"/24"))
	}
	if err == nil {
		// Resolve each side's MAC once so nothing waits for ARP later.
		err = Cmd(append([]string{"ip"}, a.Exec("ping", "-c1", "-W1", l.BAddr)...)...)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close deletes both namespaces (and with them every device in them).
func (l *Lab) Close() {
	l.once.Do(func() {
		lab.Remove(l.A)
		lab.Remove(l.B)
	})
}

// Cmd runs a command, bounded, returning its output in the error if it
// fails.
func Cmd(args ...string) error {
	_, err := lab.Run(context.Background(), lab.CommandTimeout, args[0], args[1:]...)
	return err
}

// Output runs a command and returns its standard output.
func Output(args ...string) (string, error) {
	out, _, err := lab.RunSplit(context.Background(), lab.CommandTimeout, args[0], args[1:]...)
	return out, err
}

// In locks the calling goroutine to its thread, moves the thread into the
// named namespace and runs fn there; the thread stays there (and is
// discarded when the goroutine ends), so what the caller does after In
// returns (open a TUN, measure the thread's CPU) also happens inside the
// namespace. lab's NS.Do, which puts the thread back, does not allow that.
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
