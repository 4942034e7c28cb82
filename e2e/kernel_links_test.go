package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/lab"
)

// The kernel's ipip follows its devices' link state: ip_tunnel_lookup skips
// a tunnel that is not IFF_UP, and the kernel flushes a device's routes
// when it goes down. ipipd follows its TUN devices the same way, and since
// it is also what installed the file's routes, it puts them back when the
// device comes up again, without a reload.

// meshPair starts the seed's mesh on two nodes, each daemon with its file's
// routes, and checks node1 reaches node2.
func meshPair(t *testing.T) (*lan, []*daemon) {
	t.Helper()
	lab.Require(t)
	l := newLAN(t, 2)
	d := []*daemon{
		startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}, "mtu: 1480")),
		startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}, "mtu: 1480")),
	}
	warmUp(t, l.nodes[0], tunnelAddr(1))
	return l, d
}

// eventually polls cond every 50 ms for up to limit, failing with what.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func TestLinkDownAndUp(t *testing.T) {
	l, d := meshPair(t)
	node1, node2 := l.nodes[0], l.nodes[1]

	node1.Run(t, "ip", "link", "set", "tunl0", "down")
	eventually(t, time.Second, "ipipd show says tunl0 is down", func() bool { return !d[0].tunnel(t, "tunl0").Up })
	// The kernel flushed the routes with the link; node2's packets for
	// node1 now match no tunnel (a down tunl0 is skipped, as in
	// ip_tunnel_lookup) and are answered with port unreachable.
	before := d[0].show(t)
	if err := node2.Ping(tunnelAddr(0), 1500*time.Millisecond); err == nil {
		t.Fatal("node2 reached node1's tunnel address while node1's tunl0 was down")
	}
	after := d[0].show(t)
	if got := delta(t, before, after, "tunl0"); got.RxPackets != 0 {
		t.Errorf("a down tunl0 received %d packets; want 0, as the kernel's lookup skips a down tunnel", got.RxPackets)
	}
	if after.Global.PortUnreachables <= before.Global.PortUnreachables {
		t.Errorf("port unreachables %d → %d; want node2's packets answered, as no tunnel matched", before.Global.PortUnreachables, after.Global.PortUnreachables)
	}

	node1.Run(t, "ip", "link", "set", "tunl0", "up")
	took := eventually(t, 2*time.Second, "node1's file route back in the kernel after up", func() bool {
		return strings.Contains(node1.Run(t, "ip", "route", "show", "dev", "tunl0"), "192.168.42.0/24 via 10.245.1.3 proto 70 onlink")
	})
	t.Logf("route back %v after ip link set up", took)
	if err := node1.Ping(tunnelAddr(1), 5*time.Second); err != nil {
		t.Fatalf("after up: %v", err)
	}
	if !d[0].tunnel(t, "tunl0").Up {
		t.Error("ipipd show still says down")
	}
	// A reload of the same file reports success only with the routes there.
	node1.Run(t, "ip", "link", "set", "tunl0", "down")
	node1.Run(t, "ip", "link", "set", "tunl0", "up")
	d[0].mustReload(t, fallbackConfig(0, []int{1}, "mtu: 1480"))
	if out := node1.Run(t, "ip", "route", "show", "dev", "tunl0"); !strings.Contains(out, "192.168.42.0/24 via 10.245.1.3") {
		t.Errorf("after down, up and a reload: routes %q, want 192.168.42.0/24 via 10.245.1.3", out)
	}
}

func TestLinkMTUFromOutside(t *testing.T) {
	l, d := meshPair(t)
	l.nodes[0].Run(t, "ip", "link", "set", "tunl0", "mtu", "1400")
	eventually(t, time.Second, "ipipd show says mtu 1400", func() bool { return d[0].tunnel(t, "tunl0").MTU == 1400 })
	// The file's mtu did not change: a reload leaves the operator's.
	d[0].mustReload(t, fallbackConfig(0, []int{1}, "mtu: 1480"))
	if got := d[0].tunnel(t, "tunl0").MTU; got != 1400 {
		t.Errorf("after a reload of the same file: mtu %d, want the operator's 1400", got)
	}
	if out := l.nodes[0].Run(t, "ip", "link", "show", "tunl0"); !strings.Contains(out, "mtu 1400") {
		t.Errorf("ip link show tunl0: %q, want mtu 1400", out)
	}
}

