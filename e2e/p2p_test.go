package e2e

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestPointToPointBesideFallback runs a point-to-point tunnel next to the
// fallback on node2 and checks which one receives what.
//
// Kernel behaviour checked (ip_tunnel_lookup): a packet whose outer
// (saddr, daddr) equals a tunnel's (remote, local) goes to that tunnel
// (phase 1), ahead of the fallback; a packet from any other source falls
// to tunl0 (phase 7). The route of a tunnel with a remote sends to the
// remote (ip_tunnel_xmit, connected).
func TestPointToPointBesideFallback(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	node1 := startDaemon(t, l.nodes[0], "node1", `tunnels:
  - name: tunl0
    addresses: [192.168.41.0/32]
    routes:
      - {to: 192.168.42.0/24, via: 10.245.1.3}
  - name: ipip1
    local: 10.245.1.2
    remote: 10.245.1.3
    addresses: [192.168.51.0/32]
    routes: [{to: 192.168.52.0/24}]
`)
	node2 := startDaemon(t, l.nodes[1], "node2", `tunnels:
  - name: tunl0
    addresses: [192.168.42.0/32]
    routes:
      - {to: 192.168.41.0/24, via: 10.245.1.2}
      - {to: 192.168.43.0/24, via: 10.245.1.4}
  - name: ipip1
    local: 10.245.1.3
    remote: 10.245.1.2
    addresses: [192.168.52.0/32]
    routes: [{to: 192.168.51.0/24}]
`)
	startDaemon(t, l.nodes[2], "node3", fallbackConfig(2, []int{1}))

	// node1 → node2 over the point-to-point pair.
	before := node2.show(t)
	if err := l.nodes[0].Ping(addr("192.168.52.0"), 10*time.Second); err != nil {
		t.Fatalf("node1 → node2 point-to-point: %v", err)
	}
	after := node2.show(t)
	p2p, fb := delta(t, before, after, "ipip1"), delta(t, before, after, "tunl0")
	if p2p.RxPackets == 0 || p2p.TxPackets == 0 {
		t.Errorf("node2 ipip1: rx %d tx %d after node1's ping from 10.245.1.2; want both > 0 (phase 1: local and remote match)", p2p.RxPackets, p2p.TxPackets)
	}
	if fb.RxPackets != 0 {
		t.Errorf("node2 tunl0 received %d packets of node1's point-to-point ping; the tunnel with local and remote must take them", fb.RxPackets)
	}
	if s := node1.stats(t, "ipip1"); s.RxPackets == 0 {
		t.Errorf("node1 ipip1 received no reply packets: %+v", s)
	}

	// node3 → node2 over the fallback.
	before = node2.show(t)
	if err := l.nodes[2].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatalf("node3 → node2 via the fallback: %v", err)
	}
	after = node2.show(t)
	p2p, fb = delta(t, before, after, "ipip1"), delta(t, before, after, "tunl0")
	if fb.RxPackets == 0 || fb.TxPackets == 0 {
		t.Errorf("node2 tunl0: rx %d tx %d after node3's ping from 10.245.1.4; want both > 0 (phase 7: the fallback)", fb.RxPackets, fb.TxPackets)
	}
	if p2p.RxPackets != 0 {
		t.Errorf("node2 ipip1 received %d packets from node3; its remote is node1", p2p.RxPackets)
	}
}
