package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// routedTunnel builds pmtu.sh's topology: node1 — router — node2, the
// router's link to node2 1300 bytes, a point-to-point tunnel ipip1 between
// node1 (192.168.61.1) and node2 (192.168.62.1) with MTU 1480, warmed up.
// It returns node1 and its daemon.
func routedTunnel(t *testing.T) (*lab.NS, *daemon) {
	t.Helper()
	lab.Require(t)
	requirePing(t)
	node1, router, node2 := lab.New(t, "node1"), lab.New(t, "router"), lab.New(t, "node2")
	lab.Veth(t, node1, "eth0", netip.MustParsePrefix("10.245.1.2/24"), router, "left", netip.MustParsePrefix("10.245.1.1/24"))
	lab.Veth(t, router, "right", netip.MustParsePrefix("10.245.2.1/24"), node2, "eth0", netip.MustParsePrefix("10.245.2.2/24"))
	router.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	router.Run(t, "ip", "link", "set", "dev", "right", "mtu", "1300")
	node2.Run(t, "ip", "link", "set", "dev", "eth0", "mtu", "1300")
	node1.Run(t, "ip", "route", "add", "10.245.2.0/24", "via", "10.245.1.1")
	node2.Run(t, "ip", "route", "add", "10.245.1.0/24", "via", "10.245.2.1")

	tunnel := func(local, remote, addr, peer string) string {
		return fmt.Sprintf(`tunnels:
  - name: ipip1
    local: %s
    remote: %s
    mtu: 1480
    addresses: [%s/32]
    routes: [{to: %s/32}]
`, local, remote, addr, peer)
	}
	d1 := startDaemon(t, node1, "node1", tunnel("10.245.1.2", "10.245.2.2", "192.168.61.1", "192.168.62.1"))
	startDaemon(t, node2, "node2", tunnel("10.245.2.2", "10.245.1.2", "192.168.62.1", "192.168.61.1"))
	warmUp(t, node1, netip.MustParseAddr("192.168.62.1"))
	return node1, d1
}

