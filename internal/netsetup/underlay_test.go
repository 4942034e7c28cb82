package netsetup

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"

	"github.com/vishvananda/netlink"
)

// UnderlayMTU follows the kernel's ip_tunnel_bind_dev: the MTU of the route
// to the remote's device (looked up through dev when given), else dev's,
// else 1500.
func TestUnderlayMTU(t *testing.T) {
	lab.EnterFresh(t)
	for _, d := range []struct {
		name, address string
		mtu           int
	}{
		{"under0", "10.246.0.1/24", 9000},
		{"under1", "10.247.0.1/24", 1400},
	} {
		link, _ := addDevice(t, d.name, d.mtu)
		addr, _ := netlink.ParseAddr(d.address)
		if err := netlink.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dst  string // "" for no remote
		dev  string
		want int
	}{
		{"10.246.0.7", "", 9000},
		{"10.247.0.7", "", 1400},
		{"::ffff:10.246.0.7", "", 9000}, // IPv4-mapped counts as IPv4
		{"", "under1", 1400},
		{"10.246.0.7", "under0", 9000},
		// The kernel, asked for a route through a device that has none,
		// assumes the remote is on that device's link.
		{"10.246.0.7", "under1", 1400},
		{"10.99.0.1", "", 1500},       // no route: this namespace has no default route
		{"10.99.0.1", "under0", 9000}, // no route, but a device
		{"", "nosuch0", 1500},         // neither
		{"fd00::1", "", 1500},         // not an IPv4 remote
		{"0.0.0.0", "under1", 1400},   // unspecified counts as no remote
	}
	for _, tt := range tests {
		var dst netip.Addr
		if tt.dst != "" {
			dst = netip.MustParseAddr(tt.dst)
		}
		if got := UnderlayMTU(dst, tt.dev); got != tt.want {
			t.Errorf("UnderlayMTU(%q, %q) = %d, want %d", tt.dst, tt.dev, got, tt.want)
		}
	}
}

func TestLinkIndex(t *testing.T) {
	lab.EnterFresh(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := LinkIndex("lo"); err != nil || got != lo.Attrs().Index {
		t.Errorf("LinkIndex(\"lo\") = %d, %v; want %d, nil", got, err, lo.Attrs().Index)
	}
	if _, err := LinkIndex("nosuch0"); err == nil || !strings.Contains(err.Error(), "underlay device nosuch0 does not exist") {
		t.Errorf("LinkIndex(\"nosuch0\") error = %v, want one saying it does not exist", err)
	}
	if _, err := LinkIndex("eth0/1"); err == nil || !strings.Contains(err.Error(), "contains '/'") {
		t.Errorf("LinkIndex(\"eth0/1\") error = %v, want one about the name", err)
	}
}

// KernelIPIPLoaded goes by the link type, not the name: a TUN called tunl0
// is not the kernel's fallback tunnel.
func TestKernelIPIPLoaded(t *testing.T) {
	lab.EnterFresh(t)
	addDevice(t, "tunl0", 1500)
	moduleLoaded := false
	for _, path := range []string{"/sys/module/ipip", "/sys/module/tunnel4"} {
		if _, err := os.Stat(path); err == nil {
			moduleLoaded = true
		}
	}
	got, why := KernelIPIPLoaded()
	if got != moduleLoaded {
		t.Errorf("KernelIPIPLoaded() = %v (%q), want %v: the only tunl0 here is a TUN, and the modules are loaded: %v", got, why, moduleLoaded, moduleLoaded)
	}
	if got == (why == "") {
		t.Errorf("KernelIPIPLoaded() = %v, %q: want a reason exactly when true", got, why)
	}
}
