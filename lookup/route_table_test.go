package lookup

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestRouteNextHop(t *testing.T) {
	tunnels := []Tunnel{
		{Name: "tunl0"},
		{Name: "ipiptun", Local: netip.MustParseAddr("10.3.3.3"), Remote: netip.MustParseAddr("10.4.4.4")},
	}
	routes := []Route{
		{To: netip.MustParsePrefix("192.168.42.0/24"), Via: netip.MustParseAddr("10.245.1.3"), Tunnel: 0},
		{To: netip.MustParsePrefix("192.168.43.0/24"), Via: netip.MustParseAddr("10.245.1.4"), Tunnel: 0},
		{To: netip.MustParsePrefix("192.168.43.128/25"), Via: netip.MustParseAddr("10.245.1.5"), Tunnel: 0},
		{To: netip.MustParsePrefix("10.9.9.9/32"), Tunnel: 0},
		{To: netip.MustParsePrefix("172.16.9.0/24"), Tunnel: 1},
		{To: netip.MustParsePrefix("172.16.10.0/24"), Via: netip.MustParseAddr("10.7.7.7"), Tunnel: 1},
	}
	table, err := NewRouteTable(routes, tunnels)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst, wantDst string
		wantTunnel   int
	}{
		{"192.168.42.0", "10.245.1.3", 0},   // via … dev tunl0 onlink
		{"192.168.43.1", "10.245.1.4", 0},   // the /24
		{"192.168.43.200", "10.245.1.5", 0}, // the longer /25 wins
		{"10.9.9.9", "10.9.9.9", 0},         // NBMA without gateway: the inner destination itself
		{"172.16.9.7", "10.4.4.4", 1},       // no via: the tunnel's remote
		{"172.16.10.1", "10.4.4.4", 1},      // a connected tunnel ignores the gateway
		{"8.8.8.8", "", None},               // no route
		{"192.168.44.1", "", None},          // no route
		{"192.168.42.255", "10.245.1.3", 0}, // last address of the /24
		{"192.168.41.255", "", None},        // just before it
		{"10.9.9.8", "", None},              // beside the /32
		{"172.16.9.255", "10.4.4.4", 1},     // broadcast of the /24 is still routed
		{"192.168.43.127", "10.245.1.4", 0}, // just below the /25
		{"192.168.43.128", "10.245.1.5", 0}, // first of the /25
		{"172.16.10.255", "10.4.4.4", 1},    // /24 end
		{"172.16.11.0", "", None},           // past it
		{"192.168.42.1", "10.245.1.3", 0},   // inside
		{"10.9.9.10", "", None},             // past the /32
		{"192.168.43.0", "10.245.1.4", 0},   // network address
		{"172.16.8.255", "", None},          // before 172.16.9.0/24
	}
	for _, tt := range tests {
		next, ok := table.Lookup(netip.MustParseAddr(tt.dst))
		if ok != (tt.wantTunnel != None) || next.Tunnel != tt.wantTunnel {
			t.Errorf("%s: tunnel %d (ok %v), want %d", tt.dst, next.Tunnel, ok, tt.wantTunnel)
			continue
		}
		if ok && AddrFromNumber(next.Dst).String() != tt.wantDst {
			t.Errorf("%s: outer destination %s, want %s", tt.dst, AddrFromNumber(next.Dst), tt.wantDst)
		}
	}
}

func TestRouteTableRefusals(t *testing.T) {
	tunnels := []Tunnel{{Name: "a"}, {Name: "b", Local: D}}
	tests := []struct {
		routes []Route
		want   string
	}{
		{[]Route{{To: netip.MustParsePrefix("2001:db8::/32")}}, "want an IPv4 prefix"},
		{[]Route{{To: netip.MustParsePrefix("10.0.0.0/8"), Tunnel: 2}}, "tunnel index 2 out of range"},
	}
	for _, tt := range tests {
		_, err := NewRouteTable(tt.routes, tunnels)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want it to say %q", err, tt.want)
		}
	}
}