// TestNoPMTUDiscModes: net.ipv4.ip_no_pmtu_disc in node1's namespace
// decides what the router's frag needed is worth, as icmp_unreach decides
// it before ipip_err.
//
//   - 2 (and 3: tunnel4 validates nothing): discarded. ipipd keeps the path
//     MTU, so it sends the big pings (which the router drops) and answers
//     none of them itself.
//   - 1: taken with MTU 0, which min_pmtu raises to 552 and locks: a DF
//     packet of 532 bytes inside still goes, one of 533 is answered with
//     frag needed, and a 1028-byte packet without DF goes out in fragments
//     (a locked path clears the outer DF) rather than being dropped. (The
//     kernel in node1 applies mode 1 to ipipd's answer too, so ping prints
//     its MTU as 0; the sizes tell the learned MTU instead.)
func TestNoPMTUDiscModes(t *testing.T) {
	node1, d1 := routedTunnel(t)
	dfPing := func(payload int) (string, bool) {
		return ping(node1, "-c", "1", "-W", "1", "-M", "do", "-s", fmt.Sprint(payload), "-I", "192.168.61.1", "192.168.62.1")
	}
	node1.Run(t, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=2")
	before := d1.stats(t, "ipip1")
	for range 3 { // each one reaches the router, which answers frag needed
		dfPing(1400)
	}
	after := d1.stats(t, "ipip1")
	if sent := after.TxPackets - before.TxPackets; sent < 3 || after.ICMPSent != before.ICMPSent {
		t.Fatalf("with ip_no_pmtu_disc=2, 3 big pings: %d sent and %d answered by ipipd; want 3 sent, none answered (the router's frag needed discarded)",
			sent, after.ICMPSent-before.ICMPSent)
	}
	// The discarded errors are counted where an operator looks.
	if g := d1.show(t).Global; g.FragNeededDiscarded == 0 || g.OuterErrors != 0 {
		t.Errorf("show: %d frag needed discarded, %d outer errors received; want the router's counted as discarded, none passed on", g.FragNeededDiscarded, g.OuterErrors)
	}

	node1.Run(t, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1")
	dfPing(1400) // lost at the router, whose frag needed now counts
	deadline := time.Now().Add(10 * time.Second)
	for d1.stats(t, "ipip1").ICMPSent == after.ICMPSent && time.Now().Before(deadline) {
		dfPing(505)
	}
	if d1.stats(t, "ipip1").ICMPSent == after.ICMPSent {
		t.Fatal("with ip_no_pmtu_disc=1, ipipd never answered a 533-byte DF packet: the path MTU did not fall to 552")
	}
	if out, ok := dfPing(504); !ok {
		t.Errorf("with ip_no_pmtu_disc=1, a 532-byte DF ping (path MTU 552) failed:\n%s", out)
	}
	if out, ok := ping(node1, "-c", "1", "-W", "1", "-M", "dont", "-s", "1000", "-I", "192.168.61.1", "192.168.62.1"); !ok {
		t.Errorf("with ip_no_pmtu_disc=1, a 1028-byte ping without DF on the locked 552-byte path failed (the kernel fragments it):\n%s", out)
	}
}

// TestPathMTUFromRouter is selftests/net/pmtu.sh's pmtu_ipv4_ipv4_exception
// in ipipd's terms: a router between the tunnel's ends has a 1300-byte link.
//
// Kernel behaviour checked:
//   - the router answers an outer DF packet too big for its link with ICMP
//     frag needed, mtu 1300, to the outer source;
//   - ipip_err: that error about an outer packet lowers the path MTU toward
//     the remote;
//   - tnl_update_pmtu: the next inner DF packet above 1300 - 20 is answered
//     with ICMP frag needed, mtu = 1280, to the inner sender, and one that
//     fits goes through.
func TestPathMTUFromRouter(t *testing.T) {
	node1, d1 := routedTunnel(t)

	// 1400 + 28 = 1428 bytes inside, 1448 outside: the router refuses it.
	// The first ping is lost on the way and teaches ipipd the path MTU; from
	// then on ipipd answers frag needed itself.
	out := pingUntilFragNeeded(node1)
	if !strings.Contains(out, "Frag needed and DF set (mtu = 1280)") {
		t.Fatalf("ping -M do -s 1400 across a 1300-byte router link never got frag needed with mtu 1280 from ipipd:\n%s", out)
	}
	if s := d1.stats(t, "ipip1"); s.ICMPSent == 0 || s.TxErrors == 0 {
		t.Errorf("node1 ipip1 ICMPSent %d, TxErrors %d: want both counted", s.ICMPSent, s.TxErrors)
	}
	// 1252 + 28 = 1280: fits the learned path.
	if out, ok := ping(node1, "-c", "1", "-M", "do", "-s", "1252", "-I", "192.168.61.1", "192.168.62.1"); !ok {
		t.Errorf("a 1280-byte DF ping on the 1300-byte path failed:\n%s", out)
	}
}

// TestPathMTUOfTheUnderlay: the fallback tunnel's outer route leaves by a
// 1400-byte link while the tunnel's MTU says 1480. As tnl_update_pmtu
// takes dst_mtu of the outer route for each packet, a 1428-byte inner DF
// packet must be answered with frag needed, mtu = 1380, not sent into the
// raw socket's EMSGSIZE (a black hole for the sender).
func TestPathMTUOfTheUnderlay(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 2)
	for _, ns := range l.nodes {
		ns.Run(t, "ip", "link", "set", "dev", "eth0", "mtu", "1400")
	}
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	warmUp(t, l.nodes[0], tunnelAddr(1))

	out, _ := ping(l.nodes[0], "-c", "1", "-M", "do", "-s", "1400", tunnelAddr(1).String())
	if !strings.Contains(out, "Frag needed and DF set (mtu = 1380)") {
		t.Fatalf("a 1428-byte DF ping over a 1400-byte underlay did not get frag needed, mtu 1380, from ipipd:\n%s", out)
	}
	if s := node1.stats(t, "tunl0"); s.ICMPSent == 0 {
		t.Errorf("node1 tunl0 ICMPSent %d, want the frag needed counted", s.ICMPSent)
	}
	if out, ok := ping(l.nodes[0], "-c", "1", "-M", "do", "-s", "1352", tunnelAddr(1).String()); !ok {
		t.Errorf("a 1380-byte DF ping, which fits, failed:\n%s", out)
	}
}

// pingUntilFragNeeded sends node1's 1428-byte DF ping to 192.168.62.1, once
// a 200 ms, until ping reports a frag needed with mtu 1280 or 10 s have
// passed, and returns ping's last output.
func pingUntilFragNeeded(node1 *lab.NS) string {
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out, _ = ping(node1, "-c", "1", "-M", "do", "-s", "1400", "-I", "192.168.61.1", "192.168.62.1")
		if strings.Contains(out, "mtu = 1280") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return out
}