func TestLinkDeletedIsMadeAgain(t *testing.T) {
	l, d := meshPair(t)
	node1 := l.nodes[0]
	node1.Run(t, "ip", "link", "del", "tunl0")
	took := eventually(t, 3*time.Second, "tunl0 made again with its route", func() bool {
		out, err := node1.Try("ip", "route", "show", "dev", "tunl0")
		return err == nil && strings.Contains(out, "192.168.42.0/24 via 10.245.1.3")
	})
	t.Logf("tunl0 back %v after ip link del", took)
	if err := node1.Ping(tunnelAddr(1), 5*time.Second); err != nil {
		t.Fatalf("after the device was made again: %v", err)
	}
	if out := d[0].proc.Output(); !strings.Contains(out, "deleted from outside ipipd") {
		t.Errorf("no log line about the deleted device; log:\n%s", out)
	}
	if d[0].exited() {
		t.Error("the daemon exited")
	}
}

// cpuTicks is the daemon's user+system CPU time so far, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// checkLoopDrops sends n pings to dst from node1 and checks each looping
// packet was dropped once, counted as collisions and tx_errors, that no
// path MTU was learned, and that the daemon is idle right after.
func checkLoopDrops(t *testing.T, node *lab.NS, d *daemon, dst string, n int) {
	t.Helper()
	before := d.show(t)
	out, _ := node.Try("ping", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "1", dst)
	time.Sleep(200 * time.Millisecond)
	after := d.show(t)
	find := func(st engine.Status) engine.TunnelStatus {
		for _, ts := range st.Tunnels {
			if ts.Name == "tunl0" {
				return ts
			}
		}
		t.Fatal("no tunl0")
		return engine.TunnelStatus{}
	}
	b, a := find(before), find(after)
	if got := a.Stats.Collisions - b.Stats.Collisions; got != uint64(n) {
		t.Errorf("collisions grew by %d for %d pings to %s, want one per looping packet; ping: %s", got, n, dst, out)
	}
	if got := a.Stats.TxErrors - b.Stats.TxErrors; got != uint64(n) {
		t.Errorf("tx_errors grew by %d, want %d (collisions count as errors, as the kernel's tx_error)", got, n)
	}
	if a.Stats.TxPackets != b.Stats.TxPackets {
		t.Errorf("tx_packets grew by %d: a looping packet went out", a.Stats.TxPackets-b.Stats.TxPackets)
	}
	if after.Global.OuterErrors != before.Global.OuterErrors || a.PathMTU != b.PathMTU {
		t.Errorf("ICMP about outer packets %d → %d, path MTU %d → %d; want none learned from a loop", before.Global.OuterErrors, after.Global.OuterErrors, b.PathMTU, a.PathMTU)
	}
	// Idle at once: no storm left running.
	c0 := cpuTicks(t, d.proc.Pid())
	time.Sleep(time.Second)
	if used := cpuTicks(t, d.proc.Pid()) - c0; used > 5 {
		t.Errorf("the daemon used %d ticks of CPU in the second after the loop; want it idle", used)
	}
	if !strings.Contains(d.proc.Output(), "routing loop") {
		t.Errorf("no log line about the loop")
	}
}

// A route into tunl0 without a via: the outer destination is the inner
// one, which the same route sends into tunl0 again (the 65-deep
// nesting before this guard).
func TestLoopRouteWithoutVia(t *testing.T) {
	l, d := meshPair(t)
	l.nodes[0].Run(t, "ip", "route", "add", "192.168.50.0/24", "dev", "tunl0")
	time.Sleep(300 * time.Millisecond)
	checkLoopDrops(t, l.nodes[0], d[0], "192.168.50.1", 5)
}

// A route that covers the underlay next hop: every outer packet to node2
// is routed into tunl0 (the 110 000 packets/s storm, since the
// inherited TTL never falls). Removing the route heals the mesh at once.
func TestLoopRouteCoveringTheNextHop(t *testing.T) {
	l, d := meshPair(t)
	node1 := l.nodes[0]
	node1.Run(t, "ip", "route", "add", "10.245.1.3/32", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	time.Sleep(300 * time.Millisecond)
	checkLoopDrops(t, node1, d[0], tunnelAddr(1).String(), 5)
	node1.Run(t, "ip", "route", "del", "10.245.1.3/32")
	if err := node1.Ping(tunnelAddr(1), 5*time.Second); err != nil {
		t.Fatalf("after the looping route is gone: %v", err)
	}
}

// A reload that moves a tunnel to another routing table is refused with
// the reason: its routes, and a routing daemon's, would stay in the old one.
func TestReloadRefusesATableChange(t *testing.T) {
	_, d := meshPair(t)
	if d[0].reload(t, fallbackConfig(0, []int{1}, "mtu: 1480", "table: 100")) {
		t.Fatal("a reload to table 100 was applied; want it refused")
	}
	if out := d[0].proc.Output(); !strings.Contains(out, "changing the routing table from 254 to 100 needs a restart") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
}
