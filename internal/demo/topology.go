package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
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
//	ip netns add HUB; ip netns add NODEi          (lo up and IPv6 off in each)
//	ip -n HUB link add br0 type bridge stp_state 0; ip -n HUB link set br0 up
//	ip -n HUB link add name p-NODEi index FAR type veth peer name eth0 netns NODEi
//	ip -n HUB link set p-NODEi master br0 up
//	ip -n NODEi addr add 10.245.1.x/24 dev eth0; ip -n NODEi link set eth0 up
//
// and returns when every link is running (lab.AddBridge). On error, what
// exists is left for close to remove.
func (t *topology) build(ctx context.Context) error {
	namespaces := map[string]*lab.NS{}
	for _, name := range append([]string{t.Hub}, t.nodeNamespaces()...) {
		ns, err := lab.Add(ctx, name, "")
		if err != nil {
			return err
		}
		t.created = append(t.created, name)
		namespaces[name] = ns
	}
	ports := make([]lab.Port, len(t.Nodes))
	for i, n := range t.Nodes {
		ports[i] = lab.Port{Name: "p-" + n.Name, Member: namespaces[n.NS], Link: n.Link, Addr: netip.PrefixFrom(n.Underlay, underlayBits)}
	}
	return lab.AddBridge(ctx, namespaces[t.Hub], bridgeName, netip.Prefix{}, ports...)
}

func (t *topology) nodeNamespaces() []string {
	names := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		names[i] = n.NS
	}
	return names
}

// close kills every process left in the namespaces it created and deletes
// them, nodes first (lab.Remove); deleting a namespace removes its veth
// ends and the bridge. Only the demo's own namespaces are passed, so the
// processes are its daemons and pings. It reports every failure.
func (t *topology) close() error {
	var errs []error
	for i := len(t.created) - 1; i >= 0; i-- {
		errs = append(errs, lab.Remove(t.created[i]))
	}
	t.created = nil
	return errors.Join(errs...)
}

// commandTimeout bounds each short command (ip, ping, ipipd show) on top of
// the whole demo's deadline, so one hung command is reported as itself.
const commandTimeout = 15 * time.Second

// command runs name args, bounded by ctx and commandTimeout (lab.Run).
func command(ctx context.Context, name string, args ...string) (string, error) {
	return lab.Run(ctx, commandTimeout, name, args...)
}

// inNamespace runs fn in the named namespace (lab.NS.Do).
func inNamespace(name string, fn func() error) error {
	return lab.Existing(name, "").Do(fn)
}
