package engine

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
)

// randomTunnelState is a tunnel drawn from few values, so that two draws
// are often the same in some fields and not in others.
func randomTunnelState(rng *rand.Rand) tunnelState {
	pick := func(addrs ...string) netip.Addr {
		s := addrs[rng.IntN(len(addrs))]
		if s == "" {
			return netip.Addr{}
		}
		return netip.MustParseAddr(s)
	}
	c := config.Tunnel{Name: []string{"a", "b"}[rng.IntN(2)], Table: rng.IntN(2) * 100, Down: rng.IntN(4) == 0,
		Remote: pick("", "10.1.0.1", "10.1.0.2", "239.1.1.1")}
	for range rng.IntN(3) {
		c.Addresses = append(c.Addresses, netip.PrefixFrom(pick("192.168.41.1", "192.168.41.2"), 24))
	}
	for range rng.IntN(4) {
		c.Routes = append(c.Routes, config.Route{To: netip.PrefixFrom(pick("192.168.42.0", "192.168.43.0"), 24),
			Via: pick("", "10.1.0.1", "10.1.0.3"), Line: rng.IntN(3)})
	}
	return tunnelState{config: c, fileMTU: 1480 - rng.IntN(2)*80}
}

// sameSetUp answers as sameLink of the two built links.
func TestSameSetUpIsSameLink(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	same := 0
	for range 200000 {
		a, b := randomTunnelState(rng), randomTunnelState(rng)
		want := sameLink(a.link(), b.link())
		if got := sameSetUp(&a, &b); got != want {
			t.Fatalf("sameSetUp = %v, sameLink = %v\na %+v\nb %+v", got, want, a.config, b.config)
		}
		if want {
			same++
		}
	}
	if same < 100 {
		t.Fatalf("only %d pairs were the same set-up: the test checks little", same)
	}
}

// holdsLink is what holds answers, from the built link: the kernel shows
// the device up with the link's MTU, addresses and routes.
func holdsLink(v *kernelview.View, rt *runtime, l netsetup.Link) bool {
	if v == nil || rt.ifindex == 0 || l.Down {
		return false
	}
	link, ok := v.Links[rt.ifindex]
	if !ok || !link.Up || link.MTU != l.MTU {
		return false
	}
	for _, a := range l.Addresses {
		if !slices.Contains(v.Addresses[rt.ifindex], a) {
			return false
		}
	}
	table := l.Table
	if table == 0 {
		table = netsetup.MainTable
	}
	for _, r := range l.Routes {
		if !slices.ContainsFunc(v.Routes[rt.ifindex], func(h kernelview.Route) bool {
			return h.To == r.To && h.Via == r.Via && h.Protocol == netsetup.RouteProtocol && h.Table == table && h.Metric == 0
		}) {
			return false
		}
	}
	return true
}

func TestHoldsReadsTheViewAsTheLinkSays(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	rt := &runtime{ifindex: 7}
	held := 0
	for range 100000 {
		ts, from := randomTunnelState(rng), randomTunnelState(rng)
		// The View shows what another draw's link installs, sometimes
		// with more routes than that, sometimes from another protocol.
		l := from.link()
		v := &kernelview.View{Links: map[int]kernelview.Link{7: {Index: 7, Up: rng.IntN(5) > 0, MTU: l.MTU}},
			Addresses: map[int][]netip.Prefix{7: l.Addresses}, Routes: map[int][]kernelview.Route{}}
		table := l.Table
		if table == 0 {
			table = netsetup.MainTable
		}
		for _, r := range l.Routes {
			v.Routes[7] = append(v.Routes[7], kernelview.Route{To: r.To, Via: r.Via, Table: table, Protocol: []int{netsetup.RouteProtocol, 12}[rng.IntN(2)],
				Metric: []int{0, 0, 5}[rng.IntN(3)]})
		}
		want := holdsLink(v, rt, ts.link())
		if got := holds(v, rt, &ts); got != want {
			t.Fatalf("holds = %v, from the link %v\ntunnel %+v\nview %+v", got, want, ts.config, v)
		}
		if want {
			held++
		}
	}
	if held < 100 {
		t.Fatalf("the View held the tunnel only %d times: the test checks little", held)
	}
}

// A removed tunnel gives up, before its device goes, exactly what the new
// config gives another tunnel, so that it can move there.
func TestRemovedTunnelGivesUpWhatIsClaimed(t *testing.T) {
	pfx := netip.MustParsePrefix
	removed := netsetup.Link{Name: "old",
		Addresses: []netip.Prefix{pfx("172.16.0.1/30"), pfx("172.16.1.1/30")},
		Routes:    []netsetup.Route{{To: pfx("192.168.42.0/24")}, {To: pfx("192.168.43.0/24")}}}
	other := netsetup.Link{Name: "other", Routes: []netsetup.Route{{To: pfx("192.168.44.0/24")}}}
	p := &compiled{tunnels: []tunnelState{
		{config: config.Tunnel{Name: "new", Addresses: []netip.Prefix{pfx("172.16.0.1/30")},
			Routes: []config.Route{{To: pfx("192.168.43.0/24")}, {To: pfx("192.168.44.0/24")}}}},
	}}
	c := claims(p, []netsetup.Link{removed, other})
	got := unclaimed(removed, c)
	// What the removed tunnel keeps until its device goes.
	want := netsetup.Link{Name: "old", Addresses: []netip.Prefix{pfx("172.16.1.1/30")}, Routes: []netsetup.Route{{To: pfx("192.168.42.0/24")}}}
	if !sameLink(got, want) {
		t.Errorf("the removed tunnel keeps %+v, want %+v", got, want)
	}
	if keeps := unclaimed(other, c); len(keeps.Routes) != 0 {
		t.Errorf("another removed tunnel keeps %+v; the new config claims 192.168.44.0/24", keeps.Routes)
	}
}
