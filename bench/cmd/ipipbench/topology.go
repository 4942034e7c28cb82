package main

import (
	"context"
	"errors"

	"github.com/ipipd/ipipd/internal/lab"
	"net/netip"
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
//
// Equivalent to (lab.Add, lab.AddVeth):
//
//	ip netns add ipipbench-PID-ID-a; ip netns add ipipbench-PID-ID-b   (lo up, IPv6 off)
//	ip -n A link add name ulA index FAR type veth peer name ulB netns B
//	ip -n A addr add 10.245.9.1/24 dev ulA; ip -n A link set dev ulA up
//	ip -n B addr add 10.245.9.2/24 dev ulB; ip -n B link set dev ulB up
func newTopology(ctx context.Context) (_ *topology, err error) {
	id := lab.Name(nsPrefix, "")
	t := &topology{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	a, err := lab.Add(ctx, id+"-a", "A")
	if err != nil {
		return nil, err
	}
	t.a = a.Name()
	b, err := lab.Add(ctx, id+"-b", "B")
	if err != nil {
		return nil, err
	}
	t.b = b.Name()
	prefix := func(addr string) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(addr), underlayLen) }
	if err := lab.AddVeth(ctx, a, vethA, prefix(underlayA), b, vethB, prefix(underlayB)); err != nil {
		return nil, err
	}
	return t, nil
}

// close kills whatever still runs in the namespaces (only processes this
// run started: the namespaces are its own) and deletes them. It must work
// after the run's context was cancelled, and lab.Remove has its own.
func (t *topology) close() error {
	var errs []error
	for _, ns := range []string{t.a, t.b} {
		if ns != "" {
			errs = append(errs, lab.Remove(ns))
		}
	}
	return errors.Join(errs...)
}

// cleanupStale deletes namespaces left by an earlier ipipbench that died
// before its cleanup ran (SIGKILL, a crash): names with nsPrefix whose
// creator PID no longer exists. Namespaces of a run still going are left.
func cleanupStale() []string {
	removed, _ := lab.CleanupStale(nsPrefix)
	return removed
}
