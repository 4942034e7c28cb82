package netsetup

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernelEvent is one route or address change the kernel announced.
type kernelEvent struct {
	added  bool
	prefix netip.Prefix
}

// watchDevice subscribes to the kernel's route and address announcements
// for the device (ip monitor route address dev NAME). The subscription
// sockets are opened here, so in this thread's namespace.
func watchDevice(t *testing.T, link netlink.Link) (routes <-chan netlink.RouteUpdate, addrs <-chan netlink.AddrUpdate) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	routeCh := make(chan netlink.RouteUpdate, 64)
	addrCh := make(chan netlink.AddrUpdate, 64)
	if err := netlink.RouteSubscribe(routeCh, done); err != nil {
		t.Fatalf("ip monitor route: %v", err)
	}
	if err := netlink.AddrSubscribe(addrCh, done); err != nil {
		t.Fatalf("ip monitor address: %v", err)
	}
	return routeCh, addrCh
}

// collect gathers the device's route and address announcements until both
// lists contain their stop event, then a little longer for stragglers.
func collect(t *testing.T, link netlink.Link, routeCh <-chan netlink.RouteUpdate, addrCh <-chan netlink.AddrUpdate, stopRoute, stopAddr kernelEvent) (routes, addrs []kernelEvent) {
	t.Helper()
	index := link.Attrs().Index
	deadline := time.After(5 * time.Second)
	var quiet <-chan time.Time
	for {
		if quiet == nil && slices.Contains(routes, stopRoute) && slices.Contains(addrs, stopAddr) {
			quiet = time.After(100 * time.Millisecond)
		}
		select {
		case u := <-routeCh:
			if u.LinkIndex == index && u.Table == unix.RT_TABLE_MAIN && u.Protocol == RouteProtocol {
				routes = append(routes, kernelEvent{u.Type == unix.RTM_NEWROUTE, toPrefix(u.Dst)})
			}
		case u := <-addrCh:
			if u.LinkIndex == index && u.LinkAddress.IP.To4() != nil {
				addrs = append(addrs, kernelEvent{u.NewAddr, toPrefix(&u.LinkAddress)})
			}
		case <-quiet:
			return routes, addrs
		case <-deadline:
			t.Fatalf("kernel announcements so far: routes %v, addresses %v; still waiting for %v and %v", routes, addrs, stopRoute, stopAddr)
		}
	}
}

