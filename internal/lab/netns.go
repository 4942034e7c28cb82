package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
)

// NS is a named network namespace: one Add created, or one named by
// Existing.
type NS struct {
	name  string
	label string

	mu       sync.Mutex
	counters map[string]int // next free index per generated link name prefix
}

// Add creates the network namespace name, brings its loopback up and
// turns IPv6 off in it (see DisableIPv6); label is for messages. If a
// step after the creation fails, the namespace is removed again, so an
// error leaves nothing behind.
//
// Equivalent to: `ip netns add NAME; ip -n NAME link set dev lo up;
// ip netns exec NAME sysctl -w net.ipv6.conf.{all,default}.disable_ipv6=1`.
func Add(ctx context.Context, name, label string) (*NS, error) {
	if _, err := Run(ctx, CommandTimeout, "ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	ns := Existing(name, label)
	err := ns.IP(ctx, "link", "set", "dev", "lo", "up")
	if err == nil {
		if err = ns.Do(DisableIPv6); err != nil {
			err = fmt.Errorf("in %s: %w", ns, err)
		}
	}
	if err != nil {
		return nil, errors.Join(err, Remove(name))
	}
	return ns, nil
}

// Existing names a namespace that exists already (or that someone else
// creates), without touching it.
func Existing(name, label string) *NS {
	return &NS{name: name, label: label, counters: map[string]int{}}
}

// Name returns the namespace's name, as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// String returns the label and the name, for messages.
func (ns *NS) String() string {
	if ns.label == "" {
		return ns.name
	}
	return ns.label + "(" + ns.name + ")"
}

// IP runs `ip -n NAME args...`, bounded by ctx and CommandTimeout.
func (ns *NS) IP(ctx context.Context, args ...string) error {
	if _, err := Run(ctx, CommandTimeout, "ip", append([]string{"-n", ns.name}, args...)...); err != nil {
		return fmt.Errorf("in %s: %w", ns, err)
	}
	return nil
}

// Exec prefixes a command line with `ip netns exec NAME`, which runs it
// inside the namespace (and execs it in place: the PID is the command's).
func (ns *NS) Exec(args ...string) []string {
	return append([]string{"netns", "exec", ns.name}, args...)
}

// nextName returns prefix followed by the next unused index for that
// prefix in this namespace ("eth0", "eth1", …).
func (ns *NS) nextName(prefix string) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	i := ns.counters[prefix]
	ns.counters[prefix] = i + 1
	return fmt.Sprintf("%s%d", prefix, i)
}

// Remove kills every process left in the namespace and deletes it; a
// namespace that is gone already is no error. It has its own deadline, not
// a caller's context: it must also run after the caller's was cancelled.
//
// Equivalent to: `kill -9 $(ip netns pids NAME); ip netns delete NAME`.
func Remove(name string) error {
	ctx := context.Background()
	if out, err := Run(ctx, CommandTimeout, "ip", "netns", "pids", name); err == nil {
		KillPIDs(out)
	}
	if _, err := Run(ctx, CommandTimeout, "ip", "netns", "delete", name); err != nil {
		if _, statErr := os.Stat(Dir + "/" + name); errors.Is(statErr, os.ErrNotExist) {
			return nil // gone, perhaps removed by another run's CleanupStale
		}
		return fmt.Errorf("deleting network namespace %s (remove it with `ip netns delete %s`): %w", name, name, err)
	}
	return nil
}

// CleanupStale removes the namespaces that processes now dead left behind
// (killed by a timeout, SIGKILL, a crash) before their cleanup ran: names
// with prefix whose creator no longer exists (see Stale). Namespaces of a
// run still going are left alone. It returns the names it removed.
func CleanupStale(prefix string) ([]string, error) {
	stale, err := Stale(prefix)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, name := range stale {
		if err := Remove(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

// Do runs fn on an OS thread switched into the namespace and returns fn's
// error. Sockets fn opens belong to the namespace for their whole life, so
// they can be used from any goroutine afterwards. Goroutines fn starts do
// not inherit the namespace.
//
// Network namespaces are per thread, and Go moves goroutines between
// threads, so fn runs on a fresh goroutine locked to its thread; afterwards
// the thread is switched back and unlocked. If switching back fails the
// thread stays locked and is destroyed when the goroutine ends, so no
// thread in the wrong namespace ever returns to the Go scheduler. A panic
// in fn is raised again in the caller, after the thread is back.
func (ns *NS) Do(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() { done <- res }()
		orig, err := netns.Get()
		if err != nil {
			res.err = fmt.Errorf("reading the current network namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns.name)
		if err != nil {
			res.err = fmt.Errorf("opening network namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			res.err = fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		func() {
			defer func() { res.panic = recover() }()
			res.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			res.err = errors.Join(res.err, fmt.Errorf("leaving network namespace %s: %w", ns, err))
			return // the thread stays locked: the runtime discards it
		}
		runtime.UnlockOSThread()
	}()
	res := <-done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}
