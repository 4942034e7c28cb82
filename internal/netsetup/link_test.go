package netsetup

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := Link{
		Name:      "tunl0",
		MTU:       1480,
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.41.1/24"), netip.MustParsePrefix("10.0.0.1/32")},
		Routes:    []Route{{To: netip.MustParsePrefix("192.168.42.0/24")}, {To: netip.MustParsePrefix("0.0.0.0/0")}},
	}
	with := func(change func(l *Link)) Link {
		l := good
		l.Addresses = append([]netip.Prefix(nil), good.Addresses...)
		l.Routes = append([]Route(nil), good.Routes...)
		change(&l)
		return l
	}
	tests := []struct {
		name    string
		link    Link
		wantErr string // "" when valid
	}{
		{"the seed's tunl0", good, ""},
		{"no addresses or routes", Link{Name: "t", MTU: 1480}, ""},
		{"smallest MTU", with(func(l *Link) { l.MTU = 68 }), ""},
		{"largest MTU", with(func(l *Link) { l.MTU = 65515 }), ""},
		{"/31 address", with(func(l *Link) { l.Addresses = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/31")} }), ""},
		{"empty name", with(func(l *Link) { l.Name = "" }), "empty device name"},
		{"name with a slash", with(func(l *Link) { l.Name = "../x" }), "contains '/'"},
		{"zero MTU", with(func(l *Link) { l.MTU = 0 }), "mtu 0 is out of range: must be 68..65515"},
		{"MTU below IPv4's minimum", with(func(l *Link) { l.MTU = 67 }), "must be 68..65515"},
		{"MTU leaves no room for the outer header", with(func(l *Link) { l.MTU = 65516 }), "must be 68..65515"},
		{"IPv6 address", with(func(l *Link) { l.Addresses[0] = netip.MustParsePrefix("fd00::1/64") }), "address fd00::1/64: not IPv4"},
		{"IPv4-mapped IPv6 address", with(func(l *Link) { l.Addresses[0] = netip.MustParsePrefix("::ffff:10.0.0.1/128") }), "not IPv4"},
		{"zero address", with(func(l *Link) { l.Addresses[0] = netip.Prefix{} }), "not a valid prefix"},
		{"address twice", with(func(l *Link) { l.Addresses[1] = l.Addresses[0] }), "address 192.168.41.1/24 is listed twice"},
		{"IPv6 route", with(func(l *Link) { l.Routes[0].To = netip.MustParsePrefix("fd00::/64") }), "route fd00::/64: not IPv4"},
		{"route with host bits", with(func(l *Link) { l.Routes[0].To = netip.MustParsePrefix("192.168.42.1/24") }), "only the network address, 192.168.42.0/24"},
		{"route twice", with(func(l *Link) { l.Routes[1] = l.Routes[0] }), "route 192.168.42.0/24 is listed twice"},
		{"route equal to an address's subnet", with(func(l *Link) { l.Routes[0].To = netip.MustParsePrefix("192.168.41.0/24") }), "subnet route of address 192.168.41.1/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.link.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultTunnelMTU(t *testing.T) {
	tests := []struct {
		underlay, want int
	}{
		{1500, 1480}, // Ethernet
		{9000, 8980}, // jumbo frames
		{1280, 1260}, // an IPv6-minimum link
		{88, 68},     // exactly the floor
		{87, 68},     // clamped to IPv4's minimum
		{0, 68},      // nonsense in, the floor out
		{65535, 65515},
		{65536, 65515}, // loopback: capped at IP_MAX_MTU first
	}
	for _, tt := range tests {
		if got := DefaultTunnelMTU(tt.underlay); got != tt.want {
			t.Errorf("DefaultTunnelMTU(%d) = %d, want %d", tt.underlay, got, tt.want)
		}
	}
}