// TestRouteNextHopMultipath: the next hops of one prefix through the
// tunnel that asks, one per flow, a flow always the same; next hops through
// other tunnels are not this tunnel's to use.
func TestRouteNextHopMultipath(t *testing.T) {
	tunnels := []Tunnel{{Name: "tunl0"}, {Name: "other", Local: D}}
	pfx := netip.MustParsePrefix("192.168.42.0/24")
	routes := []Route{
		{To: pfx, Via: netip.MustParseAddr("10.245.1.3"), Tunnel: 0},
		{To: pfx, Via: netip.MustParseAddr("10.245.1.9"), Tunnel: 1},
		{To: pfx, Via: netip.MustParseAddr("10.245.1.4"), Tunnel: 0},
		{To: netip.MustParsePrefix("192.168.42.128/25"), Via: netip.MustParseAddr("10.245.1.5"), Tunnel: 1},
	}
	table, err := NewRouteTable(routes, tunnels)
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("192.168.42.7")
	seen := map[uint32]int{}
	for flow := uint32(0); flow < 100; flow++ {
		got, ok := table.NextHop(dst, 0, flow)
		if !ok {
			t.Fatalf("flow %d: no next hop", flow)
		}
		if again, _ := table.NextHop(dst, 0, flow); again != got {
			t.Fatalf("flow %d: %s then %s; a flow must keep its next hop", flow, AddrFromNumber(got), AddrFromNumber(again))
		}
		seen[got]++
	}
	a, b := addr32(netip.MustParseAddr("10.245.1.3")), addr32(netip.MustParseAddr("10.245.1.4"))
	if len(seen) != 2 || seen[a] != 50 || seen[b] != 50 {
		t.Errorf("flows per next hop %v, want 50 to each of 10.245.1.3 and 10.245.1.4", seen)
	}
	if got, _ := table.NextHop(dst, 1, 0); got != addr32(netip.MustParseAddr("10.245.1.9")) {
		t.Errorf("tunnel 1: %s, want its own next hop 10.245.1.9", AddrFromNumber(got))
	}
	// The /25 is longer, and only tunnel 1's: tunnel 0 has no next hop for
	// it even though its /24 covers the address.
	if _, ok := table.NextHop(netip.MustParseAddr("192.168.42.200"), 0, 0); ok {
		t.Error("192.168.42.200 through tunnel 0: a next hop, want none (the longest route leaves through tunnel 1)")
	}
	if _, ok := table.NextHop(netip.MustParseAddr("8.8.8.8"), 0, 0); ok {
		t.Error("8.8.8.8: a next hop, want none")
	}
	if allocs := testing.AllocsPerRun(1000, func() { table.NextHop(dst, 0, 7) }); allocs != 0 {
		t.Errorf("NextHop allocates %.1f times per run, want 0", allocs)
	}
}

// slowRoutes is the oracle: test every prefix, keep the longest, and say
// where it sends dst as rt_nexthop would: the tunnel's remote, else the
// route's via, else dst itself.
func slowRoutes(routes []Route, tunnels []Tunnel, dst netip.Addr) (Next, bool) {
	best, bestBits := None, -1
	for i, r := range routes {
		if r.To.Masked().Contains(dst) && r.To.Bits() > bestBits {
			best, bestBits = i, r.To.Bits()
		}
	}
	if best == None {
		return Next{Tunnel: None}, false
	}
	r := routes[best]
	next := Next{Tunnel: r.Tunnel, Dst: addr32(tunnels[r.Tunnel].Remote)}
	if next.Dst == 0 {
		next.Dst = addr32(r.Via)
	}
	if next.Dst == 0 {
		next.Dst = addr32(dst)
	}
	return next, true
}