// Update adds the new routes and addresses before it deletes the old ones,
// leaves alone what both configurations share, and changes the MTU.
func TestUpdateAddsBeforeItDeletes(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	applied, err := Apply(Link{
		Name:      testDevice,
		MTU:       1480,
		Addresses: prefixes("10.0.0.1/24"),
		Routes:    routes("192.168.42.0/24", "192.168.43.0/24"),
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	link := refresh(t, testDevice)
	routeCh, addrCh := watchDevice(t, link)

	// 10.0.0.2/24 joins 10.0.0.1/24's subnet as a secondary address; without
	// promote_secondaries the kernel would delete it with the primary.
	next := Link{
		Name:      testDevice,
		MTU:       1400,
		Addresses: prefixes("10.0.0.2/24"),
		Routes:    routes("192.168.43.0/24", "192.168.44.0/24 via 10.245.1.4"),
	}
	if err := applied.Update(next); err != nil {
		t.Fatalf("Update: %v", err)
	}

	var (
		routeGone = kernelEvent{false, netip.MustParsePrefix("192.168.42.0/24")}
		routeKept = kernelEvent{false, netip.MustParsePrefix("192.168.43.0/24")}
		routeNew  = kernelEvent{true, netip.MustParsePrefix("192.168.44.0/24")}
		addrGone  = kernelEvent{false, netip.MustParsePrefix("10.0.0.1/24")}
		addrNew   = kernelEvent{true, netip.MustParsePrefix("10.0.0.2/24")}
	)
	routes, addrs := collect(t, link, routeCh, addrCh, routeGone, addrGone)
	if i, j := slices.Index(routes, routeNew), slices.Index(routes, routeGone); i < 0 || i > j {
		t.Errorf("route announcements %v: want %v added before %v is deleted", routes, routeNew.prefix, routeGone.prefix)
	}
	if slices.Contains(routes, routeKept) {
		t.Errorf("route announcements %v: %v is in both configurations and must not be deleted", routes, routeKept.prefix)
	}
	if i, j := slices.Index(addrs, addrNew), slices.Index(addrs, addrGone); i < 0 || i > j {
		t.Errorf("address announcements %v: want %v added before %v is deleted", addrs, addrNew.prefix, addrGone.prefix)
	}

	link = refresh(t, testDevice)
	if got := link.Attrs().MTU; got != 1400 {
		t.Errorf("MTU = %d, want 1400", got)
	}
	if got := ipv4Addresses(t, link); !slices.Equal(got, next.Addresses) {
		t.Errorf("addresses = %v, want %v (the new one must survive the old primary's deletion)", got, next.Addresses)
	}
	if got := staticRoutes(t, link); !slices.Equal(got, next.Routes) {
		t.Errorf("routes = %v, want %v", got, next.Routes)
	}
	if got := applied.Routes(); !slices.Equal(got, next.Routes) {
		t.Errorf("Routes() = %v, want %v", got, next.Routes)
	}
	if got := applied.Addresses(); !slices.Equal(got, next.Addresses) {
		t.Errorf("Addresses() = %v, want %v", got, next.Addresses)
	}

	if err := applied.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	link = refresh(t, testDevice)
	if len(staticRoutes(t, link)) != 0 || len(ipv4Addresses(t, link)) != 0 || link.Attrs().MTU != 1500 {
		t.Errorf("after Remove: routes %v, addresses %v, MTU %d; want none, none, 1500",
			staticRoutes(t, link), ipv4Addresses(t, link), link.Attrs().MTU)
	}
}

// A reload whose new route the kernel refuses leaves the running
// configuration as it was: the update's additions and MTU are undone.
func TestUpdateFailureKeepsTheRunningConfiguration(t *testing.T) {
	lab.EnterFresh(t)
	takeRoute(t, "192.168.77.0/24")
	addDevice(t, testDevice, 1500)
	running := seedLink()
	applied, err := Apply(running)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer applied.Remove()

	bad := seedLink()
	bad.MTU = 1400
	bad.Addresses = append(bad.Addresses, prefixes("10.1.1.1/32")...)
	bad.Routes = routes("192.168.42.0/24 via 10.245.1.3", "192.168.50.0/24", "192.168.77.0/24 via 192.168.41.1")
	err = applied.Update(bad)
	if want := "add route 192.168.77.0/24 via 192.168.41.1 dev ipipdt0: invalid argument"; err == nil || err.Error() != want {
		t.Fatalf("Update error = %v, want %q", err, want)
	}

	link := refresh(t, testDevice)
	if got := link.Attrs().MTU; got != running.MTU {
		t.Errorf("MTU = %d after the failed Update, want %d back", got, running.MTU)
	}
	if got := ipv4Addresses(t, link); !slices.Equal(got, running.Addresses) {
		t.Errorf("addresses = %v after the failed Update, want %v", got, running.Addresses)
	}
	if got := staticRoutes(t, link); !slices.Equal(got, running.Routes) {
		t.Errorf("routes = %v after the failed Update, want %v", got, running.Routes)
	}
	if got := applied.Routes(); !slices.Equal(got, running.Routes) {
		t.Errorf("Routes() = %v after the failed Update, want %v", got, running.Routes)
	}
	if got := staticRoutes(t, refresh(t, "other0")); !slices.Equal(got, routes("192.168.77.0/24")) {
		t.Errorf("the other device's routes = %v; the undo must not touch them", got)
	}
}

func TestUpdateRefusesAnotherDevice(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer applied.Remove()
	l := seedLink()
	l.Name = "ipiptun"
	if err := applied.Update(l); err == nil || !strings.Contains(err.Error(), "cannot move to another device") {
		t.Errorf("Update to another device = %v, want an error saying it cannot", err)
	}
	l = seedLink()
	l.MTU = 20
	if err := applied.Update(l); err == nil || !strings.Contains(err.Error(), "must be 68..65515") {
		t.Errorf("Update with MTU 20 = %v, want the validation error", err)
	}
}

// Removing a device's last address makes the kernel flush every route
// through it without a word (fib_disable_ip): an Update that removes it,
// and UpdateHeld after one that did (a reload's shrink and grow steps),
// must leave the routes the file still asks for in place.
func TestUpdateKeepsRoutesAcrossTheLastAddress(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	withAddress := seedLink()
	withAddress.Addresses = prefixes("172.16.0.1/30")
	without := withAddress
	without.Addresses = nil

	for _, grow := range []string{"Update", "UpdateHeld"} {
		applied, err := Apply(withAddress)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := staticRoutes(t, refresh(t, testDevice)); len(got) != 2 {
			t.Fatalf("routes after Apply: %v", got)
		}
		// The shrink step gives the address up; the grow step asks for
		// the same.
		if err := applied.Update(without); err != nil {
			t.Fatalf("Update without the address: %v", err)
		}
		if got, want := staticRoutes(t, refresh(t, testDevice)), without.Routes; !slices.Equal(got, want) {
			t.Errorf("Update without the address: routes %v, want %v", got, want)
		}
		update := applied.Update
		if grow == "UpdateHeld" {
			update = applied.UpdateHeld
		}
		if err := update(without); err != nil {
			t.Fatalf("%s: %v", grow, err)
		}
		if got, want := staticRoutes(t, refresh(t, testDevice)), without.Routes; !slices.Equal(got, want) {
			t.Errorf("then %s: routes %v, want %v", grow, got, want)
		}
		applied.Remove()
	}
}
