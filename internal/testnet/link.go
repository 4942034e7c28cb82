package testnet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/ownedns"
)

// LinkUpTimeout bounds the wait for new links to become operational.
const LinkUpTimeout = 10 * time.Second

// Veth connects two namespaces with a veth pair: interface aName in a with
// address aAddr and interface bName in b with bAddr, both up. A zero
// (invalid) prefix leaves that side without an address. The pair is created
// inside a with its peer placed directly into b, so it never appears in the
// host namespace. It returns when both ends are operational (see
// waitRunning) and fails the test on error.
//
// Equivalent to:
//
//	ip -n A link add name aName index FAR type veth peer name bName netns B
//	ip -n A addr add aAddr dev aName && ip -n A link set dev aName up
//	ip -n B addr add bAddr dev bName && ip -n B link set dev bName up
func Veth(t testing.TB, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) {
	t.Helper()
	a.ip(t, "link", "add", "name", aName, "index", ownedns.FarIndex(), "type", "veth", "peer", "name", bName, "netns", b.name)
	a.up(t, aName, aAddr)
	b.up(t, bName, bAddr)
	a.waitRunning(t, aName)
	b.waitRunning(t, bName)
}

// up gives a link its address (if valid) and sets it up.
func (ns *NS) up(t testing.TB, link string, addr netip.Prefix) {
	t.Helper()
	if addr.IsValid() {
		ns.ip(t, "addr", "add", addr.String(), "dev", link)
	}
	ns.ip(t, "link", "set", "dev", link, "up")
}

// NewBridgeLAN builds a LAN: a bridge in hub with one veth per member. The
// bridge gets the subnet's first host address (.1), and the members get the
// following ones in order (.2, .3, .4, …), which NewBridgeLAN returns. Each
// member's side of its veth is named "eth<N>", N counting the LANs that member
// has joined ("eth0" for the first); the hub's ports are "br<K>p<i>" on bridge
// "br<K>". STP is off, so ports forward at once. It returns when every link
// is operational (see waitRunning) and fails the test on error.
//
// With subnet 10.245.1.0/24 and members node1, node2, node3 this is the
// three-node mesh underlay: 10.245.1.2, 10.245.1.3, 10.245.1.4.
//
// Equivalent to:
//
//	ip -n HUB link add name brK type bridge && ip -n HUB addr add .1/len dev brK && ip -n HUB link set dev brK up
//	ip -n HUB link add name brKp0 index FAR type veth peer name eth0 netns MEMBER0
//	ip -n HUB link set dev brKp0 master brK up
//	ip -n MEMBER0 addr add .2/len dev eth0 && ip -n MEMBER0 link set dev eth0 up
//	… one veth per member
func NewBridgeLAN(t testing.TB, hub *NS, subnet netip.Prefix, members ...*NS) []netip.Addr {
	t.Helper()
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || subnet.Bits() > 30 || 1<<(32-subnet.Bits())-2 < len(members)+1 {
		t.Fatalf("testnet: NewBridgeLAN: subnet %v cannot hold a bridge address and %d members", subnet, len(members))
	}
	bridge := hub.nextName("br")
	hub.ip(t, "link", "add", "name", bridge, "type", "bridge", "stp_state", "0")
	host := subnet.Addr().Next()
	hub.up(t, bridge, netip.PrefixFrom(host, subnet.Bits()))

	addrs := make([]netip.Addr, len(members))
	links := make([]string, len(members))
	ports := make([]string, len(members))
	for i, m := range members {
		ports[i] = bridge + "p" + strconv.Itoa(i)
		links[i] = m.nextName("eth")
		hub.ip(t, "link", "add", "name", ports[i], "index", ownedns.FarIndex(), "type", "veth", "peer", "name", links[i], "netns", m.name)
		hub.ip(t, "link", "set", "dev", ports[i], "master", bridge, "up")
		host = host.Next()
		m.up(t, links[i], netip.PrefixFrom(host, subnet.Bits()))
		addrs[i] = host
	}
	// Wait only after creating everything: the kernel brings pending links
	// up in one pass, so the waits overlap.
	if len(members) > 0 {
		hub.waitRunning(t, append(ports, bridge)...)
	}
	for i, m := range members {
		m.waitRunning(t, links[i])
	}
	return addrs
}

// waitRunning waits until every named link is operational
// (ownedns.WaitRunning), failing the test if one is not in LinkUpTimeout.
func (ns *NS) waitRunning(t testing.TB, links ...string) {
	t.Helper()
	err := ns.Do(func() error { return ownedns.WaitRunning(context.Background(), LinkUpTimeout, links...) })
	if err != nil {
		t.Fatalf("testnet: in %s: %v", ns, err)
	}
}

// Ifindex returns the interface index of the named link in the namespace,
// failing the test if there is none.
func (ns *NS) Ifindex(t testing.TB, link string) int {
	t.Helper()
	var index int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		index = ifi.Index
		return nil
	})
	if err != nil {
		t.Fatalf("testnet: in %s: %v", ns, err)
	}
	return index
}
