package e2e

import (
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestMTU checks the tunnel MTU against the 1500-byte underlay.
//
// Kernel behaviour checked:
//   - ip_tunnel_bind_dev: the tunnel MTU 1480 (underlay - 20) carries a DF
//     packet of exactly 1480 bytes;
//   - tnl_update_pmtu: with the tunnel MTU above what the path allows (1500
//     on a 1500 underlay), an inner DF packet of 1481 bytes is answered
//     with ICMP frag needed, mtu = 1480, to the inner source, dropped and
//     counted in tx_errors (ipipd writes the ICMP into the TUN: ICMPSent);
//   - iptunnel_xmit with pmtudisc off (the fallback's default): a non-DF
//     inner packet of 1500 bytes leaves as a non-DF outer packet of 1520,
//     fragmented by IP output, and the peer reassembles it (ip_local_deliver
//     before tunnel4_rcv), so it arrives whole.
func TestMTU(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 2)
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	node2 := startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	if got := node1.tunnel(t, "tunl0").MTU; got != 1480 {
		t.Errorf("node1 tunl0 MTU %d with no mtu key, want 1480 (1500 underlay - 20)", got)
	}
	warmUp(t, l.nodes[0], tunnelAddr(1))

	// 1452 bytes of ICMP data + 8 + 20 = 1480: fits the tunnel exactly.
	if out, ok := ping(l.nodes[0], "-c", "1", "-M", "do", "-s", "1452", tunnelAddr(1).String()); !ok {
		t.Errorf("a 1480-byte DF ping through a 1480 tunnel failed:\n%s", out)
	}

	// Both ends with a TUN MTU of 1500 on the 1500 underlay.
	node1.stop(t)
	node2.stop(t)
	node1 = startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}, "mtu: 1500"))
	node2 = startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}, "mtu: 1500"))
	warmUp(t, l.nodes[0], tunnelAddr(1))

	// A 1500-byte non-DF packet (1472 + 8 + 20): the outer 1520 bytes are
	// fragmented on the underlay and reassembled before decapsulation.
	before2 := node2.show(t)
	if out, ok := ping(l.nodes[0], "-c", "1", "-M", "dont", "-s", "1472", tunnelAddr(1).String()); !ok {
		t.Errorf("a 1500-byte non-DF ping through the pmtudisc-off fallback (mtu 1500) failed:\n%s", out)
	}
	d2 := delta(t, before2, node2.show(t), "tunl0")
	if d2.RxPackets != 1 || d2.RxBytes != 1500 {
		t.Errorf("node2 tunl0 received %d packets, %d bytes; want the echo request whole: 1 packet, 1500 bytes", d2.RxPackets, d2.RxBytes)
	}

	// 1481 bytes with DF: ipipd must answer frag needed with the path's
	// 1480. (Last: the kernel then records a PMTU of 1480 toward node2.)
	before1 := node1.show(t)
	out, ok := ping(l.nodes[0], "-c", "1", "-M", "do", "-s", "1453", tunnelAddr(1).String())
	t.Logf("ping -M do -s 1453:\n%s", out)
	if ok {
		t.Errorf("a 1481-byte DF ping got through a 1500-byte underlay:\n%s", out)
	}
	if !strings.Contains(out, "Frag needed and DF set (mtu = 1480)") {
		t.Errorf("ping of 1481 bytes with DF printed no \"Frag needed and DF set (mtu = 1480)\":\n%s", out)
	}
	d1 := delta(t, before1, node1.show(t), "tunl0")
	if d1.TxErrors != 1 || d1.ICMPSent != 1 {
		t.Errorf("node1 tunl0 tx_errors +%d, ICMP sent +%d; want +1 each for the too-big DF packet", d1.TxErrors, d1.ICMPSent)
	}
	if d1.TxPackets != 0 {
		t.Errorf("node1 tunl0 sent %d packets for a DF packet too big for the path", d1.TxPackets)
	}
}