func randomRoutes(rng *rand.Rand, n, tunnels int) []Route {
	seen := map[netip.Prefix]bool{}
	routes := make([]Route, 0, n)
	for len(routes) < n {
		var a [4]byte
		v := rng.Uint32()
		a[0], a[1], a[2], a[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		pfx := netip.PrefixFrom(netip.AddrFrom4(a), 8+rng.IntN(25)).Masked()
		if seen[pfx] {
			continue
		}
		seen[pfx] = true
		routes = append(routes, Route{To: pfx, Via: netip.AddrFrom4(a), Tunnel: rng.IntN(tunnels)})
	}
	return routes
}

func TestRoutesAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tunnels := []Tunnel{{Name: "a"}, {Name: "b", Local: D}, {Name: "c", Remote: S}}
	routes := randomRoutes(rng, 2000, len(tunnels))
	table, err := NewRouteTable(routes, tunnels)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50000; i++ {
		var dst netip.Addr
		if i%2 == 0 { // inside a known prefix, so most probes hit
			r := routes[rng.IntN(len(routes))].To
			a := r.Addr().As4()
			host := rng.Uint32() & (1<<(32-r.Bits()) - 1)
			v := addr32(r.Addr()) | host
			a[0], a[1], a[2], a[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
			dst = netip.AddrFrom4(a)
		} else {
			dst = AddrFromNumber(rng.Uint32())
		}
		want, wantOK := slowRoutes(routes, tunnels, dst)
		next, ok := table.Lookup(dst)
		if ok != wantOK || (ok && next != want) {
			t.Fatalf("%s: got %+v ok=%v, oracle %+v ok=%v", dst, next, ok, want, wantOK)
		}
	}
}

func TestRouteLookupAllocatesNothing(t *testing.T) {
	table, err := NewRouteTable(randomRoutes(rand.New(rand.NewPCG(5, 6)), 1000, 1), []Tunnel{{Name: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("192.168.42.7")
	if allocs := testing.AllocsPerRun(1000, func() { table.Lookup(dst) }); allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per run, want 0", allocs)
	}
}

// routesOf lists a table's prefixes with their next hops, for comparing
// two tables.
func routesOf(t *RouteTable) map[netip.Prefix][]hop {
	out := map[netip.Prefix][]hop{}
	for p, hops := range t.lpm.All() {
		out[p] = hops
	}
	return out
}

// TestRouteTableUpdateMatchesRebuild changes random tunnels' routes over
// many generations and checks that Update gives what NewRouteTable gives
// for the same routes, and that the table it started from is unchanged.
func TestRouteTableUpdateMatchesRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const tunnels = 12
	tt := make([]Tunnel, tunnels)
	for i := range tt {
		tt[i] = Tunnel{Name: fmt.Sprint("t", i)}
		if i%3 == 0 {
			tt[i].Remote = netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})
		}
	}
	// A small prefix space, so that tunnels share prefixes (multipath)
	// and updates add, move and remove next hops of one prefix.
	routesFor := func(tunnel int) []Route {
		var out []Route
		for range rng.IntN(6) {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(4)), 0}), 22+rng.IntN(3)).Masked()
			out = append(out, Route{To: p, Via: netip.AddrFrom4([4]byte{10, 8, 0, byte(rng.IntN(200) + 1)}), Tunnel: tunnel})
		}
		return out
	}
	byTunnel := make([][]Route, tunnels)
	for i := range byTunnel {
		byTunnel[i] = routesFor(i)
	}
	all := func() []Route { return slices.Concat(byTunnel...) }
	table, err := NewRouteTable(all(), tt)
	if err != nil {
		t.Fatal(err)
	}
	for gen := range 500 {
		before := routesOf(table)
		changed := map[int]bool{}
		var had []netip.Prefix
		var added []Route
		for range 1 + rng.IntN(3) {
			i := rng.IntN(tunnels)
			if changed[i] {
				continue
			}
			changed[i] = true
			for _, r := range byTunnel[i] {
				had = append(had, r.To)
			}
			byTunnel[i] = routesFor(i)
		}
		for i := range byTunnel {
			if changed[i] {
				added = append(added, byTunnel[i]...)
			}
		}
		next, err := table.Update(func(i int) bool { return changed[i] }, had, added, tt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := NewRouteTable(all(), tt)
		if err != nil {
			t.Fatal(err)
		}
		if got, w := routesOf(next), routesOf(want); !maps.EqualFunc(got, w, slices.Equal) {
			t.Fatalf("generation %d, tunnels %v changed:\n got %v\nwant %v", gen, changed, got, w)
		}
		if next.Len() != want.Len() {
			t.Fatalf("generation %d: Len %d, want %d", gen, next.Len(), want.Len())
		}
		if !maps.EqualFunc(routesOf(table), before, slices.Equal) {
			t.Fatalf("generation %d: Update changed the table it started from", gen)
		}
		table = next
	}
}

func TestRouteTableUpdateRefusesAnUnreplacedTunnel(t *testing.T) {
	tt := []Tunnel{{Name: "a"}, {Name: "b"}}
	table, _ := NewRouteTable(nil, tt)
	_, err := table.Update(func(i int) bool { return i == 0 }, nil, []Route{{To: netip.MustParsePrefix("10.1.0.0/16"), Tunnel: 1}}, tt)
	if err == nil {
		t.Fatal("Update took a route of a tunnel whose routes it does not replace")
	}
}
