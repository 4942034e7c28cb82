package kernelview

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The notification socket's decoders against the netlink library's own
// reading of the same objects: after each change in a fresh namespace,
// every route, address and link notification it caused, decoded, equals
// what RouteListFiltered, AddrList and LinkByIndex return for that object
// in the fields the decoders fill. The changes cover a route with onlink, a
// multipath route with weights and an onlink hop, a metric, a TOS, a table
// past 255 with a default route, the local table's routes an address
// brings, a peer address, deletions, and a link's creation, MTU, down, up
// and deletion.
func TestDecodersMatchTheLibrary(t *testing.T) {
	lab.EnterFresh(t)
	here, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	n, err := openNotifications(here)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	var seq uint32
	kinds := map[noticeKind]int{}
	step := func(what string, change func() error) {
		t.Helper()
		routesBefore, addrsBefore, linksBefore := libraryState(t, h)
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		routesAfter, addrsAfter, linksAfter := libraryState(t, h)
		seq++
		if err := n.barrier(seq); err != nil {
			t.Fatal(err)
		}
		for nt := range noticesUntil(t, n, seq) {
			kinds[nt.kind]++
			switch nt.kind {
			case routeNotice:
				lib := routesAfter
				if nt.route.Type == unix.RTM_DELROUTE {
					lib = routesBefore
				}
				want, ok := lib[routeKeyOf(&nt.route.Route)]
				if !ok {
					t.Errorf("%s: route notification %v: the library does not list the route", what, nt.route.Route)
					continue
				}
				if got, want := routeFields(&nt.route.Route), routeFields(&want); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: route notification decoded as\n\t%+v\nthe library lists\n\t%+v", what, got, want)
				}
			case addressNotice:
				lib := addrsAfter
				if !nt.address.NewAddr {
					lib = addrsBefore
				}
				key := fmt.Sprint(nt.address.LinkIndex, nt.address.LinkAddress.String())
				want, ok := lib[key]
				if !ok {
					t.Errorf("%s: address notification %+v: the library does not list %s", what, nt.address, key)
					continue
				}
				if nt.address.LinkIndex != want.LinkIndex || nt.address.Scope != want.Scope || !reflect.DeepEqual(nt.address.LinkAddress, *want.IPNet) {
					t.Errorf("%s: address notification decoded as %+v, the library lists %+v", what, nt.address, want)
				}
			case linkNotice:
				index := int(nt.link.Index)
				l, ok := linksAfter[index]
				if !ok {
					// Deleted: the kernel closes a device before it
					// unregisters it (unregister_netdevice_many), and says
					// so, so what it says is the device as it was, down.
					l, ok = linksBefore[index]
				}
				if !ok {
					t.Errorf("%s: link notification for ifindex %d: the library does not list it", what, index)
					continue
				}
				want := linkFields(l)
				if _, still := linksAfter[index]; !still {
					want.Up = false
				}
				if got := linkFields(nt.link.Link); got != want {
					t.Errorf("%s: link notification decoded as %+v, the library lists %+v", what, got, want)
				}
			}
		}
	}

	step("veth pair v0, v1", func() error {
		return h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"})
	})
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := h.LinkByName("v1")
	if err != nil {
		t.Fatal(err)
	}
	step("v0 up", func() error { return h.LinkSetUp(v0) })
	step("v1 up", func() error { return h.LinkSetUp(v1) })
	step("v0 mtu 1400", func() error { return h.LinkSetMTU(v0, 1400) })
	// The local table's routes come with an address; onlink gateways need
	// the local table to exist.
	step("10.245.1.2/24 on v0", func() error { return h.AddrAdd(v0, mustAddr("10.245.1.2/24")) })
	step("10.78.0.1 peer 10.78.0.2/32 on v1", func() error {
		a := mustAddr("10.78.0.1/32")
		a.Peer = mustAddr("10.78.0.2/32").IPNet
		return h.AddrAdd(v1, a)
	})
	v0i, v1i := v0.Attrs().Index, v1.Attrs().Index
	onlink := &netlink.Route{LinkIndex: v0i, Dst: mustNet("192.168.42.0/24"), Gw: net.IP{10, 245, 9, 3}, Flags: int(netlink.FLAG_ONLINK)}
	step("192.168.42.0/24 via 10.245.9.3 dev v0 onlink", func() error { return h.RouteAdd(onlink) })
	step("192.168.43.0/24 dev v0 metric 100 proto bird", func() error {
		return h.RouteAdd(&netlink.Route{LinkIndex: v0i, Dst: mustNet("192.168.43.0/24"), Priority: 100, Protocol: 12, Scope: netlink.SCOPE_LINK})
	})
	step("192.168.44.0/24 nexthop via 10.245.1.3 dev v0 weight 3 nexthop via 10.245.9.4 dev v1 onlink", func() error {
		return h.RouteAdd(&netlink.Route{Dst: mustNet("192.168.44.0/24"), MultiPath: []*netlink.NexthopInfo{
			{LinkIndex: v0i, Gw: net.IP{10, 245, 1, 3}, Hops: 2},
			{LinkIndex: v1i, Gw: net.IP{10, 245, 9, 4}, Flags: int(netlink.FLAG_ONLINK)},
		}})
	})
	step("default via 10.245.1.1 dev v0 table 1000", func() error {
		return h.RouteAdd(&netlink.Route{LinkIndex: v0i, Gw: net.IP{10, 245, 1, 1}, Table: 1000})
	})
	step("192.168.45.0/24 tos 0x10 via 10.245.1.3 dev v0", func() error {
		return h.RouteAdd(&netlink.Route{LinkIndex: v0i, Dst: mustNet("192.168.45.0/24"), Gw: net.IP{10, 245, 1, 3}, Tos: 0x10})
	})
	step("replace 192.168.42.0/24 by a multipath route", func() error {
		return h.RouteReplace(&netlink.Route{Dst: mustNet("192.168.42.0/24"), MultiPath: []*netlink.NexthopInfo{
			{LinkIndex: v0i, Gw: net.IP{10, 245, 1, 5}, Hops: 255},
			{LinkIndex: v0i, Gw: net.IP{10, 245, 1, 6}},
		}})
	})
	step("delete 192.168.44.0/24", func() error { return h.RouteDel(&netlink.Route{Dst: mustNet("192.168.44.0/24")}) })
	step("delete 10.78.0.1 peer 10.78.0.2", func() error {
		a := mustAddr("10.78.0.1/32")
		a.Peer = mustAddr("10.78.0.2/32").IPNet
		return h.AddrDel(v1, a)
	})
	step("v1 down", func() error { return h.LinkSetDown(v1) })
	step("delete v0 and v1", func() error { return h.LinkDel(v0) })

	for _, k := range []noticeKind{routeNotice, addressNotice, linkNotice} {
		if kinds[k] == 0 {
			t.Errorf("no notice of kind %d came: the test compared nothing of that kind", k)
		}
	}
	t.Logf("compared %d route, %d address and %d link notifications", kinds[routeNotice], kinds[addressNotice], kinds[linkNotice])
}

