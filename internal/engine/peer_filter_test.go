package engine

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/internal/header"
)

const filteredYAML = `
tunnels:
  - name: tunl0
    mtu: 1480
    accept_from: known
    addresses: [192.168.41.0/32]
    routes:
      - {to: 192.168.42.0/24, via: 10.245.1.3}
      - {to: 192.168.50.0/24}
  - name: p2p
    local: 10.245.1.2
    remote: 10.245.1.9
    accept_from: [10.245.7.0/24]
    addresses: [172.16.0.1/30]
`

// The filter admits a known tunnel's next hops (and, for a route without
// one on the fallback, the route's destinations), a listed prefix, and
// nothing else; filtered packets are counted under peer_filtered, after
// selection, and move no other counter.
func TestPeerFilter(t *testing.T) {
	e, devs, send := newTestEngine(t, filteredYAML)
	withRoutes(t, e)
	in := func(src string) []byte {
		return outerPacket(src, "10.245.1.2", innerPacket("192.168.42.1", "192.168.41.0", 84, false))
	}
	spoofedCE := in("10.245.1.66")
	spoofedCE[1] = 3 // outer CE over inner Not-ECT: the filter comes first
	header.IPv4(spoofedCE).SetHeaderChecksum()
	receive(e, send,
		in("10.245.1.3"),   // tunl0: a route's via
		in("192.168.50.9"), // tunl0: a route without via, outer = inner destination
		in("10.245.1.66"),  // tunl0: unknown
		spoofedCE,
		outerPacket("10.245.1.9", "10.245.1.2", innerPacket("172.16.9.1", "172.16.0.1", 84, false)), // p2p: its remote, not listed
	)
	if len(devs["tunl0"].written) != 2 || len(devs["p2p"].written) != 0 {
		t.Fatalf("delivered %d to tunl0, %d to p2p; want 2 and 0", len(devs["tunl0"].written), len(devs["p2p"].written))
	}
	s := e.Status()
	p2p, tunl0 := s.Tunnels[0].Stats, s.Tunnels[1].Stats
	if tunl0.Drops["peer_filtered"] != 2 || tunl0.RxPackets != 2 || tunl0.RxErrors != 0 || tunl0.Drops["ecn_drop"] != 0 {
		t.Errorf("tunl0 %+v: want 2 delivered, 2 peer_filtered, no ECN drop", tunl0)
	}
	if p2p.Drops["peer_filtered"] != 1 || p2p.RxPackets != 0 {
		t.Errorf("p2p %+v: want its remote filtered (accept_from lists only 10.245.7.0/24)", p2p)
	}
	if got := s.Tunnels[1].AcceptFrom; len(got) != 1 || got[0] != "known" {
		t.Errorf("status AcceptFrom %v, want [known]", got)
	}
}

// A lookup allocates nothing; the set is built once per state.
func TestPeerFilterNoAllocs(t *testing.T) {
	e, _, _ := newTestEngine(t, filteredYAML)
	st := e.state.Load()
	b := newReceiveBuffers(fullBatch, time.Second)
	pkt := outerPacket("10.245.1.66", "10.245.1.2", innerPacket("192.168.42.1", "192.168.41.0", 84, false))
	r := decapResultFor(1)
	if !b.peers.refuses(st, &r, pkt) {
		t.Fatal("10.245.1.66 admitted, want it refused")
	}
	if n := testing.AllocsPerRun(100, func() { b.peers.refuses(st, &r, pkt) }); n != 0 {
		t.Errorf("the filter allocates %v per packet, want 0", n)
	}
}

// decapResultFor is what decap returns for a packet delivered to tunnel i.
func decapResultFor(i int) decap.Result {
	return decap.Result{Verdict: decap.Deliver, Tunnel: i}
}

// withRoutes rebuilds e's state as the running engine does before the
// kernel's first View: each tunnel's routes are its file's.
func withRoutes(t *testing.T, e *Engine) {
	t.Helper()
	next, err := e.build(nil, e.state.Load().tunnels, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.state.Store(next)
}
