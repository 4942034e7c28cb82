package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// underlaySubnet is the LAN every test's nodes share, as in the seed.
var underlaySubnet = netip.MustParsePrefix("10.245.1.0/24")

// lan is n nodes on one bridge: node i (0-based) has underlay address
// 10.245.1.(i+2) on eth0, and, by the seed's convention, the tunnel
// address 192.168.(41+i).0 and the subnet 192.168.(41+i).0/24.
type lan struct {
	hub   *lab.NS
	nodes []*lab.NS
	under []netip.Addr
}

// newLAN builds the seed's underlay with n members (node1 … nodeN).
func newLAN(t *testing.T, n int) *lan {
	t.Helper()
	l := &lan{hub: lab.New(t, "hub")}
	for i := range n {
		l.nodes = append(l.nodes, lab.New(t, fmt.Sprintf("node%d", i+1)))
	}
	l.under = lab.NewBridgeLAN(t, l.hub, underlaySubnet, l.nodes...)
	for i, a := range l.under {
		if want := underlayAddr(i); a != want {
			t.Fatalf("node%d got underlay %v, want %v", i+1, a, want)
		}
	}
	return l
}

// underlayAddr is node i's underlay address, 10.245.1.(i+2).
func underlayAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 245, 1, byte(i + 2)})
}

// tunnelAddr is node i's tunnel address, 192.168.(41+i).0.
func tunnelAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 168, byte(41 + i), 0})
}

// tunnelSubnet is node i's tunnel subnet, 192.168.(41+i).0/24.
func tunnelSubnet(i int) netip.Prefix {
	return netip.PrefixFrom(tunnelAddr(i), 24)
}

// fallbackConfig is node i's file in the seed's mesh: one fallback tunnel
// tunl0 (no local, no remote: the kernel's tunl0), the node's /32 tunnel
// address, and a route to each peer's subnet via the peer's underlay
// address (`ip route add SUBNET via PEER dev tunl0 onlink`). extra lines
// are added to the tunnel's keys (indented by the caller as "    key: v").
func fallbackConfig(i int, peers []int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tunnels:\n  - name: tunl0\n")
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	fmt.Fprintf(&b, "    addresses: [%s/32]\n", tunnelAddr(i))
	if len(peers) > 0 {
		b.WriteString("    routes:\n")
		for _, p := range peers {
			fmt.Fprintf(&b, "      - {to: %s, via: %s}\n", tunnelSubnet(p), underlayAddr(p))
		}
	}
	return b.String()
}

// others lists every node index below n except i.
func others(i, n int) []int {
	var out []int
	for j := range n {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}
