package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/tcxmark"
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
// segments as an outer packet on the packet socket; its veth sent one
// packet per super-packet with the offload, one per segment without.
func TestTransmitGSO(t *testing.T) {
	for _, tc := range []struct {
		name             string
		software, second bool
	}{
		{"veth with IPIP segmentation offload", false, false},
		{"software segmentation", true, false},
		// Another copy of the program on the same device, first in the
		// chain (a second daemon, or one restarting over the old one):
		// each copy marks only frames still carrying ipipd's socket mark,
		// and the first clears it. Before that, the second copy found the
		// frame already marked, failed, and dropped it: 206 kbit/s.
		{"a second copy of the program on the device", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testTransmitGSO(t, tc.software, tc.second) })
	}
}

func testTransmitGSO(t *testing.T, software, second bool) {
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
	if second {
		var other *tcxmark.Marker
		if err := l.nodes[0].Do(func() error {
			var err error
			if other, err = tcxmark.Load(); err == nil {
				err = other.Mark(l.nodes[0].Ifindex(t, "eth0"))
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
	}
	for i := range 2 {
		for _, j := range others(i, 2) {
			if err := l.nodes[i].Ping(tunnelAddr(j), 10*time.Second); err != nil {
				t.Fatalf("node%d → node%d: %v", i+1, j+1, err)
			}
		}
	}
	before := nodes[0].stats(t, "tunl0")
	wireBefore := txPackets(t, l.nodes[0], "eth0")
	transferTCP(t, l.nodes[0], tunnelAddr(0), l.nodes[1], tunnelAddr(1), 20<<20, 30*time.Second)
	wire := txPackets(t, l.nodes[0], "eth0") - wireBefore
	after := nodes[0].stats(t, "tunl0")
	whole := after.TxGSO - before.TxGSO
	direct := after.TxPacketSocket - before.TxPacketSocket
	fallen := after.TxRawFallback - before.TxRawFallback
	sent := after.TxPackets - before.TxPackets
	t.Logf("node1: %d super-packets sent whole, %d outer packets on the packet socket, %d through the raw socket, tx_packets %d; the veth sent %d", whole, direct, fallen, sent, wire)
	if whole == 0 {
		t.Fatalf("node1 sent no super-packet whole during the transfer; its output:\n%s", nodes[0].proc.Output())
	}
	// The veth counts what crossed it: one skb per super-packet with the
	// offload, one per segment without.
	if software && wire < direct {
		t.Errorf("the veth sent %d packets for %d outer packets: the kernel did not segment the super-packets", wire, direct)
	}
	if !software && wire > direct/4 {
		t.Errorf("the veth sent %d packets for %d outer packets: the super-packets did not cross whole", wire, direct)
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

// TestTransmitGSOWithoutBPF runs node1 with `--transmit packet-gso` but
// only the capabilities of contrib/ipipd.service (no CAP_BPF): it cannot
// load its tcx program, says so, and sends as --transmit packet does.
func TestTransmitGSOWithoutBPF(t *testing.T) {
	lab.Require(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("this test needs setpriv (util-linux) to drop capabilities: apt-get install -y util-linux")
	}
	var keep []string
	for _, c := range unitCapabilities(t) {
		keep = append(keep, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	set := "-all," + strings.Join(keep, ",")
	wrap := []string{setpriv, "--bounding-set", set, "--inh-caps", set, "--no-new-privs"}
	l := newLAN(t, 2)
	node1 := startWrappedDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}), wrap, "--transmit", "packet-gso")
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if out := node1.proc.Output(); !strings.Contains(out, "tcx program cannot be loaded") {
		t.Fatalf("node1 without CAP_BPF did not say that it cannot load its program:\n%s", out)
	}
	transferTCP(t, l.nodes[0], tunnelAddr(0), l.nodes[1], tunnelAddr(1), 20<<20, 30*time.Second)
	if s := node1.stats(t, "tunl0"); s.TxGSO != 0 || s.TxPacketSocket == 0 {
		t.Errorf("node1 sent %d super-packets whole and %d frames on the packet socket; want none whole, frames sent", s.TxGSO, s.TxPacketSocket)
	}
}

// txPackets is a device's tx_packets in ns.
func txPackets(t *testing.T, ns *lab.NS, dev string) uint64 {
	t.Helper()
	out := strings.TrimSpace(ns.Run(t, "cat", "/sys/class/net/"+dev+"/statistics/tx_packets"))
	n, err := strconv.ParseUint(out, 10, 64)
	if err != nil {
		t.Fatalf("tx_packets of %s: %q: %v", dev, out, err)
	}
	return n
}
