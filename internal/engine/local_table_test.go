package engine

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/kernelview"
)

// A packet no tunnel takes, sent to a broadcast address of this host (a
// spoofed source can aim one at a whole subnet), is answered by no ICMP:
// icmp_send skips RTCF_BROADCAST. Nor is one to 255.255.255.255.
func TestNoPortUnreachableForBroadcast(t *testing.T) {
	e, _, send := newTestEngine(t, `
tunnels:
  - name: p2p
    local: 10.245.1.2
    remote: 10.245.1.9
`)
	e.netns().local.Store(&localTable{broadcast: map[uint32]struct{}{ip4("10.245.1.255"): {}}})
	inner := innerPacket("192.168.42.0", "192.168.41.0", 84, true)
	receive(e, send,
		outerPacket("10.245.1.3", "10.245.1.255", inner),
		outerPacket("10.245.1.4", "255.255.255.255", inner),
		outerPacket("10.245.1.5", "10.245.1.2", inner), // unicast: answered
	)
	if len(send.sent) != 1 {
		t.Fatalf("%d ICMP sent, want 1: none for the two broadcast destinations", len(send.sent))
	}
	g := e.Status().Global
	if g.Drops["no_tunnel"] != 3 || g.PortUnreachables != 1 || g.RateLimited != 0 {
		t.Errorf("global %+v", g)
	}
}

// The kernel's View brings the local table's addresses to the loops.
func TestLocalTableFromTheView(t *testing.T) {
	e, _, _ := newTestEngine(t, meshYAML)
	e.viewReady = make(chan struct{}, 1)
	e.kernelChanged(&kernelview.View{
		Broadcast: map[netip.Addr]struct{}{netip.MustParseAddr("10.77.1.255"): {}},
		Local:     map[netip.Addr]struct{}{netip.MustParseAddr("10.77.1.1"): {}},
	})
	ns := e.netns()
	if !ns.isBroadcast(ip4("10.77.1.255")) || ns.isBroadcast(ip4("10.77.1.1")) {
		t.Error("broadcast addresses not taken from the View")
	}
	if !ns.isLocal(ip4("10.77.1.1")) || ns.isLocal(ip4("10.77.1.255")) {
		t.Error("local addresses not taken from the View")
	}
}
