package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestPeerFilterKnown: the seed's three-node mesh with `accept_from:
// known` on every tunl0, and a fourth namespace on the same underlay
// (10.245.1.5, the next hop of no route) that sends node1 IPIP packets,
// first from its own address, then with a spoofed outer source that is no
// mesh node's either. The kernel's tunl0 would take them all; the filter
// drops each after tunnel selection and counts it as peer_filtered, while
// the mesh keeps pinging. `ipipd check` shows the filter.
func TestPeerFilterKnown(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 4) // node4 is the stranger: no daemon, no route names it
	daemons := make([]*daemon, 3)
	for i := range 3 {
		daemons[i] = startDaemon(t, l.nodes[i], fmt.Sprintf("node%d", i+1), fallbackConfig(i, others(i, 3), "mtu: 1480", "accept_from: known"))
	}
	if out, _, err := runBinarySplit(10*time.Second, "check", "-c", daemons[0].config); err != nil || !strings.Contains(out, "accept from known") {
		t.Errorf("ipipd check: %v; want the filter shown:\n%s", err, out)
	}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				if err := l.nodes[i].Ping(tunnelAddr(j), 10*time.Second); err != nil {
					t.Fatalf("node%d → node%d across the filtered mesh: %v", i+1, j+1, err)
				}
			}
		}
	}

	const port = 5558
	rx := listenTOS(t, l.nodes[0], port)
	send := rawSender(t, l.nodes[3])
	before := daemons[0].stats(t, "tunl0")
	sources := []string{underlayAddr(3).String(), "10.245.1.77"} // its own, and one spoofed on the LAN
	for k, src := range sources {
		inner := udpPacket(addr("192.168.42.9"), tunnelAddr(0), 4000, port, 0, uint16(k), []byte("from "+src))
		if err := send.WritePacket(ipipPacket(addr(src), underlayAddr(0), 0, uint16(k), inner)); err != nil {
			t.Fatalf("node4 sending with outer source %s: %v", src, err)
		}
	}
	if got, _, err := rx.read(time.Second); err == nil {
		t.Errorf("node1 delivered %q from a source accept_from: known does not admit", got)
	}
	// The mesh goes on meanwhile.
	for j := 1; j < 3; j++ {
		if err := l.nodes[0].Ping(tunnelAddr(j), 10*time.Second); err != nil {
			t.Errorf("node1 → node%d after the spoofed packets: %v", j+1, err)
		}
	}
	after := daemons[0].stats(t, "tunl0")
	if d := after.Drops["peer_filtered"] - before.Drops["peer_filtered"]; d != uint64(len(sources)) {
		t.Errorf("node1 tunl0 peer_filtered grew by %d, want %d (one per spoofed packet)", d, len(sources))
	}
	if text, _, err := runBinarySplit(10*time.Second, "show", "tunl0", "-s", "-d", "--control", daemons[0].control); err != nil ||
		!strings.Contains(text, fmt.Sprintf("peer_filtered %d", after.Drops["peer_filtered"])) || !strings.Contains(text, "accept from known") {
		t.Errorf("ipipd show tunl0 -s -d: %v; want peer_filtered counted and the filter shown:\n%s", err, text)
	}
}
