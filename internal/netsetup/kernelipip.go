package netsetup

import (
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
)

// KernelIPIPLoaded reports whether the kernel itself handles IPIP packets in
// this network namespace, and how it found out, so that the daemon can warn:
// the kernel then also processes every IPIP packet ipipd receives on its raw
// socket, and answers those no kernel tunnel matches with ICMP port
// unreachable (tunnel4_rcv), or decapsulates a duplicate when tunl0 is up.
//
// It looks, in order, for:
//   - a link tunl0 of type ipip in this namespace (ip -d link show tunl0),
//     which the ipip module creates in every namespace;
//   - /sys/module/ipip, the ipip module loaded or built in (it may have been
//     kept out of this namespace by net.core.fb_tunnels_only_for_init_net);
//   - /sys/module/tunnel4, the protocol-4 demultiplexer that ipip, sit and
//     xfrm4_tunnel register with, which sends the ICMP answers above.
//
// The second result is empty when the first is false.
func KernelIPIPLoaded() (bool, string) {
	if link, err := netlink.LinkByName("tunl0"); err == nil && link.Type() == "ipip" {
		return true, "link tunl0 of type ipip exists in this network namespace: the kernel's ipip module is loaded and receives the same IPIP packets as ipipd (unload it with `modprobe -r ipip`, or at least keep tunl0 down)"
	}
	for _, module := range []struct{ name, meaning string }{
		{"ipip", "the kernel's ipip module is loaded"},
		{"tunnel4", "a kernel IPIP handler (ipip, sit or xfrm4_tunnel) is loaded"},
	} {
		path := "/sys/module/" + module.name
		if _, err := os.Stat(path); err == nil {
			return true, fmt.Sprintf("%s exists: %s, so the kernel also processes IPIP packets and answers those no kernel tunnel matches with ICMP port unreachable", path, module.meaning)
		}
	}
	return false, ""
}
