package kernelview

import (
	"net/netip"
	"slices"
)

// View is what the kernel holds for the watched devices at one moment. It
// is never changed after it is handed out.
type View struct {
	// Links holds every watched device that exists, by ifindex.
	Links map[int]Link
	// Routes holds, by the ifindex of a watched device, the next hops
	// through it of the routes its table holds: for each prefix the route
	// with the lowest metric among those through this device (the kernel's
	// fib_table_lookup takes the lowest of all; a lower one through another
	// device means the kernel sends nothing here for that prefix). Routes
	// with a TOS are left out.
	Routes map[int][]Route
	// Addresses holds each watched device's IPv4 addresses, oldest first.
	Addresses map[int][]netip.Prefix
	// Gone lists the watched devices deleted since the previous View.
	Gone []int
	// Watched is the devices this View follows, each with its routing
	// table, as the last Watch before it named them: a device not in it
	// may be newer than the View, which then says nothing of it.
	Watched map[int]int
	// Local and Broadcast are this host's own addresses and its broadcast
	// addresses, whatever the device: the local table's routes of type
	// local (/32) and broadcast (`ip route show table local`), which the
	// kernel's inet_addr_type and icmp_send consult. Never changed.
	Local, Broadcast map[netip.Addr]struct{}
}

// Link is one device's state.
type Link struct {
	Index int
	Name  string
	Up    bool // IFF_UP: `ip link set DEV up`
	MTU   int
	// Downs counts the times the device went down while watched: a down
	// and up between two Views shows Up in both, and only this says that
	// the kernel flushed the device's routes meanwhile.
	Downs int
}

// Route is one next hop of a kernel route through a watched device.
type Route struct {
	To       netip.Prefix
	Via      netip.Addr // the zero Addr: no gateway ("dev tunl0 scope link")
	Table    int
	Metric   int
	Protocol int // rtm_protocol: 4 static (ip route), 12 bird, …
	// Weight is the next hop's share of a multipath route, 1..256
	// (`nexthop via G weight W`); 1 for a plain route.
	Weight int
}

// RouteCount is the number of next hops in the view.
func (v *View) RouteCount() int {
	n := 0
	for _, r := range v.Routes {
		n += len(r)
	}
	return n
}

// FirstAddress is the oldest IPv4 address of device index, the one the
// kernel's icmp_send would pick as the source of an error sent out of it
// (inet_select_addr: the primary address).
func (v *View) FirstAddress(index int) (netip.Addr, bool) {
	a := v.Addresses[index]
	if len(a) == 0 {
		return netip.Addr{}, false
	}
	return a[0].Addr(), true
}

// IsGone reports whether device index was deleted since the previous View.
func (v *View) IsGone(index int) bool { return slices.Contains(v.Gone, index) }
