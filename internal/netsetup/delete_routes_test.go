package netsetup

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/lab"
)

// DeleteRoutes deletes exactly the routes it names, whatever their table
// and metric, more than one write's worth of them, and passes over those
// the kernel does not hold or holds through another device.
func TestDeleteRoutesDeletesThoseNamed(t *testing.T) {
	lab.EnterFresh(t)
	mine, _ := addDevice(t, "mine0", 1500)
	other, _ := addDevice(t, "other0", 1500)
	for _, l := range []netlink.Link{mine, other} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	add := func(l netlink.Link, to netip.Prefix, table, metric int) {
		t.Helper()
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: to.Addr().AsSlice(), Mask: net.CIDRMask(to.Bits(), 32)},
			Table: table, Priority: metric, Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteAdd(r); err != nil {
			t.Fatalf("ip route add %s table %d metric %d: %v", to, table, metric, err)
		}
	}
	var keys []RouteKey
	for i := range 600 { // more than two writes
		to := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 70, byte(i >> 8), byte(i)}), 32)
		table, metric := unix.RT_TABLE_MAIN, 0
		switch i % 3 {
		case 1:
			table = 100
		case 2:
			metric = 20
		}
		add(mine, to, table, metric)
		keys = append(keys, RouteKey{Index: mine.Attrs().Index, Table: table, To: to, Metric: metric})
	}
	// The same prefix through the other device, in another table: kept.
	shared := netip.MustParsePrefix("10.71.0.0/24")
	add(mine, shared, unix.RT_TABLE_MAIN, 0)
	add(other, shared, 101, 0)
	keys = append(keys, RouteKey{Index: mine.Attrs().Index, Table: unix.RT_TABLE_MAIN, To: shared})
	// Not held, and held through the other device: passed over.
	keys = append(keys, RouteKey{Index: mine.Attrs().Index, Table: unix.RT_TABLE_MAIN, To: netip.MustParsePrefix("10.72.0.0/16")})
	keys = append(keys, RouteKey{Index: mine.Attrs().Index, Table: 101, To: shared})

	deleted, err := DeleteRoutes(keys)
	if err != nil {
		t.Fatalf("DeleteRoutes: %v", err)
	}
	if want := 601; deleted != want {
		t.Errorf("deleted %d, want %d", deleted, want)
	}
	left, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var through = map[int][]string{}
	for _, r := range left {
		if r.Table == unix.RT_TABLE_LOCAL || r.Dst == nil {
			continue
		}
		through[r.LinkIndex] = append(through[r.LinkIndex], fmt.Sprintf("%s table %d", r.Dst, r.Table))
	}
	if got := through[mine.Attrs().Index]; len(got) != 0 {
		t.Errorf("routes left through mine0: %v", got)
	}
	if got := through[other.Attrs().Index]; len(got) != 1 {
		t.Errorf("routes through other0 = %v, want its one route in table 101", got)
	}
}
