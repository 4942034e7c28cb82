package netsetup

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// seedLink is the seed example's tunl0, on the test device.
func seedLink() Link {
	return Link{
		Name:      testDevice,
		MTU:       1480,
		Addresses: prefixes("192.168.41.1/24", "10.9.9.9/32"),
		Routes:    routes("192.168.42.0/24 via 10.245.1.3", "192.168.43.0/24"),
	}
}

// Apply sets every part of the configuration, and Remove puts the device
// back as it was, twice over.
func TestApplyThenRemove(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	sysctlsBefore := readSysctls(t, deviceSysctlPaths())

	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	link := refresh(t, testDevice)
	if got := link.Attrs().MTU; got != 1480 {
		t.Errorf("MTU = %d, want 1480", got)
	}
	if !isUp(link) {
		t.Errorf("%s is down after Apply, want up", testDevice)
	}
	if got, want := ipv4Addresses(t, link), prefixes("192.168.41.1/24", "10.9.9.9/32"); !slices.Equal(got, want) {
		t.Errorf("addresses = %v, want %v", got, want)
	}
	// `ip addr add` without `brd` sets no broadcast address.
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
	for _, a := range addrs {
		if a.Broadcast != nil {
			t.Errorf("address %s has broadcast %s, want none, as `ip addr add` without brd", a.IPNet, a.Broadcast)
		}
	}
	if got, want := staticRoutes(t, link), seedLink().Routes; !slices.Equal(got, want) {
		t.Errorf("routes = %v, want %v", got, want)
	}
	wantSysctls := map[string]string{
		"ipv6/conf/" + testDevice + "/disable_ipv6":        "1",
		"ipv4/conf/" + testDevice + "/accept_local":        "0",
		"ipv4/conf/" + testDevice + "/rp_filter":           readSysctls(t, []string{"ipv4/conf/default/rp_filter"})["ipv4/conf/default/rp_filter"],
		"ipv4/conf/" + testDevice + "/promote_secondaries": "1",
	}
	if got := readSysctls(t, deviceSysctlPaths()); !maps.Equal(got, wantSysctls) {
		t.Errorf("sysctls = %v, want %v", got, wantSysctls)
	}
	if hasIPv6Address(t, link) {
		t.Errorf("%s has an IPv6 address after Apply; IPv6 should be off before it comes up", testDevice)
	}
	if got := applied.Warnings(); len(got) != 0 {
		t.Errorf("Warnings() = %q, want none with net.ipv4.conf.all.accept_local=0", got)
	}

	for i := range 2 {
		if err := applied.Remove(); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
		link = refresh(t, testDevice)
		if got := link.Attrs().MTU; got != 1500 {
			t.Errorf("after Remove #%d: MTU = %d, want 1500 back", i+1, got)
		}
		if isUp(link) {
			t.Errorf("after Remove #%d: %s is up, want down as before", i+1, testDevice)
		}
		if got := ipv4Addresses(t, link); len(got) != 0 {
			t.Errorf("after Remove #%d: addresses %v left", i+1, got)
		}
		if got := staticRoutes(t, link); len(got) != 0 {
			t.Errorf("after Remove #%d: routes %v left", i+1, got)
		}
		if got := readSysctls(t, deviceSysctlPaths()); !maps.Equal(got, sysctlsBefore) {
			t.Errorf("after Remove #%d: sysctls = %v, want %v back", i+1, got, sysctlsBefore)
		}
	}
	if err := applied.Update(seedLink()); err == nil || !strings.Contains(err.Error(), "Apply it again") {
		t.Errorf("Update after Remove = %v, want an error saying to Apply again", err)
	}
}

