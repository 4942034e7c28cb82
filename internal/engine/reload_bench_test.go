package engine

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/netsetup"
)

// BenchmarkUntouched is a reload's decision of which of 10 000 running
// tunnels (100 000 routes) it leaves alone, against a View that shows them
// whole, for a file that adds a route to one: the part of a one-tunnel
// reload that still reads every tunnel.
//
//	go test ./internal/engine -run '^$' -bench Untouched -benchmem
func BenchmarkUntouched(b *testing.B) {
	const n, m = 10000, 100000
	var loader config.Loader
	running, err := loader.Parse("many.yaml", []byte(lab.ManyTunnels(n, m, 0, "offload")))
	if err != nil {
		b.Fatal(err)
	}
	next, err := loader.Parse("many.yaml", []byte(lab.ManyTunnels(n, m, 1, "offload")))
	if err != nil {
		b.Fatal(err)
	}
	cur, err := compile(running, func(config.Tunnel) (int, bool) { return 1500, true })
	if err != nil {
		b.Fatal(err)
	}
	p, err := compile(next, func(config.Tunnel) (int, bool) { return 1500, true })
	if err != nil {
		b.Fatal(err)
	}
	st := &state{tunnels: cur.tunnels, index: map[*runtime]int{}}
	runtimes := map[string]*runtime{}
	wanted := map[string]int{}
	v := &kernelview.View{Links: map[int]kernelview.Link{}, Addresses: map[int][]netip.Prefix{}, Routes: map[int][]kernelview.Route{}}
	for i := range st.tunnels {
		ts := &st.tunnels[i]
		rt := newRuntime(ts.config.Name, nil, nil)
		rt.ifindex = 100 + i
		rt.slot = i
		ts.rt = rt
		st.index[rt] = i
		runtimes[rt.name] = rt
		wanted[rt.name] = i
		l := ts.link()
		v.Links[rt.ifindex] = kernelview.Link{Index: rt.ifindex, Up: true, MTU: l.MTU}
		v.Addresses[rt.ifindex] = l.Addresses
		for _, r := range l.Routes {
			v.Routes[rt.ifindex] = append(v.Routes[rt.ifindex], kernelview.Route{To: r.To, Via: r.Via, Table: netsetup.MainTable, Protocol: netsetup.RouteProtocol, Weight: 1})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		left := untouched(runtimes, wanted, st, p, v)
		if len(left) != n {
			b.Fatalf("%d decided, want %d", len(left), n)
		}
	}
	left := untouched(runtimes, wanted, st, p, v)
	alone := 0
	for _, ok := range left {
		if ok {
			alone++
		}
	}
	if alone != n-1 {
		b.Fatalf("%d tunnels left alone, want %d", alone, n-1)
	}
}
