package netsetup

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/tun"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Helpers that read the kernel's state back through netlink and /proc, to
// check what Apply, Update and Remove did.

const testDevice = "ipipdt0"

// deviceSysctlPaths are the settings Apply changes on testDevice, by path
// under /proc/sys/net.
func deviceSysctlPaths() []string {
	return []string{
		"ipv6/conf/" + testDevice + "/disable_ipv6",
		"ipv4/conf/" + testDevice + "/accept_local",
		"ipv4/conf/" + testDevice + "/rp_filter",
		"ipv4/conf/" + testDevice + "/promote_secondaries",
	}
}

// addDevice creates a TUN device with package tun, the device Apply is made
// for (this kernel has no dummy module), and closes it when the test ends.
// It starts down, without addresses, at the given MTU.
func addDevice(t *testing.T, name string, mtu int) (netlink.Link, tun.Device) {
	t.Helper()
	dev, err := tun.OpenWater(name)
	if err != nil {
		t.Fatalf("open TUN %s: %v", name, err)
	}
	t.Cleanup(func() { dev.Close() })
	if err := netlink.LinkSetMTU(refresh(t, name), mtu); err != nil {
		t.Fatalf("ip link set %s mtu %d: %v", name, mtu, err)
	}
	return refresh(t, name), dev
}

// refresh reads the device's current attributes.
func refresh(t *testing.T, name string) netlink.Link {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("ip link show %s: %v", name, err)
	}
	return link
}

func isUp(link netlink.Link) bool { return link.Attrs().Flags&net.FlagUp != 0 }

// ipv4Addresses are the device's IPv4 addresses, sorted.
func ipv4Addresses(t *testing.T, link netlink.Link) []netip.Prefix {
	t.Helper()
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("ip -4 addr show %s: %v", link.Attrs().Name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	slices.SortFunc(out, comparePrefixes)
	return out
}

func hasIPv6Address(t *testing.T, link netlink.Link) bool {
	t.Helper()
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatalf("ip -6 addr show %s: %v", link.Attrs().Name, err)
	}
	return len(addrs) > 0
}

// staticRoutes are the device's main-table routes that are not the kernel's
// own (the subnet routes of addresses, "proto kernel"), sorted.
func staticRoutes(t *testing.T, link netlink.Link) []Route {
	t.Helper()
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("ip route show dev %s: %v", link.Attrs().Name, err)
	}
	var out []Route
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw)
		out = append(out, Route{To: toPrefix(r.Dst), Via: gw.Unmap()})
	}
	slices.SortFunc(out, func(a, b Route) int { return comparePrefixes(a.To, b.To) })
	return out
}

// routes parses "P" and "P via G" into Routes, sorted.
func routes(s ...string) []Route {
	out := make([]Route, len(s))
	for i, r := range s {
		to, via, found := strings.Cut(r, " via ")
		out[i].To = netip.MustParsePrefix(to)
		if found {
			out[i].Via = netip.MustParseAddr(via)
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return comparePrefixes(a.To, b.To) })
	return out
}

func toPrefix(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.MustParsePrefix("0.0.0.0/0")
	}
	ip, _ := netip.AddrFromSlice(n.IP.To4())
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip, ones)
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	slices.SortFunc(out, comparePrefixes)
	return out
}

// readSysctls reads the settings Apply changes, by path; a missing file reads
// as "absent".
func readSysctls(t *testing.T, paths []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile("/proc/sys/net/" + p)
		switch {
		case os.IsNotExist(err):
			out[p] = "absent"
		case err != nil:
			t.Fatalf("read /proc/sys/net/%s: %v", p, err)
		default:
			out[p] = strings.TrimSpace(string(b))
		}
	}
	return out
}

func writeProcSys(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/net/"+path, []byte(value), 0); err != nil {
		t.Fatalf("sysctl -w %s=%s: %v", path, value, err)
	}
}

// addRouteByHand adds a route as an operator or another program would.
// takeRoute has another program's device, "other0", up and routing p: an
// "ip route add p dev ipipdt0" then fails with EEXIST, since a main-table
// route is known by prefix, TOS and metric, whatever its device.
func takeRoute(t *testing.T, p string) {
	t.Helper()
	other, _ := addDevice(t, "other0", 1500)
	if err := netlink.LinkSetUp(other); err != nil {
		t.Fatal(err)
	}
	addRouteByHand(t, other, p)
}

func addRouteByHand(t *testing.T, link netlink.Link, p string) {
	t.Helper()
	m := netip.MustParsePrefix(p)
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: net.IP(m.Addr().AsSlice()), Mask: net.CIDRMask(m.Bits(), 32)}}
	if err := netlink.RouteAdd(route); err != nil {
		t.Fatalf("ip route add %s dev %s: %v", p, link.Attrs().Name, err)
	}
}
