package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/ipipd/ipipd/internal/ownedns"
)

// NamePrefix starts the name of every namespace the demo creates, so a
// leftover (from a killed demo or from Keep) is easy to recognise.
const NamePrefix = "ipipd-demo-"

// The seed walkthrough's mesh: one underlay LAN, one /32 tunnel address per
// node, and each node owning the /24 around its tunnel address.
const (
	underlayBits = 24
	tunnelMTU    = 1480 // underlay 1500 - 20 bytes of outer header
	tunnelDev    = "tunl0"
	nodeLink     = "eth0"
	bridgeName   = "br0"
)

// node is one host of the mesh.
type node struct {
	Name     string     // "node1"
	NS       string     // its network namespace
	Link     string     // its underlay interface, inside NS
	Underlay netip.Addr // its underlay address, 10.245.1.x
	Tunnel   netip.Addr // its tunnel address, 192.168.4x.0
}

// Subnet is the /24 the other nodes route to this node.
func (n node) Subnet() netip.Prefix { return netip.PrefixFrom(n.Tunnel, 24) }

// meshNodes returns the seed's three nodes, their namespaces named after id.
func meshNodes(id string) []node {
	seed := []struct{ name, underlay, tunnel string }{
		{"node1", "10.245.1.2", "192.168.41.0"},
		{"node2", "10.245.1.3", "192.168.42.0"},
		{"node3", "10.245.1.4", "192.168.43.0"},
	}
	nodes := make([]node, len(seed))
	for i, s := range seed {
		nodes[i] = node{
			Name:     s.name,
			NS:       NamePrefix + id + "-" + s.name,
			Link:     nodeLink,
			Underlay: netip.MustParseAddr(s.underlay),
			Tunnel:   netip.MustParseAddr(s.tunnel),
		}
	}
	return nodes
}

// newRunID returns 6 random hex digits: namespace names must not collide
// with another demo running at the same time or left behind by Keep.
func newRunID() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; fall back to the PID anyway.
		return strconv.FormatInt(int64(os.Getpid())&0xffffff, 16)
	}
	return hex.EncodeToString(b[:])
}

// topology is the hub, its bridge and the nodes, as built in namespaces.
type topology struct {
	ID    string
	Hub   string // the hub's namespace
	Nodes []node

	// created lists the namespaces that exist, in creation order: close
	// deletes exactly these, so a half-built topology is removed too.
	created []string
}

// newTopology names the namespaces of run id; build creates them.
func newTopology(id string) *topology {
	return &topology{ID: id, Hub: NamePrefix + id + "-hub", Nodes: meshNodes(id)}
}

// node returns the node called name (as in "node2").
func (t *topology) node(name string) node {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	panic("demo: no node " + name)
}

