package demo

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/config"
)

// TestNodeConfigParses checks each generated file is accepted by ipipd's own
// parser and says what the seed's ip commands say.
func TestNodeConfigParses(t *testing.T) {
	nodes := meshNodes("test00")
	for _, n := range nodes {
		t.Run(n.Name, func(t *testing.T) {
			data := nodeConfig(n, nodes)
			cfg, err := config.Parse(n.Name+".yaml", data)
			if err != nil {
				t.Fatalf("config.Parse refused the generated file: %v\n%s", err, data)
			}
			if len(cfg.Tunnels) != 1 {
				t.Fatalf("got %d tunnels, want 1", len(cfg.Tunnels))
			}
			tun := cfg.Tunnels[0]
			if tun.Name != "tunl0" || tun.MTU != 1480 || !tun.IsFallback() {
				t.Errorf("tunnel: name %q mtu %d fallback %v; want tunl0, 1480, the fallback tunnel", tun.Name, tun.MTU, tun.IsFallback())
			}
			if want := []netip.Prefix{netip.PrefixFrom(n.Tunnel, 32)}; len(tun.Addresses) != 1 || tun.Addresses[0] != want[0] {
				t.Errorf("addresses %v, want %v", tun.Addresses, want)
			}
			var routes []string
			for _, r := range tun.Routes {
				routes = append(routes, r.To.String()+" via "+r.Via.String())
			}
			var want []string
			for _, p := range nodes {
				if p.Name != n.Name {
					want = append(want, p.Subnet().String()+" via "+p.Underlay.String())
				}
			}
			if strings.Join(routes, ", ") != strings.Join(want, ", ") {
				t.Errorf("routes %v, want %v", routes, want)
			}
		})
	}
}

func TestNodeConfigNode1IsTheBriefsFile(t *testing.T) {
	nodes := meshNodes("test00")
	got := string(nodeConfig(nodes[0], nodes))
	for _, line := range []string{
		"tunnels:\n  - name: tunl0\n    mtu: 1480\n    addresses: [192.168.41.0/32]\n    routes:\n",
		"      - {to: 192.168.42.0/24, via: 10.245.1.3}\n      - {to: 192.168.43.0/24, via: 10.245.1.4}\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("node1's config lacks\n%s\ngot:\n%s", line, got)
		}
	}
	cmds := strings.Join(kernelCommands(nodes[0], nodes), "\n")
	if want := "ip route add 192.168.42.0/24 via 10.245.1.3 dev tunl0 onlink"; !strings.Contains(cmds, want) {
		t.Errorf("kernel commands lack %q:\n%s", want, cmds)
	}
}
