package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// The addresses of a ManyTunnels config, meant for a namespace of its own
// (bench/cmd/ipiptunnels): every tunnel's local is ManyTunnelsLocal, each
// has its own remote in ManyTunnelsRemotes (so each (local, remote) pair is
// distinct, as ip_tunnel_lookup keys tunnels) and its own /32 address, and
// route r is the /28 number r of 10.64.0.0/10, through tunnel r mod N.
var (
	ManyTunnelsLocal   = netip.MustParseAddr("10.31.0.1")
	ManyTunnelsRemotes = "10.32.0.0/16"
	remoteBase         = netip.MustParseAddr("10.32.0.1")
	addressBase        = netip.MustParseAddr("10.16.0.1")
	routeBase          = netip.MustParseAddr("10.64.0.0")
)

// The most tunnels and routes ManyTunnels has addresses for.
const (
	MaxManyTunnels = 60000   // 10.32.0.0/16 holds the remotes
	MaxManyRoutes  = 1 << 18 // 10.64.0.0/10 in /28s
)

// nth is base plus n.
func nth(base netip.Addr, n int) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// tunnelName is tunnel i's device name.
func tunnelName(i int) string { return fmt.Sprintf("t%d", i) }

// ManyTunnels is the YAML of n point-to-point tunnels and m routes dealt
// out over them; extra routes are added to tunnel 0 (a reload that changes
// one tunnel). backend is "offload" or "water". bench/cmd/ipiptunnels runs
// ipipd on it, and internal/config times its parsing.
func ManyTunnels(n, m, extra int, backend string) string {
	var b strings.Builder
	b.Grow(n*120 + m*30)
	b.WriteString("tunnels:\n")
	perTunnel := make([][]int, n)
	for r := 0; r < m; r++ {
		perTunnel[r%n] = append(perTunnel[r%n], r)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: %s\n    local: %s\n    remote: %s\n    tun: %s\n    addresses: [%s/32]\n",
			tunnelName(i), ManyTunnelsLocal, nth(remoteBase, i), backend, nth(addressBase, i))
		routes := perTunnel[i]
		if i == 0 {
			for e := 0; e < extra; e++ {
				routes = append(routes, m+e)
			}
		}
		if len(routes) == 0 {
			continue
		}
		b.WriteString("    routes:\n")
		for _, r := range routes {
			fmt.Fprintf(&b, "      - {to: %s/28}\n", nth(routeBase, r*16))
		}
	}
	return b.String()
}
