package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestMesh builds the seed's one-to-many tunl0 mesh: three nodes on one
// LAN, each with a fallback tunnel (no local, no remote, mtu 1480), its /32
// tunnel address and `via PEER onlink` routes to the other two.
//
// Kernel behaviour checked: ip_tunnel_xmit in NBMA mode takes the outer
// destination from the route's gateway (rt_nexthop), and ip_tunnel_lookup
// hands every packet that matches no configured tunnel to the fallback
// tunl0 (phase 7), so one device talks to many peers. Every ordered pair
// pings, then a 20 MB TCP stream crosses node1→node3 intact (the inner
// packets are delivered unchanged and in a form the receiver's TCP accepts).
func TestMesh(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	daemons := make([]*daemon, 3)
	for i, ns := range l.nodes {
		daemons[i] = startDaemon(t, ns, fmt.Sprintf("node%d", i+1), fallbackConfig(i, others(i, 3), "mtu: 1480"))
	}

	for i, from := range l.nodes {
		for j := range l.nodes {
			if i == j {
				continue
			}
			if err := from.Ping(tunnelAddr(j), 10*time.Second); err != nil {
				t.Errorf("node%d → node%d across the mesh: %v", i+1, j+1, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// Each node sent an echo request to and answered one from each peer,
	// all through tunl0.
	for i, d := range daemons {
		s := d.stats(t, "tunl0")
		if s.TxPackets < 4 || s.RxPackets < 4 {
			t.Errorf("node%d tunl0: tx_packets %d, rx_packets %d; want at least 4 each (2 requests and 2 replies)", i+1, s.TxPackets, s.RxPackets)
		}
	}

	const size = 20 << 20
	transferTCP(t, l.nodes[0], tunnelAddr(0), l.nodes[2], tunnelAddr(2), size, 30*time.Second)
	if s := daemons[2].stats(t, "tunl0"); s.RxBytes < size {
		t.Errorf("node3 tunl0 rx_bytes %d after a %d-byte transfer", s.RxBytes, size)
	}
}