// A step the kernel refuses midway undoes the steps before it, names itself
// and its object, and leaves alone what Apply did not create.
func TestApplyUndoesEverythingWhenAStepFails(t *testing.T) {
	lab.EnterFresh(t)
	takeRoute(t, "192.168.77.0/24")
	addDevice(t, testDevice, 1500)
	sysctlsBefore := readSysctls(t, deviceSysctlPaths())

	l := seedLink()
	// A gateway that is the device's own address: the kernel refuses it
	// (fib_check_nh_v4_gw: "Nexthop has invalid gateway").
	l.Routes = routes("192.168.76.0/24", "192.168.77.0/24 via 192.168.41.1", "192.168.78.0/24")
	applied, err := Apply(l)
	if err == nil {
		applied.Remove()
		t.Fatal("Apply succeeded with a gateway the kernel refuses, want an error")
	}
	if want := "add route 192.168.77.0/24 via 192.168.41.1 dev ipipdt0: invalid argument"; err.Error() != want {
		t.Errorf("Apply error = %q, want %q", err, want)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("Apply error does not wrap EINVAL: %#v", err)
	}

	link := refresh(t, testDevice)
	if link.Attrs().MTU != 1500 || isUp(link) {
		t.Errorf("after the failed Apply: MTU %d, up %v; want 1500 and down as before", link.Attrs().MTU, isUp(link))
	}
	if got := ipv4Addresses(t, link); len(got) != 0 {
		t.Errorf("after the failed Apply: addresses %v left", got)
	}
	if got := staticRoutes(t, link); len(got) != 0 {
		t.Errorf("after the failed Apply: routes %v left (192.168.76.0/24 was added before the failure)", got)
	}
	if got := readSysctls(t, deviceSysctlPaths()); !maps.Equal(got, sysctlsBefore) {
		t.Errorf("after the failed Apply: sysctls = %v, want %v back", got, sysctlsBefore)
	}
	if got := staticRoutes(t, refresh(t, "other0")); !slices.Equal(got, routes("192.168.77.0/24")) {
		t.Errorf("the other device's routes = %v; the rollback must not touch them", got)
	}
}

// A route someone else already holds for a prefix (an operator, a routing
// daemon) is theirs: Apply neither fails nor replaces it, says so in a
// warning, and Remove leaves it.
func TestApplyLeavesAnotherOwnersRoute(t *testing.T) {
	lab.EnterFresh(t)
	takeRoute(t, "192.168.42.0/24")
	addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply over another owner's route: %v, want it to carry on", err)
	}
	if got := applied.Routes(); !slices.Equal(got, routes("192.168.43.0/24")) {
		t.Errorf("Routes() = %v, want only 192.168.43.0/24 (192.168.42.0/24 is other0's)", got)
	}
	warnings := strings.Join(applied.Warnings(), "; ")
	if !strings.Contains(warnings, "route 192.168.42.0/24 is already in the kernel (proto boot dev other0)") {
		t.Errorf("warnings %q, want one naming the route and its owner", warnings)
	}
	if err := applied.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := staticRoutes(t, refresh(t, "other0")); !slices.Equal(got, routes("192.168.42.0/24")) {
		t.Errorf("other0's routes after Remove = %v, want its 192.168.42.0/24 left", got)
	}
}

// A down and up flushes the device's routes without a word from the kernel;
// Reconcile compares with the kernel and puts them back, via included.
func TestReconcileAfterDownAndUp(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatal(err)
	}
	defer applied.Remove()
	link := refresh(t, testDevice)
	if err := netlink.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	if got := staticRoutes(t, refresh(t, testDevice)); len(got) != 0 {
		t.Fatalf("routes after down and up = %v; the kernel was expected to flush them", got)
	}
	if err := applied.Reconcile(); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if got := staticRoutes(t, refresh(t, testDevice)); !slices.Equal(got, seedLink().Routes) {
		t.Errorf("routes after Reconcile = %v, want %v", got, seedLink().Routes)
	}
	// The same, through a reload of the same configuration.
	netlink.LinkSetDown(link)
	netlink.LinkSetUp(link)
	if err := applied.Update(seedLink()); err != nil {
		t.Fatal(err)
	}
	if got := staticRoutes(t, refresh(t, testDevice)); !slices.Equal(got, seedLink().Routes) {
		t.Errorf("routes after an Update of the same configuration = %v, want %v back", got, seedLink().Routes)
	}
}

// ipipd's routes are the kernel's ipip routes: via the peer, onlink, with
// ipipd's protocol so that they can be told apart.
func TestRoutesAreInstalledOnlinkWithTheirProtocol(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatal(err)
	}
	defer applied.Remove()
	list, err := netlink.RouteList(refresh(t, testDevice), netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue
		}
		if r.Protocol != RouteProtocol || r.Table != unix.RT_TABLE_MAIN {
			t.Errorf("route %v: protocol %d, table %d; want %d and main", r.Dst, r.Protocol, r.Table, RouteProtocol)
		}
		if r.Gw != nil && r.Flags&int(netlink.FLAG_ONLINK) == 0 {
			t.Errorf("route %v via %v: not onlink", r.Dst, r.Gw)
		}
	}
}

