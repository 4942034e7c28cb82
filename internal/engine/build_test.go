package engine

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
)

// TestBuildUpdatesRoutesAsARebuildWould follows random Views, reloads that
// change a tunnel's remote, and tunnels added and removed, and checks that
// each state's route table, updated from the one before, is the table a
// build from nothing makes.
func TestBuildUpdatesRoutesAsARebuildWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	defer func(share int) { rebuildShare = share }(rebuildShare)
	rebuildShare = 0 // every change an update, none a rebuild
	e := &Engine{}
	next := 0
	// Slots as the engine hands them out: a removed tunnel's is reused.
	var slots routeSlots
	newTunnel := func() tunnelState {
		next++
		rt := newRuntime(fmt.Sprint("t", next), nil, nil)
		rt.ifindex = 100 + next
		rt.slot = slots.take()
		// A local of its own: two tunnels of one identity are refused.
		ts := tunnelState{config: config.Tunnel{Name: rt.name, Local: netip.AddrFrom4([4]byte{10, 6, byte(next >> 8), byte(next)})}, rt: rt}
		if next%3 == 0 {
			ts.config.Remote = netip.AddrFrom4([4]byte{10, 9, 0, byte(next)})
		}
		return ts
	}
	// A small prefix space, so that tunnels share prefixes (multipath).
	randomRoutes := func() []kernelview.Route {
		var out []kernelview.Route
		for range rng.IntN(5) {
			to := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(4)), 0}), 23+rng.IntN(2)).Masked()
			for range 1 + rng.IntN(2) {
				out = append(out, kernelview.Route{To: to, Via: netip.AddrFrom4([4]byte{10, 8, 0, byte(1 + rng.IntN(200))}),
					Table: 254, Protocol: 12, Weight: 1 + rng.IntN(3)})
			}
		}
		return out
	}
	tunnels := make([]tunnelState, 10)
	for i := range tunnels {
		tunnels[i] = newTunnel()
	}
	view := &kernelview.View{Links: map[int]kernelview.Link{}, Routes: map[int][]kernelview.Route{}}
	for _, ts := range tunnels {
		view.Links[ts.rt.ifindex] = kernelview.Link{Index: ts.rt.ifindex, Up: true, MTU: 1480}
		view.Routes[ts.rt.ifindex] = randomRoutes()
	}
	var prev *state
	for gen := range 400 {
		// The next View shares the slices of devices whose routes did not
		// change, as the watcher's do.
		v := &kernelview.View{Links: map[int]kernelview.Link{}, Routes: map[int][]kernelview.Route{}}
		for k, l := range view.Links {
			v.Links[k] = l
		}
		for k, r := range view.Routes {
			v.Routes[k] = r
		}
		switch rng.IntN(7) {
		case 6: // one removed and one added, which takes its slot
			i := rng.IntN(len(tunnels))
			slots.give(tunnels[i].rt.slot)
			tunnels = append(tunnels[:i:i], tunnels[i+1:]...)
			ts := newTunnel()
			tunnels = append(tunnels[:i:i], append([]tunnelState{ts}, tunnels[i:]...)...)
			v.Links[ts.rt.ifindex] = kernelview.Link{Index: ts.rt.ifindex, Up: true, MTU: 1480}
			v.Routes[ts.rt.ifindex] = randomRoutes()
		case 0: // a reload changes a remote
			ts := &tunnels[rng.IntN(len(tunnels))]
			ts.config.Remote = netip.AddrFrom4([4]byte{10, 7, 0, byte(rng.IntN(3))})
			if rng.IntN(2) == 0 {
				ts.config.Remote = netip.Addr{}
			}
		case 1: // a tunnel is added, its device not yet in the View
			tunnels = append(tunnels, newTunnel())
		case 2: // a tunnel is removed
			if len(tunnels) > 2 {
				i := rng.IntN(len(tunnels))
				slots.give(tunnels[i].rt.slot)
				tunnels = append(tunnels[:i:i], tunnels[i+1:]...)
			}
		default: // a routing daemon changes some devices' routes
			for range 1 + rng.IntN(2) {
				ts := tunnels[rng.IntN(len(tunnels))]
				v.Links[ts.rt.ifindex] = kernelview.Link{Index: ts.rt.ifindex, Up: true, MTU: 1480}
				v.Routes[ts.rt.ifindex] = randomRoutes()
			}
		}
		view = v
		got, err := e.build(prev, tunnels, v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.build(nil, tunnels, v)
		if err != nil {
			t.Fatal(err)
		}
		if !got.tables.Routes.Equal(want.tables.Routes) {
			t.Fatalf("generation %d: the updated route table differs from a rebuild", gen)
		}
		prev = got
	}
}
