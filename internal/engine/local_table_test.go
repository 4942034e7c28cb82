package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/testnet"
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

// watchLocalTable finds the broadcast address of an interface's address,
// and follows it as the address comes and goes.
func TestLocalTableFollowsAddresses(t *testing.T) {
	testnet.Require(t)
	ns := testnet.New(t, "localtable")
	e, _, _ := newTestEngine(t, meshYAML)
	var stop func()
	if err := ns.Do(func() error { stop = e.watchLocalTable(); return nil }); err != nil {
		t.Fatal(err)
	}
	defer stop()
	peer := testnet.New(t, "localpeer")
	testnet.Veth(t, ns, "v0", netip.MustParsePrefix("10.77.1.1/24"), peer, "v1", netip.MustParsePrefix("10.77.1.2/24"))
	brd := ip4("10.77.1.255")
	waitFor(t, "10.77.1.255 to become a broadcast address", func() bool { return e.netns().isBroadcast(brd) })
	if e.netns().isBroadcast(ip4("10.77.1.1")) {
		t.Error("the interface's own address counts as broadcast")
	}
	ns.Run(t, "ip", "addr", "del", "10.77.1.1/24", "dev", "v0")
	waitFor(t, "10.77.1.255 to stop being a broadcast address", func() bool { return !e.netns().isBroadcast(brd) })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