// build creates the namespaces, the bridge and one veth per node, equivalent to
//
//	ip netns add HUB; ip netns add NODEi          (lo up in each)
//	ip -n HUB link add br0 type bridge stp_state 0; ip -n HUB link set br0 up
//	ip -n HUB link add name p-NODEi index FAR type veth peer name eth0 netns NODEi
//	ip -n HUB link set p-NODEi master br0 up
//	ip -n NODEi addr add 10.245.1.x/24 dev eth0; ip -n NODEi link set eth0 up
//
// and returns when every link is running. On error, what exists is left for
// close to remove.
func (t *topology) build(ctx context.Context) error {
	for _, ns := range append([]string{t.Hub}, t.nodeNamespaces()...) {
		if _, err := command(ctx, "ip", "netns", "add", ns); err != nil {
			return fmt.Errorf("creating network namespace %s: %w", ns, err)
		}
		t.created = append(t.created, ns)
		if err := ip(ctx, ns, "link", "set", "dev", "lo", "up"); err != nil {
			return err
		}
		// The underlay and the tunnel are IPv4; IPv6 router and neighbour
		// solicitations would only add noise to the daemons' counters.
		if err := inNamespace(ns, ownedns.DisableIPv6); err != nil {
			return fmt.Errorf("in %s: %w", ns, err)
		}
	}
	// STP off: ports forward at once instead of after the forward delay.
	if err := ip(ctx, t.Hub, "link", "add", "name", bridgeName, "type", "bridge", "stp_state", "0"); err != nil {
		return err
	}
	if err := ip(ctx, t.Hub, "link", "set", "dev", bridgeName, "up"); err != nil {
		return err
	}
	ports := []string{bridgeName}
	for _, n := range t.Nodes {
		port := "p-" + n.Name
		ports = append(ports, port)
		// Created in the hub with the peer put straight into the node:
		// nothing appears in the host namespace, even for a moment.
		if err := ip(ctx, t.Hub, "link", "add", "name", port, "index", ownedns.FarIndex(),
			"type", "veth", "peer", "name", n.Link, "netns", n.NS); err != nil {
			return err
		}
		if err := ip(ctx, t.Hub, "link", "set", "dev", port, "master", bridgeName, "up"); err != nil {
			return err
		}
		addr := netip.PrefixFrom(n.Underlay, underlayBits).String()
		if err := ip(ctx, n.NS, "addr", "add", addr, "dev", n.Link); err != nil {
			return err
		}
		if err := ip(ctx, n.NS, "link", "set", "dev", n.Link, "mtu", "1500", "up"); err != nil {
			return err
		}
	}
	// Wait only after creating everything: the kernel brings pending links
	// up in one pass, so the waits overlap.
	if err := waitRunning(ctx, t.Hub, ports...); err != nil {
		return err
	}
	for _, n := range t.Nodes {
		if err := waitRunning(ctx, n.NS, n.Link); err != nil {
			return err
		}
	}
	return nil
}

func (t *topology) nodeNamespaces() []string {
	names := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		names[i] = n.NS
	}
	return names
}

// close kills every process left in the namespaces it created and deletes
// them, nodes first; deleting a namespace removes its veth ends and the
// bridge. It uses its own deadline, not the demo's, because it must also run
// after the demo's context was cancelled. It reports every failure.
func (t *topology) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(t.created) - 1; i >= 0; i-- {
		ns := t.created[i]
		killAll(ctx, ns)
		if _, err := command(ctx, "ip", "netns", "delete", ns); err != nil {
			if _, serr := os.Stat(ownedns.Dir + "/" + ns); !errors.Is(serr, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("deleting network namespace %s (remove it with `ip netns delete %s`): %w", ns, ns, err))
				continue
			}
		}
	}
	t.created = nil
	return errors.Join(errs...)
}

// ip runs `ip -n NS args…`.
func ip(ctx context.Context, ns string, args ...string) error {
	if _, err := command(ctx, "ip", append([]string{"-n", ns}, args...)...); err != nil {
		return fmt.Errorf("in %s: %w", ns, err)
	}
	return nil
}

// killAll sends SIGKILL to every process in the namespace but this one (a
// goroutine inside inNamespace may have this process's thread there). Only
// the demo's own namespaces are passed, so these are its daemons and pings;
// a process left in a namespace would keep it alive after `ip netns delete`.
func killAll(ctx context.Context, ns string) {
	if out, err := command(ctx, "ip", "netns", "pids", ns); err == nil {
		ownedns.KillPIDs(out)
	}
}

// linkTimeout bounds the wait for new links to become operational.
const linkTimeout = 10 * time.Second

// waitRunning waits until every named link in ns is operational
// (ownedns.WaitRunning).
func waitRunning(ctx context.Context, ns string, links ...string) error {
	return inNamespace(ns, func() error {
		if err := ownedns.WaitRunning(ctx, linkTimeout, links...); err != nil {
			return fmt.Errorf("in %s: %w; check `ip -n %s link`", ns, err, ns)
		}
		return nil
	})
}
