package main

import (
	"context"
	"errors"
	"fmt"

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

// underlayModes are the ways the veth pair can be set up (-underlay).
//
// veth as created has no NAPI: a packet sent into it is received at once,
// in the sender's own system call and on its CPU, one at a time, so GRO never
// sees two packets together. napi turns on GRO and threaded NAPI on both
// ends (rx-udp-gro-forwarding makes veth take locally sent packets through
// NAPI while its TSO stays on): received packets queue, a kernel thread
// takes them in batches on whichever CPU is free, and GRO merges a flow's
// consecutive packets, as it does behind a NIC's interrupt. A pfifo qdisc
// goes with it: veth's NAPI ring holds 256 packets and, under noqueue, drops
// what a burst of sendmmsg puts beyond them (10 000 TCP retransmits in 3 s
// when tried), where with a qdisc it stops the queue instead. It applies to
// every case alike.
var underlayModes = []string{"veth", "napi"}

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
//
// and with -underlay napi, in each namespace:
//
//	ethtool -K ulA gro on rx-udp-gro-forwarding on
//	tc qdisc replace dev ulA root pfifo limit 1000
//	echo 1 > /sys/class/net/ulA/threaded
func newTopology(ctx context.Context, underlay string) (_ *topology, err error) {
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
	if underlay == "napi" {
		for _, s := range t.sides() {
			if err := napiUnderlay(ctx, s.ns, s.dev); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// napiUnderlay gives one veth end GRO and a NAPI kernel thread.
func napiUnderlay(ctx context.Context, ns, dev string) error {
	if _, err := lab.Run(ctx, cmdTimeout, "ip", "netns", "exec", ns, "ethtool", "-K", dev, "gro", "on", "rx-udp-gro-forwarding", "on"); err != nil {
		return fmt.Errorf("-underlay napi: %w (needs ethtool and a kernel whose veth has NAPI, 5.13 or later)", err)
	}
	if _, err := lab.Run(ctx, cmdTimeout, "ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "pfifo", "limit", "1000"); err != nil {
		return fmt.Errorf("-underlay napi: qdisc on %s: %w", dev, err)
	}
	if _, err := lab.Run(ctx, cmdTimeout, "ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /sys/class/net/"+dev+"/threaded"); err != nil {
		return fmt.Errorf("-underlay napi: threaded NAPI on %s: %w", dev, err)
	}
	return nil
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