// An address that was on the device before Apply is not Apply's: the
// rollback after it fails to add it again leaves it there.
func TestApplyKeepsAddressesItDidNotAdd(t *testing.T) {
	lab.EnterFresh(t)
	link, _ := addDevice(t, testDevice, 1500)
	own := netlink.Addr{IPNet: netlinkAddr(prefixes("10.9.9.9/32")[0]).IPNet}
	if err := netlink.AddrAdd(link, &own); err != nil {
		t.Fatal(err)
	}

	_, err := Apply(seedLink())
	if want := "add address 10.9.9.9/32 dev ipipdt0: file exists"; err == nil || err.Error() != want {
		t.Fatalf("Apply error = %v, want %q", err, want)
	}
	if got, want := ipv4Addresses(t, refresh(t, testDevice)), prefixes("10.9.9.9/32"); !slices.Equal(got, want) {
		t.Errorf("addresses after the failed Apply = %v, want only the one that was there before, %v", got, want)
	}
}

func TestApplyNeedsAnExistingDevice(t *testing.T) {
	lab.EnterFresh(t)
	_, err := Apply(seedLink())
	if err == nil || !strings.Contains(err.Error(), "device ipipdt0 does not exist") {
		t.Fatalf("Apply on a missing device = %v, want an error saying it does not exist", err)
	}
}

func TestApplyRefusesAnInvalidLinkBeforeTouchingTheKernel(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	l := seedLink()
	l.Routes = append(l.Routes, Route{To: netip.MustParsePrefix("fd00::/64")})
	if _, err := Apply(l); err == nil || !strings.Contains(err.Error(), "not IPv4") {
		t.Fatalf("Apply with an IPv6 route = %v, want the validation error", err)
	}
	link := refresh(t, testDevice)
	if link.Attrs().MTU != 1500 || isUp(link) || len(ipv4Addresses(t, link)) != 0 {
		t.Errorf("Apply changed the device before validating the configuration")
	}
}

// When the TUN closes, the kernel deletes the device with everything on it;
// Remove then has nothing to do and says so with nil.
func TestRemoveAfterTheDeviceIsGone(t *testing.T) {
	lab.EnterFresh(t)
	_, dev := addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if err := applied.Update(seedLink()); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Errorf("Update after the device is gone = %v, want an error saying so", err)
	}
	if err := applied.Remove(); err != nil {
		t.Errorf("Remove after the device is gone = %v, want nil", err)
	}
}

// A host-wide accept_local=1 overrides the device's 0; Apply says so. A
// strict rp_filter is the operator's, left alone and not warned about: the
// daemon's ICMP passes it.
func TestApplyWarnsAboutAcceptLocal(t *testing.T) {
	lab.EnterFresh(t)
	writeProcSys(t, "ipv4/conf/all/rp_filter", "1") // this namespace's only
	writeProcSys(t, "ipv4/conf/all/accept_local", "1")
	addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer applied.Remove()
	warnings := applied.Warnings()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "net.ipv4.conf.all.accept_local=1") {
		t.Errorf("Warnings() = %q, want one about net.ipv4.conf.all.accept_local=1", warnings)
	}
	if got := readSysctls(t, []string{"ipv4/conf/" + testDevice + "/rp_filter"}); got["ipv4/conf/"+testDevice+"/rp_filter"] != readSysctls(t, []string{"ipv4/conf/default/rp_filter"})["ipv4/conf/default/rp_filter"] {
		t.Errorf("Apply changed rp_filter on %s to %v; it is the operator's", testDevice, got)
	}
}

// The kernel takes IPv6 off a device whose MTU drops below 1280 and gives it
// back, with default settings, when the MTU rises again; IPv6 must stay off.
func TestIPv6StaysOffAcrossMTUChanges(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, testDevice, 1500)
	disableIPv6 := "ipv6/conf/" + testDevice + "/disable_ipv6"
	before := readSysctls(t, []string{disableIPv6})[disableIPv6]

	l := seedLink()
	l.MTU = 1000
	applied, err := Apply(l)
	if err != nil {
		t.Fatalf("Apply with MTU 1000: %v", err)
	}
	if got := readSysctls(t, []string{disableIPv6})[disableIPv6]; got != "absent" {
		t.Logf("with MTU 1000, %s = %s (this kernel keeps IPv6 settings below 1280)", disableIPv6, got)
	}
	l.MTU = 1480
	if err := applied.Update(l); err != nil {
		t.Fatalf("Update to MTU 1480: %v", err)
	}
	if got := readSysctls(t, []string{disableIPv6})[disableIPv6]; got != "1" {
		t.Errorf("after raising the MTU to 1480, %s = %s, want 1", disableIPv6, got)
	}
	if hasIPv6Address(t, refresh(t, testDevice)) {
		t.Errorf("%s has an IPv6 address after its MTU rose to 1480", testDevice)
	}
	if err := applied.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := readSysctls(t, []string{disableIPv6})[disableIPv6]; got != before {
		t.Errorf("after Remove, %s = %s, want %s back", disableIPv6, got, before)
	}
}
