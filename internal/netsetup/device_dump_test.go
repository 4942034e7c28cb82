package netsetup

import (
	"maps"
	"net"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/vishvananda/netlink"
)

// TestDeviceDumpsReadWhatTheLibraryReads compares the kernel-filtered
// dumps with the library's unfiltered ones, on a device among others whose
// routes and addresses the filters must leave out: another device, another
// table, another protocol, a metric.
func TestDeviceDumpsReadWhatTheLibraryReads(t *testing.T) {
	lab.EnterFresh(t)
	link, _ := addDevice(t, testDevice, 1500)
	other, _ := addDevice(t, testDevice+"b", 1500)
	for _, l := range []netlink.Link{link, other} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	index := link.Attrs().Index
	addAddr := func(l netlink.Link, p string) {
		t.Helper()
		a, err := netlink.ParseAddr(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			t.Fatalf("addr add %s: %v", p, err)
		}
	}
	addAddr(link, "192.168.41.1/24")
	addAddr(link, "10.9.9.9/32")
	addAddr(other, "192.168.44.1/24")
	addRoute := func(l netlink.Link, to, via string, table, protocol, metric int) {
		t.Helper()
		_, dst, _ := net.ParseCIDR(to)
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Table: table, Protocol: netlink.RouteProtocol(protocol), Priority: metric}
		if via != "" {
			r.Gw, r.Flags = net.ParseIP(via), int(netlink.FLAG_ONLINK)
		}
		if err := netlink.RouteAdd(r); err != nil {
			t.Fatalf("route add %s: %v", to, err)
		}
	}
	addRoute(link, "192.168.42.0/24", "10.245.1.3", 254, RouteProtocol, 0)
	addRoute(link, "192.168.43.0/24", "", 254, RouteProtocol, 0)
	addRoute(link, "0.0.0.0/0", "10.245.1.4", 254, RouteProtocol, 0)
	addRoute(link, "192.168.45.0/24", "10.245.1.5", 254, 4, 0)             // not ipipd's
	addRoute(link, "192.168.46.0/24", "10.245.1.6", 254, RouteProtocol, 5) // a metric
	addRoute(link, "192.168.47.0/24", "10.245.1.7", 1000, RouteProtocol, 0)
	addRoute(other, "192.168.48.0/24", "10.245.1.8", 254, RouteProtocol, 0)

	for _, table := range []int{254, 1000} {
		got, err := heldRoutes(index, table)
		if err != nil {
			t.Fatal(err)
		}
		want := map[Route]bool{}
		all, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table, LinkIndex: index, Protocol: RouteProtocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			if r.Priority != 0 || r.Tos != 0 {
				continue
			}
			to := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if r.Dst != nil {
				to, _ = prefixOf(r.Dst)
			}
			gw, _ := netip.AddrFromSlice(r.Gw)
			want[Route{To: to, Via: gw.Unmap()}] = true
		}
		if len(want) == 0 || !maps.Equal(got, want) {
			t.Errorf("table %d: heldRoutes = %v, want %v", table, got, want)
		}
	}

	got, err := heldAddresses(index)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix]bool{}
	for _, a := range addrs {
		p, _ := prefixOf(a.IPNet)
		want[p] = true
	}
	if len(want) != 2 || !maps.Equal(got, want) {
		t.Errorf("heldAddresses = %v, want %v", got, want)
	}
}
