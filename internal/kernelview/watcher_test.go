package kernelview

import (
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
	"github.com/vishvananda/netlink"
)

// watch starts a Watcher on a TUN device named name in a fresh namespace,
// with the device up, and returns it with its ifindex and a channel of its
// Views.
func watch(t *testing.T, name string) (*Watcher, int, <-chan *View) {
	t.Helper()
	lab.EnterFresh(t)
	dev, err := tun.OpenWater(name)
	if err != nil {
		t.Fatalf("open TUN %s: %v", name, err)
	}
	t.Cleanup(func() { dev.Close() })
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	views := make(chan *View, 1024)
	w, err := Start(Options{Publish: func(v *View) { views <- v }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	// A fresh namespace has no local table until its first address;
	// without one the kernel refuses every onlink gateway ("Nexthop has
	// invalid gateway": fib_check_nh_v4_gw finds the gateway's type there).
	// A node always has its underlay's address.
	ip(t, "addr", "add", "10.245.1.2/24", "dev", "lo")
	index := link.Attrs().Index
	w.Watch(map[int]int{index: 254})
	return w, index, views
}

// ip runs ip(8) in the test's namespace: the goroutine's thread is in it,
// and a child process inherits the namespace of the thread that forks it.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// await returns the first View that satisfies ok, failing after 2 s: the
// watcher must follow the kernel within a second.
func await(t *testing.T, views <-chan *View, what string, ok func(*View) bool) *View {
	t.Helper()
	deadline := time.After(2 * time.Second)
	var last *View
	for {
		select {
		case v := <-views:
			if ok(v) {
				return v
			}
			last = v
		case <-deadline:
			t.Fatalf("no view with %s within 2 s; the last one: %+v", what, last)
			return nil
		}
	}
}

func routeVias(v *View, index int, to string) []string {
	var out []string
	for _, r := range v.Routes[index] {
		if r.To.String() == to {
			out = append(out, r.Via.String())
		}
	}
	return out
}

func TestWatcherFollowsRoutes(t *testing.T) {
	_, index, views := watch(t, "tunl0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	v := await(t, views, "the added route", func(v *View) bool {
		return slices.Equal(routeVias(v, index, "192.168.42.0/24"), []string{"10.245.1.3"})
	})
	if r := v.Routes[index][0]; r.Protocol != 3 || r.Table != 254 || r.Weight != 1 {
		t.Errorf("route %+v: want protocol 3 (boot, as ip route sets it), table 254, weight 1", r)
	}

	ip(t, "route", "replace", "192.168.42.0/24", "via", "10.245.1.99", "dev", "tunl0", "onlink")
	await(t, views, "the replaced route", func(v *View) bool {
		return slices.Equal(routeVias(v, index, "192.168.42.0/24"), []string{"10.245.1.99"})
	})

	// A lower metric wins; the higher one is kept out of the view.
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.7", "dev", "tunl0", "onlink", "metric", "100")
	ip(t, "route", "add", "192.168.43.0/24", "dev", "tunl0")
	v = await(t, views, "the second route", func(v *View) bool { return len(routeVias(v, index, "192.168.43.0/24")) == 1 })
	if got := routeVias(v, index, "192.168.42.0/24"); !slices.Equal(got, []string{"10.245.1.99"}) {
		t.Errorf("192.168.42.0/24 next hops %v, want the metric-0 route's 10.245.1.99 only", got)
	}
	if got := routeVias(v, index, "192.168.43.0/24"); got[0] != "invalid IP" {
		t.Errorf("192.168.43.0/24 without a gateway: via %v, want none", got)
	}

	ip(t, "route", "replace", "192.168.44.0/24", "nexthop", "via", "10.245.1.3", "dev", "tunl0", "onlink", "weight", "2",
		"nexthop", "via", "10.245.1.4", "dev", "tunl0", "onlink")
	v = await(t, views, "the multipath route", func(v *View) bool { return len(routeVias(v, index, "192.168.44.0/24")) == 2 })
	for _, r := range v.Routes[index] {
		if r.To.String() == "192.168.44.0/24" && r.Via.String() == "10.245.1.3" && r.Weight != 2 {
			t.Errorf("next hop %+v: weight %d, want 2", r, r.Weight)
		}
	}

	ip(t, "route", "del", "192.168.42.0/24", "metric", "0")
	await(t, views, "the metric-100 route back after the delete", func(v *View) bool {
		return slices.Equal(routeVias(v, index, "192.168.42.0/24"), []string{"10.245.1.7"})
	})
	// iproute2's flush by device matches RTA_OIF, which a multipath route
	// does not carry: it goes by itself.
	ip(t, "route", "del", "192.168.44.0/24")
	ip(t, "route", "flush", "dev", "tunl0")
	await(t, views, "no routes after the flush", func(v *View) bool { return len(v.Routes[index]) == 0 })
}

// A device set down loses its routes in the kernel without any
// RTM_DELROUTE; the view must lose them too, and show the link down.
func TestWatcherFollowsLinks(t *testing.T) {
	_, index, views := watch(t, "tunl0")
	ip(t, "addr", "add", "192.168.41.0/32", "dev", "tunl0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	await(t, views, "the route and the address", func(v *View) bool {
		a, _ := v.FirstAddress(index)
		return len(v.Routes[index]) == 1 && a == netip.MustParseAddr("192.168.41.0")
	})
	ip(t, "link", "set", "tunl0", "mtu", "1400")
	await(t, views, "mtu 1400", func(v *View) bool { return v.Links[index].MTU == 1400 })
	ip(t, "link", "set", "tunl0", "down")
	await(t, views, "the link down, its routes gone", func(v *View) bool {
		return !v.Links[index].Up && len(v.Routes[index]) == 0
	})
	ip(t, "link", "set", "tunl0", "up")
	await(t, views, "the link up", func(v *View) bool { return v.Links[index].Up })
	ip(t, "link", "del", "tunl0")
	v := await(t, views, "the device gone", func(v *View) bool { return v.IsGone(index) })
	if _, ok := v.Links[index]; ok {
		t.Error("a deleted device is still in Links")
	}
}

// Routes through devices that are not watched stay out, and watching a
// device that already has routes reads them.
func TestWatcherReadsRoutesOnWatch(t *testing.T) {
	w, index, views := watch(t, "tunl0")
	other, err := tun.OpenWater("other0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ip(t, "link", "set", "other0", "up")
	ip(t, "route", "add", "10.9.0.0/16", "dev", "other0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	await(t, views, "the tunl0 route", func(v *View) bool { return len(v.Routes[index]) == 1 })
	link, _ := netlink.LinkByName("other0")
	w.Watch(map[int]int{index: 254, link.Attrs().Index: 254})
	v := await(t, views, "other0's route", func(v *View) bool { return len(v.Routes[link.Attrs().Index]) == 1 })
	if got := v.Routes[link.Attrs().Index][0].To; got != netip.MustParsePrefix("10.9.0.0/16") {
		t.Errorf("other0's route %s, want 10.9.0.0/16", got)
	}
}
