package kernelview

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// What the kernel removes without a notification, the View must not keep.

// The last IPv4 address of a device takes every route through it with it
// (fib_inetaddr_event → fib_disable_ip, forced): a Fresh View right after
// must show none, or a reload would leave the tunnel alone without them.
func TestLastAddressTakesTheRoutes(t *testing.T) {
	w, index, views := watch(t, "tunl0")
	ip(t, "addr", "add", "172.16.0.1/30", "dev", "tunl0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink", "proto", "70")
	await(t, views, "the route", func(v *View) bool { return len(routeVias(v, index, "192.168.42.0/24")) == 1 })
	ip(t, "addr", "del", "172.16.0.1/30", "dev", "tunl0")
	link, _ := netlink.LinkByIndex(index)
	if kr, _ := netlink.RouteList(link, netlink.FAMILY_V4); len(kr) != 0 {
		t.Fatalf("the kernel kept %d routes through tunl0 after its last address went; the test assumes none", len(kr))
	}
	if v := w.Fresh(); len(routeVias(v, index, "192.168.42.0/24")) != 0 {
		t.Errorf("the View shows a route the kernel flushed with the last address: %+v", v.Routes[index])
	}
}

// A device going down loses its broadcast routes without a notification;
// deleting its address meanwhile means the up brings none back.
func TestBroadcastGoneWithTheDevice(t *testing.T) {
	w, _, views := watch(t, "tunl0")
	ip(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip(t, "link", "set", "v0", "up")
	ip(t, "link", "set", "v1", "up")
	ip(t, "addr", "add", "10.77.1.1/24", "brd", "+", "dev", "v0")
	brd, addr := netip.MustParseAddr("10.77.1.255"), netip.MustParseAddr("10.77.1.1")
	await(t, views, "the broadcast address", func(v *View) bool { _, ok := v.Broadcast[brd]; return ok })
	ip(t, "link", "set", "v0", "down")
	if v := w.Fresh(); v != nil {
		if _, ok := v.Broadcast[brd]; ok {
			t.Errorf("v0 down: the View keeps its broadcast address")
		}
		if _, ok := v.Local[addr]; !ok {
			t.Errorf("v0 down: the View lost its local address, which the kernel keeps")
		}
	}
	ip(t, "addr", "del", "10.77.1.1/24", "dev", "v0")
	ip(t, "link", "set", "v0", "up")
	v := w.Fresh()
	if _, ok := v.Broadcast[brd]; ok {
		t.Errorf("after down, address deleted, up: the View keeps the broadcast address")
	}
	if _, ok := v.Local[addr]; ok {
		t.Errorf("after the address was deleted: the View keeps it local")
	}
}
