package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestTransmitGSO runs two nodes of the seed's tunl0 mesh with `--transmit
// packet-gso`: TCP super-packets read whole from the TUN leave as one outer
// frame each, marked IPIP by the tcx program ipipd puts on the egress
// device, and the kernel carries them whole over the veth (tx-ipxip4-
// segmentation on), or, with the offload off, segments them in software
// (ipip_gso_segment) before the veth.
//
// Checked, both ways: every pair pings; a 20 MB TCP transfer arrives whole;
// node1 sent super-packets whole (tx_gso), and counted each of their
// segments as an outer packet on the packet socket.
func TestTransmitGSO(t *testing.T) {
	for _, tc := range []struct {
		name     string
		software bool
	}{
		{"veth with IPIP segmentation offload", false},
		{"software segmentation", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testTransmitGSO(t, tc.software) })
	}
}

func testTransmitGSO(t *testing.T, software bool) {
	lab.Require(t, "ethtool")
	l := newLAN(t, 2)
	var nodes []*daemon
	for i := range 2 {
		nodes = append(nodes, startDaemon(t, l.nodes[i], "node"+string(rune('1'+i)), fallbackConfig(i, others(i, 2)), "--transmit", "packet-gso"))
	}
	if out := nodes[0].proc.Output(); strings.Contains(out, "tcx program cannot be loaded") {
		lab.SkipOrFail(t, "ipipd could not load its tcx program here:\n"+out)
	}
	if software {
		// A NIC without IPIP TSO: the kernel segments after the tcx mark.
		l.nodes[0].Run(t, "ethtool", "-K", "eth0", "tx-ipxip4-segmentation", "off", "tso", "off")
	}
	for i := range 2 {
		for _, j := range others(i, 2) {
			if err := l.nodes[i].Ping(tunnelAddr(j), 10*time.Second); err != nil {
				t.Fatalf("node%d → node%d: %v", i+1, j+1, err)
			}
		}
	}
	before := nodes[0].stats(t, "tunl0")
	transferTCP(t, l.nodes[0], tunnelAddr(0), l.nodes[1], tunnelAddr(1), 20<<20, 30*time.Second)
	after := nodes[0].stats(t, "tunl0")
	whole := after.TxGSO - before.TxGSO
	direct := after.TxPacketSocket - before.TxPacketSocket
	fallen := after.TxRawFallback - before.TxRawFallback
	sent := after.TxPackets - before.TxPackets
	t.Logf("node1: %d super-packets sent whole, %d outer packets on the packet socket, %d through the raw socket, tx_packets %d", whole, direct, fallen, sent)
	if whole == 0 {
		t.Fatalf("node1 sent no super-packet whole during the transfer; its output:\n%s", nodes[0].proc.Output())
	}
	// Each segment of a super-packet is an outer packet on the wire, and
	// no packet of the transfer is fragmented.
	if direct+fallen != sent {
		t.Errorf("node1 counted %d outer packets by socket and %d tx_packets; want them equal", direct+fallen, sent)
	}
	if after.TxDropped != before.TxDropped || after.TxErrors != before.TxErrors {
		t.Errorf("node1 dropped %d and erred %d packets during the transfer", after.TxDropped-before.TxDropped, after.TxErrors-before.TxErrors)
	}
}
