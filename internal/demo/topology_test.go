package demo

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestMeshNodesAreTheSeeds(t *testing.T) {
	nodes := meshNodes("abc123")
	want := []string{
		"node1 ipipd-demo-abc123-node1 10.245.1.2 192.168.41.0/24",
		"node2 ipipd-demo-abc123-node2 10.245.1.3 192.168.42.0/24",
		"node3 ipipd-demo-abc123-node3 10.245.1.4 192.168.43.0/24",
	}
	for i, n := range nodes {
		if got := fmt.Sprintf("%s %s %s %s", n.Name, n.NS, n.Underlay, n.Subnet()); got != want[i] {
			t.Errorf("node %d: got %q, want %q", i, got, want[i])
		}
	}
	if a, b := newRunID(), newRunID(); a == b || len(a) != 6 {
		t.Errorf("run IDs %q and %q: want two different 6-digit IDs", a, b)
	}
}

// TestTopologyBuildPingClose builds the underlay, checks every node reaches
// every other over the bridge and that nothing appeared in the host
// namespace, then closes it and checks the namespaces are gone.
func TestTopologyBuildPingClose(t *testing.T) {
	requireNamespaces(t)
	hostBefore := hostLinks(t)
	topo := buildTopology(t)

	for _, ns := range append([]string{topo.Hub}, topo.nodeNamespaces()...) {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	for name := range hostLinks(t) {
		if !hostBefore[name] && (strings.HasPrefix(name, "p-node") || name == bridgeName) {
			t.Errorf("link %s appeared in the host namespace; everything must stay inside the demo's namespaces", name)
		}
	}
	for _, from := range topo.Nodes {
		for _, to := range topo.Nodes {
			if from.Name != to.Name {
				if err := echo(from.NS, to.Underlay, 5*time.Second); err != nil {
					t.Errorf("%s -> %s over the underlay: %v", from.Name, to.Name, err)
				}
			}
		}
	}

	// The demo's own ping step, pointed at the underlay addresses (the
	// tunnel needs a daemon): checks the command line and the parsing on
	// the real ping's output.
	if _, err := exec.LookPath("ping"); err == nil {
		from, to := topo.Nodes[0], topo.Nodes[2]
		from.Tunnel, to.Tunnel = from.Underlay, to.Underlay
		r := ping(testContext(t, 10*time.Second), from, to)
		if !r.OK() || r.Sent != 2 || r.AvgRTT == "" {
			t.Errorf("ping %s -> %s: got %+v, want 2 sent, replies and an rtt", from.Name, to.Name, r)
		}
		t.Logf("ping line: %s", r)
	} else {
		t.Logf("ping is not installed; the ping step's command line is not tested here")
	}

	created := topo.created
	if err := topo.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, ns := range created {
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after close (stat: %v)", ns, err)
		}
	}
	if len(created) != 4 {
		t.Errorf("close removed %d namespaces, want 4 (hub and three nodes)", len(created))
	}
	if err := topo.close(); err != nil {
		t.Errorf("a second close: %v, want nil", err)
	}
}

// hostLinks returns the names of the host namespace's links.
func hostLinks(t *testing.T) map[string]bool {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("listing host links: %v", err)
	}
	names := map[string]bool{}
	for _, ifi := range ifs {
		names[ifi.Name] = true
	}
	return names
}

// echo sends ICMP echo requests from inside ns to dst until a reply comes
// back or timeout passes (lab.NS.Ping: built in rather than `ping`, so the
// topology test does not depend on iputils).
func echo(ns string, dst netip.Addr, timeout time.Duration) error {
	return lab.Existing(ns, "").Ping(dst, timeout)
}