// noticesUntil yields n's notices up to the reply to barrier seq, failing
// on a lost socket or after 2 s.
func noticesUntil(t *testing.T, n *notifications, seq uint32) func(func(notice) bool) {
	return func(yield func(notice) bool) {
		deadline := time.After(2 * time.Second)
		for {
			select {
			case nt := <-n.notices:
				switch {
				case nt.kind == socketLost:
					t.Fatalf("the notification socket failed: %v", nt.err)
				case nt.kind == barrierReply && nt.seq == seq:
					return
				case nt.kind == barrierReply:
					t.Fatalf("the reply to barrier %d came while waiting for %d", nt.seq, seq)
				}
				if !yield(nt) {
					return
				}
			case <-deadline:
				t.Fatalf("no reply to barrier %d within 2 s", seq)
			}
		}
	}
}

// libraryState is what the netlink library reads of the kernel's IPv4
// routes (every table), IPv4 addresses and links.
func libraryState(t *testing.T, h *netlink.Handle) (map[routeKey]netlink.Route, map[string]netlink.Addr, map[int]netlink.Link) {
	t.Helper()
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[routeKey]netlink.Route{}
	for i := range routes {
		byKey[routeKeyOf(&routes[i])] = routes[i]
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]netlink.Addr{}
	for _, a := range addrs {
		byAddr[fmt.Sprint(a.LinkIndex, a.IPNet.String())] = a
	}
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int]netlink.Link{}
	for _, l := range links {
		// LinkByIndex, one at a time, as the brief of the comparison says:
		// the same object as the notification, asked for by its index.
		one, err := h.LinkByIndex(l.Attrs().Index)
		if err != nil {
			t.Fatal(err)
		}
		byIndex[l.Attrs().Index] = one
	}
	return byKey, byAddr, byIndex
}

// routeKeyOf is what the kernel tells routes apart by.
func routeKeyOf(r *netlink.Route) routeKey {
	return routeKey{table: r.Table, to: mustPrefix(r.Dst), tos: r.Tos, metric: r.Priority}
}

// routeFields is r reduced to the fields decodeRoute fills.
func routeFields(r *netlink.Route) netlink.Route {
	out := netlink.Route{Family: r.Family, Dst: r.Dst, Gw: r.Gw, LinkIndex: r.LinkIndex, Priority: r.Priority, Table: r.Table,
		Tos: r.Tos, Protocol: r.Protocol, Scope: r.Scope, Type: r.Type, Flags: r.Flags}
	for _, h := range r.MultiPath {
		out.MultiPath = append(out.MultiPath, &netlink.NexthopInfo{LinkIndex: h.LinkIndex, Hops: h.Hops, Flags: h.Flags, Gw: h.Gw})
	}
	return out
}

// linkFields is what of a link the follower reads (linkOf), with its type
// and hardware address to show the whole message was read; not the
// carrier-dependent flags, which the kernel changes later, on its own.
func linkFields(l netlink.Link) struct {
	Link
	Type, Hardware string
} {
	return struct {
		Link
		Type, Hardware string
	}{linkOf(l), l.Type(), l.Attrs().HardwareAddr.String()}
}

func mustNet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func mustAddr(s string) *netlink.Addr {
	a, err := netlink.ParseAddr(s)
	if err != nil {
		panic(err)
	}
	return a
}

func mustPrefix(n *net.IPNet) netip.Prefix {
	p, ok := prefixOf(n)
	if !ok {
		panic(fmt.Sprintf("not an IPv4 prefix: %v", n))
	}
	return p
}
