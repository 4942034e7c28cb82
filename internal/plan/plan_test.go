package plan

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

const node1 = `tunnels:
  - name: tunl0
    addresses: [192.168.41.0/32]
    routes: [{to: 192.168.42.0/24, via: 10.245.1.3}, {to: 10.9.9.0/24}]
  - name: ipiptun
    local: 10.3.3.3
    remote: 10.4.4.4
    dev: eth9
    routes: [{to: 172.16.9.0/24}]
`

func compileNode1(t *testing.T, links func(string) (int, error)) *Plan {
	t.Helper()
	cfg, err := config.Parse("node1.yaml", []byte(node1))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(cfg, links)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func inner(src, dst string) header.IPv4 {
	b := make([]byte, 20)
	b[0] = 0x45
	copy(b[12:], netip.MustParseAddr(src).AsSlice())
	copy(b[16:], netip.MustParseAddr(dst).AsSlice())
	return header.IPv4(b)
}

// The outer destination as ip_tunnel_xmit picks it, for each kind of route.
func TestOuterDestination(t *testing.T) {
	p := compileNode1(t, func(string) (int, error) { return 7, nil })
	if p.Tunnels[1].Lookup.Link != 7 {
		t.Errorf("dev eth9 resolved to link %d, want 7", p.Tunnels[1].Lookup.Link)
	}
	lt := []lookup.Tunnel{p.Tunnels[0].Lookup, p.Tunnels[1].Lookup}
	routes, err := lookup.NewRouteTable(p.FileRoutes, lt)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		tunnel    int
		remote    string
		dst, want string
		found     bool
	}{
		{"a route's gateway", 0, "", "192.168.42.7", "10.245.1.3", true},
		{"a route without gateway: the inner destination", 0, "", "10.9.9.1", "10.9.9.1", true},
		{"no route: the inner destination, not found", 0, "", "192.168.50.1", "192.168.50.1", false},
		{"a remote always", 1, "10.4.4.4", "192.168.42.7", "10.4.4.4", true},
	}
	for _, tt := range tests {
		var remote uint32
		if tt.remote != "" {
			remote = header.Addr4(netip.MustParseAddr(tt.remote))
		}
		got, found := OuterDestination(routes, tt.tunnel, remote, inner("192.168.41.0", tt.dst))
		if header.AddrFrom32(got).String() != tt.want || found != tt.found {
			t.Errorf("%s: %s (found %v), want %s (found %v)", tt.name, header.AddrFrom32(got), found, tt.want, tt.found)
		}
	}
}

// A file route is installed with the gateway the kernel's ipip would send
// to: its via, else the tunnel's remote, else none.
func TestRouteVia(t *testing.T) {
	p := compileNode1(t, nil)
	want := map[string]string{"192.168.42.0/24": "10.245.1.3", "10.9.9.0/24": "invalid IP", "172.16.9.0/24": "10.4.4.4"}
	for _, r := range p.FileRoutes {
		if got := r.Via.String(); got != want[r.To.String()] {
			t.Errorf("route %s: via %s, want %s", r.To, got, want[r.To.String()])
		}
	}
	if p.Tunnels[1].Lookup.Link != 0 {
		t.Error("without a resolver, dev must be taken as unbound")
	}
}

func TestCompileNamesAnUnknownDev(t *testing.T) {
	cfg, _ := config.Parse("node1.yaml", []byte(node1))
	_, err := Compile(cfg, func(string) (int, error) { return 0, errors.New("underlay device eth9 does not exist") })
	if err == nil || !strings.Contains(err.Error(), `node1.yaml:5: tunnel "ipiptun": dev: underlay device eth9 does not exist`) {
		t.Errorf("err = %v, want the file, line, tunnel and dev named", err)
	}
}
