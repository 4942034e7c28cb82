package e2e

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestSeedSecondTunnel is the seed walk-through's last experiment as
// ipipd reproduces it: node2 runs a single tunnel, no fallback.
//
// Kernel behaviour checked (ip_tunnel_lookup, tunnel4_rcv; see
// lookup.TestSeedSecondTunnel): a tunnel aimed at another remote (node3)
// and without local cannot take node1's packets, and with no fallback
// nothing does, so node2 answers ICMP port unreachable and the ping fails;
// setting local (and no remote) lets phase 3 (local == daddr, remote 0)
// take them, and the ping succeeds. (Since v5.7 a wildcard tunnel bound to a
// dev would also receive without local; the walk-through predates that.)
func TestSeedSecondTunnel(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	node2 := startDaemon(t, l.nodes[1], "node2", `tunnels:
  - name: tunl1
    remote: 10.245.1.4
    addresses: [192.168.42.0/32]
    routes: [{to: 192.168.41.0/24}]
`)
	if err := l.nodes[0].Ping(tunnelAddr(1), 2*time.Second); err == nil {
		t.Fatal("node1 reached node2 although node2's only tunnel has remote node3 and no fallback exists")
	}
	st := node2.show(t)
	if st.Global.PortUnreachables == 0 {
		t.Errorf("node2 sent no ICMP port unreachable for node1's unmatched packets: %+v", st.Global)
	}
	if s := node2.stats(t, "tunl1"); s.RxPackets != 0 {
		t.Errorf("node2 tunl1 received %d packets from node1; its remote is node3", s.RxPackets)
	}

	// "We can set the local attribute and make it reachable again."
	node2.mustReload(t, `tunnels:
  - name: tunl1
    local: 10.245.1.3
    addresses: [192.168.42.0/32]
    routes: [{to: 192.168.41.0/24, via: 10.245.1.2}]
`)
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatalf("after giving tunl1 local 10.245.1.3: %v", err)
	}
	if s := node2.stats(t, "tunl1"); s.RxPackets == 0 {
		t.Errorf("node2 tunl1 received nothing though node1's ping got through")
	}
}
