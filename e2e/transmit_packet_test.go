package e2e

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestTransmitPacketSocket runs the seed's three-node tunl0 mesh with
// `--transmit packet`: outer packets leave as frames to the next hop's MAC
// address, which ipipd resolves through the kernel's routes and
// neighbours (the outer destination of tunl0 is each route's via).
//
// Checked: every pair pings; a 20 MB TCP transfer arrives whole; and the
// frames are in fact the packet socket's: after the first packets to a
// peer, which go through the raw socket while the peer is resolved, all
// of node1's outer packets go on the packet socket.
func TestTransmitPacketSocket(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	var nodes []*daemon
	for i := range 3 {
		nodes = append(nodes, startDaemon(t, l.nodes[i], "node"+string(rune('1'+i)), fallbackConfig(i, others(i, 3)), "--transmit", "packet"))
	}
	for i := range 3 {
		for _, j := range others(i, 3) {
			if err := l.nodes[i].Ping(tunnelAddr(j), 10*time.Second); err != nil {
				t.Fatalf("node%d → node%d: %v", i+1, j+1, err)
			}
		}
	}
	before := nodes[0].stats(t, "tunl0")
	transferTCP(t, l.nodes[0], tunnelAddr(0), l.nodes[1], tunnelAddr(1), 20<<20, 30*time.Second)
	after := nodes[0].stats(t, "tunl0")
	direct := after.TxPacketSocket - before.TxPacketSocket
	fallen := after.TxRawFallback - before.TxRawFallback
	if direct == 0 {
		t.Fatalf("node1 sent nothing on the packet socket during the transfer (%d through the raw socket)", fallen)
	}
	// One packet per stale neighbour confirmation is allowed through the
	// raw socket; a transfer this size sends thousands of packets.
	if fallen > direct/100 {
		t.Errorf("node1 sent %d packets through the raw socket and %d on the packet socket; want almost all direct", fallen, direct)
	}
	// No packet of the transfer is fragmented, so each outer packet is one
	// tx_packets.
	if sent := after.TxPackets - before.TxPackets; direct+fallen != sent {
		t.Errorf("node1 counted %d outer packets by socket and %d tx_packets; want them equal", direct+fallen, sent)
	}
}
