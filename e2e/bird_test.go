package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// Bounds of TestBIRD's waits, with BIRD's short timers (hold time 3,
// connect delay and retry 1 s).
const (
	bgpConvergeTimeout = 20 * time.Second // sessions up, routes in every kernel
	bgpWithdrawTimeout = 10 * time.Second // a stopped BIRD's routes gone from its peers' kernels
)

// TestBIRD runs a real routing daemon over ipipd, as Calico's node-to-node
// mesh does over the kernel's tunl0: three nodes, `ipipd run` with no file
// on each and tunl0 set up by the seed's first three commands (no route),
// and a BIRD 2 on each in an iBGP full mesh over the underlay. Each BIRD
// announces its node's block (192.168.4X.0/24, a blackhole kept out of the
// kernel, as Calico's IPAM blocks) and installs the blocks it learns as
// `via PEER dev tunl0 onlink` (testdata/bird/node.conf: the onlink filter
// attribute in place of Calico's krt_tunnel).
//
// Checked:
//   - each kernel holds exactly `192.168.4Y.0/24 via 10.245.1.Z dev tunl0
//     proto bird onlink` for both peers, and no blackhole;
//   - every pair pings across ipipd on those routes alone;
//   - stopping node3's BIRD (SIGTERM) withdraws its block from node1's and
//     node2's kernels, and ipipd follows: packets pushed into tunl0 for
//     192.168.43.0 no longer leave for 10.245.1.4 (they did before);
//   - starting it again brings the routes back and node3 pings again.
func TestBIRD(t *testing.T) {
	lab.Require(t)
	requireBIRD(t)
	l := newLAN(t, 3)
	for i, ns := range l.nodes {
		startNoConfigDaemon(t, ns, fmt.Sprintf("node%d", i+1))
		runSeed(t, ns, fmt.Sprintf("ip=%s\nip l set tunl0 up\nip l set tunl0 mtu 1480\nip a add $ip/32 dev tunl0\n", tunnelAddr(i)))
	}
	// BIRD starts once tunl0 is up: its kernel export filter needs the
	// interface known and up to accept an onlink gateway on it.
	birds := make([]*birdNode, 3)
	for i, ns := range l.nodes {
		birds[i] = newBIRDNode(t, ns, i, 3)
		birds[i].start(t)
	}
	for i := range l.nodes {
		waitBIRDRoutes(t, l, i, others(i, 3), birds, bgpConvergeTimeout)
	}
	for i := range l.nodes {
		got, _ := kernelBIRDRoutes(t, l.nodes[i])
		t.Logf("node%d: ip route | grep bird:\n  %s", i+1, strings.Join(got, "\n  "))
	}
	pingAllPairs(t, l.nodes, 10*time.Second)
	if t.Failed() {
		t.FailNow()
	}

	// Before: what node1 and node2 push into tunl0 for 192.168.43.0 goes
	// to node3 on the wire. This also proves the probe sees such packets.
	captures := []*capture{openSendCapture(t, l.nodes[0], "eth0"), openSendCapture(t, l.nodes[1], "eth0")}
	for i, capt := range captures {
		if sent, _ := outerPacketsTo(t, l, i, capt, tunnelAddr(2), underlayAddr(2), 500*time.Millisecond); sent == 0 {
			t.Fatalf("node%d: no outer packet to %v in 500 ms while sending to %v through tunl0, with BIRD's route in place", i+1, underlayAddr(2), tunnelAddr(2))
		}
	}

	birds[2].stop(t)
	for i := range 2 {
		waitBIRDRoutes(t, l, i, others(i, 3)[:1], birds[:2], bgpWithdrawTimeout)
	}
	// node3's BIRD took its own routes along when it stopped.
	waitBIRDRoutes(t, l, 2, nil, birds[:2], bgpWithdrawTimeout)
	// ipipd has routeFollowTimeout to follow the withdrawal; then nothing
	// it sends may go to node3, though the kernel still hands it packets
	// for 192.168.43.0 (the socket is bound to tunl0).
	time.Sleep(routeFollowTimeout)
	for i, capt := range captures {
		sent, intoTUN := outerPacketsTo(t, l, i, capt, tunnelAddr(2), underlayAddr(2), time.Second)
		if intoTUN == 0 {
			t.Errorf("node%d: the kernel handed tunl0 no packet while the probe sent to %v through it; the check below proves nothing", i+1, tunnelAddr(2))
		}
		if sent != 0 {
			t.Errorf("node%d: %d outer packets to %v in 1 s after BIRD withdrew 192.168.43.0/24 (%d packets entered tunl0); ipipd still follows the withdrawn route", i+1, sent, underlayAddr(2), intoTUN)
		}
		t.Logf("node%d: after the withdrawal, %d packets for %v entered tunl0 in 1 s, %d outer packets left for %v", i+1, intoTUN, tunnelAddr(2), sent, underlayAddr(2))
	}

	birds[2].start(t)
	for i := range l.nodes {
		waitBIRDRoutes(t, l, i, others(i, 3), birds, bgpConvergeTimeout)
	}
	pingAllPairs(t, l.nodes, 10*time.Second)
}
