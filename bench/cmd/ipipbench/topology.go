package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipipd/ipipd/internal/ownedns"
)

// nsPrefix starts the name of every namespace ipipbench creates; the
// creator's PID follows, so a later run can tell leftovers of a dead run
// from the namespaces of one still going.
const nsPrefix = "ipipbench-"

// The underlay: one veth pair between namespaces A and B.
const (
	underlayA   = "10.245.9.1"
	underlayB   = "10.245.9.2"
	underlayLen = 24
	underlayMTU = 1500
	vethA       = "ulA" // in A
	vethB       = "ulB" // in B
)

// topology is the two namespaces and the veth pair between them. Nothing is
// created in the host namespace: the pair is made inside A with its peer
// placed directly into B.
type topology struct {
	a, b string // namespace names
}

// side is one end: its namespace, underlay device and address.
type side struct {
	name   string // "A" or "B"
	ns     string
	dev    string
	addr   string // underlay address
	peer   string // the other side's underlay address
	server bool   // B runs the iperf3 servers
}

func (t *topology) sides() [2]side {
	return [2]side{
		{name: "A", ns: t.a, dev: vethA, addr: underlayA, peer: underlayB},
		{name: "B", ns: t.b, dev: vethB, addr: underlayB, peer: underlayA, server: true},
	}
}

// newTopology creates A and B and the veth pair. On error everything made
// so far is deleted.
func newTopology(ctx context.Context) (_ *topology, err error) {
	id := ownedns.Name(nsPrefix)
	t := &topology{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	for _, p := range []struct {
		name  *string
		label string
	}{{&t.a, "a"}, {&t.b, "b"}} {
		name := id + "-" + p.label
		if _, err := run(ctx, cmdTimeout, "ip", "netns", "add", name); err != nil {
			return nil, err
		}
		*p.name = name
		if _, err := run(ctx, cmdTimeout, "ip", "-n", name, "link", "set", "dev", "lo", "up"); err != nil {
			return nil, err
		}
		// The underlay is IPv4; IPv6 solicitations would only add noise.
		// Best effort: a kernel without IPv6 has nothing to disable.
		run(ctx, cmdTimeout, "ip", inNS(name, "sysctl", "-qw",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")...)
	}
	steps := [][]string{
		{"-n", t.a, "link", "add", "name", vethA, "type", "veth", "peer", "name", vethB, "netns", t.b},
		{"-n", t.a, "link", "set", "dev", vethA, "mtu", strconv.Itoa(underlayMTU), "up"},
		{"-n", t.b, "link", "set", "dev", vethB, "mtu", strconv.Itoa(underlayMTU), "up"},
		{"-n", t.a, "addr", "add", fmt.Sprintf("%s/%d", underlayA, underlayLen), "dev", vethA},
		{"-n", t.b, "addr", "add", fmt.Sprintf("%s/%d", underlayB, underlayLen), "dev", vethB},
	}
	for _, s := range steps {
		if _, err := run(ctx, cmdTimeout, "ip", s...); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// close kills whatever still runs in the namespaces (only processes this
// run started: the namespaces are its own) and deletes them. It uses its
// own context: it must work after the run's context was cancelled.
func (t *topology) close() error {
	var errs []error
	for _, ns := range []string{t.a, t.b} {
		if ns != "" {
			errs = append(errs, removeNS(ns))
		}
	}
	return errors.Join(errs...)
}

// removeNS kills the processes left in ns and deletes it.
func removeNS(ns string) error {
	ctx := context.Background()
	if out, err := run(ctx, cmdTimeout, "ip", "netns", "pids", ns); err == nil {
		ownedns.KillPIDs(out)
		time.Sleep(100 * time.Millisecond) // let the kernel reap them
	}
	if _, err := run(ctx, cmdTimeout, "ip", "netns", "delete", ns); err != nil {
		if _, statErr := os.Stat(ownedns.Dir + "/" + ns); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return nil
}

// cleanupStale deletes namespaces left by an earlier ipipbench that died
// before its cleanup ran (SIGKILL, a crash): names with nsPrefix whose
// creator PID no longer exists. Namespaces of a run still going are left.
func cleanupStale() []string {
	stale, _ := ownedns.Stale(nsPrefix)
	var removed []string
	for _, name := range stale {
		if removeNS(name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}
