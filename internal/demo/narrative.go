package demo

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/ipipd/ipipd/internal/lab"
)

// printTopology shows what was built and where.
func (d *demo) printTopology() {
	d.printf("Topology (all of it inside new namespaces; this host's own network is untouched):\n")
	d.printf("  %-6s %-26s bridge %s, one port per node\n", "hub", d.topo.Hub, bridgeName)
	for _, n := range d.topo.Nodes {
		d.printf("  %-6s %-26s %s %-15s %s %s (after ipipd starts)\n", n.Name, n.NS,
			n.Link, netip.PrefixFrom(n.Underlay, underlayBits), tunnelDev, netip.PrefixFrom(n.Tunnel, 32))
	}
}

// printPlan tells what the kernel would do and that ipipd does it instead.
func (d *demo) printPlan() {
	n1 := d.topo.Nodes[0]
	d.printf("\nThe plan. With the kernel's ipip module, each node would run (%s shown):\n", n1.Name)
	for _, c := range kernelCommands(n1, d.topo.Nodes) {
		d.printf("    %s\n", c)
	}
	d.printf("and the others the same with their own address and routes. tunl0 has no local\n" +
		"and no remote: it is the one-to-many fallback tunnel, and each route's `via`\n" +
		"names the peer's underlay address, the outer destination.\n\n")
	d.printf("ipipd does this in userspace, no ipip module needed: `ipipd run` creates tunl0\n"+
		"as a TUN device, puts the address and routes on it, wraps what the kernel routes\n"+
		"into tunl0 in an outer IPv4 header (protocol 4) to the route's `via`, and unwraps\n"+
		"the protocol-4 packets that arrive. %s's config file (%s):\n",
		n1.Name, filepath.Join(d.dir, n1.Name+".yaml"))
	d.printf("%s\n\n", indent(trimNewlines(string(nodeConfig(n1, d.topo.Nodes))), "    "))
	d.printf("The file is one way; the kernel's routing table is what ipipd follows. Without a\n" +
		"file, `ipipd run` makes tunl0 as `modprobe ipip` does, and the commands above, or\n" +
		"a routing daemon such as BIRD, drive it unchanged (docs/migration.md).\n\n")
}

// printKernelRoutes shows the routes node1's kernel holds through tunl0:
// the file's, installed as the kernel's ipip would hold them.
func (d *demo) printKernelRoutes(ctx context.Context) {
	n1 := d.topo.Nodes[0]
	out, err := lab.Run(ctx, lab.CommandTimeout, "ip", "-n", n1.NS, "route", "show", "dev", tunnelDev)
	if err != nil {
		return
	}
	d.printf("  %s's kernel now holds (ip route show dev %s; proto 70 is ipipd's):\n%s\n", n1.Name, tunnelDev, indent(trimNewlines(out), "    "))
}

// packetFile is where the captured packet is saved, in explain's hex form.
func (d *demo) packetFile() string { return filepath.Join(d.dir, "packet.hex") }

// pcapFile is where the printed `trace --pcap` command writes.
func (d *demo) pcapFile() string { return filepath.Join(d.dir, "node1.pcapng") }

// printWatch shows the three ways to watch each rule fire: the trace, the
// trace as a capture with its verdicts, and explain on the saved packet.
func (d *demo) printWatch() {
	n1, n2 := d.topo.Nodes[0], d.topo.Nodes[1]
	bin, sock := d.o.Binary, filepath.Join(d.dir, n1.Name+".sock")
	if d.o.Keep {
		d.printf("\nWatch each rule fire (the mesh is kept, so these run as printed):\n")
	} else {
		d.printf("\nWatch each rule fire: run `ipipd demo --keep`, which leaves the mesh up, then\n" +
			"these commands with its paths (this run's are removed next):\n")
	}
	d.printf("  1. one line per packet, named after the kernel's steps: start the trace, then ping\n")
	d.printf("     from a second terminal (Ctrl-C stops the trace):\n")
	d.printf("       %s trace --control %s\n", bin, sock)
	d.printf("       ip netns exec %s ping -c 3 -I %s %s\n", n1.NS, n1.Tunnel, n2.Tunnel)
	d.printf("  2. the same packets, inner and outer, each with its verdict as a packet comment\n")
	d.printf("     (ping again while it runs):\n")
	d.printf("       %s trace --control %s --pcap %s      (Ctrl-C stops it)\n", bin, sock, d.pcapFile())
	d.printf("       tcpdump -nv -r %s      or: wireshark %s (Packet comments)\n", d.pcapFile(), d.pcapFile())
	d.printf("  3. one packet offline, step by step: the one captured above, or every frame of that file:\n")
	d.printf("       %s explain -c %s %s\n", bin, filepath.Join(d.dir, n2.Name+".yaml"), d.packetFile())
	d.printf("       %s explain -c %s %s\n", bin, filepath.Join(d.dir, n1.Name+".yaml"), d.pcapFile())
	d.printf("  docs/datapath.md follows one ping through the kernel's functions and ipipd's, with exercises.\n")
}

// printKeep says what was left running and how to explore and remove it.
func (d *demo) printKeep() {
	t := d.topo
	if len(t.created) == 0 {
		return
	}
	n1, n2 := t.Nodes[0], t.Nodes[1]
	d.printf("\nKept for exploration: the namespaces, the daemons and their files (%s).\n", d.dir)
	d.printf("  enter a node:     ip netns exec %s bash\n", n1.NS)
	d.printf("  ping across:      ip netns exec %s ping -c 3 -I %s %s\n", n1.NS, n1.Tunnel, n2.Tunnel)
	d.printf("  counters:         ip netns exec %s %s show -s --control %s\n", n1.NS, d.o.Binary, filepath.Join(d.dir, n1.Name+".sock"))
	d.printf("  watch the wire:   ip netns exec %s tcpdump -vni %s ip proto 4\n", n2.NS, n2.Link)
	d.printf("To clean up (SIGTERM first, so each daemon removes what it created):\n")
	var pids []string
	for _, dm := range d.daemons {
		if dm.pid() != 0 && !dm.hasExited() {
			pids = append(pids, fmt.Sprint(dm.pid()))
		}
	}
	if len(pids) > 0 {
		d.printf("  kill %s; sleep 1\n", strings.Join(pids, " "))
	}
	d.printf("  for ns in %s; do ip netns pids $ns | xargs -r kill -9; ip netns delete $ns; done\n", strings.Join(t.created, " "))
	d.printf("  rm -rf %s\n", d.dir)
}

// indent puts prefix before every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// trimNewlines drops trailing newlines, so indent adds no empty last line.
func trimNewlines(s string) string { return strings.TrimRight(s, "\n") }
