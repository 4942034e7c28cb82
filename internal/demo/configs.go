package demo

import (
	"fmt"
	"net/netip"
	"strings"
)

// nodeConfig returns node n's ipipd config file: the fallback tunnel tunl0
// (no local, no remote: one-to-many, like the kernel's tunl0), the node's
// /32 tunnel address, and one route per peer to the peer's /24 via the
// peer's underlay address, the seed's `ip r add … via … dev tunl0 onlink`.
func nodeConfig(n node, all []node) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# ipipd demo: %s of the seed walkthrough's three-node tunl0 mesh.\n", n.Name)
	fmt.Fprintf(&b, "# The kernel equivalent is the `ip` commands ipipd demo prints.\n")
	b.WriteString("tunnels:\n")
	fmt.Fprintf(&b, "  - name: %s\n", tunnelDev)
	fmt.Fprintf(&b, "    mtu: %d\n", tunnelMTU)
	fmt.Fprintf(&b, "    addresses: [%s]\n", netip.PrefixFrom(n.Tunnel, 32))
	b.WriteString("    routes:\n")
	for _, p := range all {
		if p.Name == n.Name {
			continue
		}
		fmt.Fprintf(&b, "      - {to: %s, via: %s}\n", p.Subnet(), p.Underlay)
	}
	return []byte(b.String())
}

// kernelCommands returns what node n would run with the kernel's ipip
// module, as in the seed walkthrough; the demo prints it as the plan.
func kernelCommands(n node, all []node) []string {
	cmds := []string{
		"ip link set " + tunnelDev + " up",
		fmt.Sprintf("ip link set %s mtu %d", tunnelDev, tunnelMTU),
		fmt.Sprintf("ip addr add %s dev %s", netip.PrefixFrom(n.Tunnel, 32), tunnelDev),
	}
	for _, p := range all {
		if p.Name != n.Name {
			cmds = append(cmds, fmt.Sprintf("ip route add %s via %s dev %s onlink", p.Subnet(), p.Underlay, tunnelDev))
		}
	}
	return cmds
}
