package lookup

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gaissmai/bart"
)

// BenchmarkTunnelLookup: n point-to-point tunnels to distinct remotes, all
// with this node's local address, plus the fallback; probes cycle through
// the remotes so the map is exercised, not one hot key.
func BenchmarkTunnelLookup(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("tunnels=%d", n), func(b *testing.B) {
			table, srcs := manyTunnels(b, n)
			dst := addr32(D)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if table.Lookup(srcs[i&(len(srcs)-1)], dst, eth0) == None {
					b.Fatal("no tunnel")
				}
			}
		})
	}
}

// manyTunnels returns a table of n tunnels and a power-of-two list of
// sources that each select one.
func manyTunnels(tb testing.TB, n int) (*TunnelTable, []uint32) {
	tunnels := []Tunnel{tunl0}
	for i := 0; i < n; i++ {
		tunnels = append(tunnels, Tunnel{Name: fmt.Sprint("t", i), Local: D, Remote: AddrFromNumber(0x0a000000 + uint32(i) + 1)})
	}
	table, err := NewTunnelTable(tunnels)
	if err != nil {
		tb.Fatal(err)
	}
	srcs := make([]uint32, 1024)
	for i := range srcs {
		srcs[i] = 0x0a000000 + uint32(i%n) + 1
	}
	return table, srcs
}

// BenchmarkRouteLookup measures the route table ipipd uses (RouteTable,
// over bart.Table) beside bare bart.Table and bart.Fast in the same run:
// the ratio is what decides, not either figure alone.
func BenchmarkRouteLookup(b *testing.B) {
	for _, n := range []int{10, 10000, 100000} {
		rng := rand.New(rand.NewPCG(7, 8))
		routes := randomRoutes(rng, n, 1)
		probes := make([]netip.Addr, 4096)
		for i := range probes { // half inside a prefix, half random
			if i%2 == 0 {
				probes[i] = routes[rng.IntN(len(routes))].To.Addr().Next()
			} else {
				probes[i] = AddrFromNumber(rng.Uint32())
			}
		}
		b.Run(fmt.Sprintf("prefixes=%d/RouteTable", n), func(b *testing.B) {
			table, err := NewRouteTable(routes, []Tunnel{{Name: "a"}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				table.Lookup(probes[i&(len(probes)-1)])
			}
		})
		b.Run(fmt.Sprintf("prefixes=%d/NextHop", n), func(b *testing.B) {
			// What the transmit loop asks: a tunnel's next hop, per flow.
			table, err := NewRouteTable(routes, []Tunnel{{Name: "a"}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				table.NextHop(probes[i&(len(probes)-1)], 0, uint32(i))
			}
		})
		b.Run(fmt.Sprintf("prefixes=%d/bart.Table", n), func(b *testing.B) {
			benchLPM(b, new(bart.Table[hop]), routes, probes)
		})
		b.Run(fmt.Sprintf("prefixes=%d/bart.Fast", n), func(b *testing.B) {
			benchLPM(b, new(bart.Fast[hop]), routes, probes)
		})
	}
}

type lpm interface {
	Insert(netip.Prefix, hop)
	Lookup(netip.Addr) (hop, bool)
}

func benchLPM(b *testing.B, table lpm, routes []Route, probes []netip.Addr) {
	for _, r := range routes {
		table.Insert(r.To, hop{dst: addr32(r.Via)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		table.Lookup(probes[i&(len(probes)-1)])
	}
}

// BenchmarkNewRouteTable is the cost of building the table the datapath
// reads from a kernel View: paid on every change a routing daemon makes.
func BenchmarkNewRouteTable(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		routes := randomRoutes(rand.New(rand.NewPCG(9, 10)), n, 1)
		b.Run(fmt.Sprintf("prefixes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := NewRouteTable(routes, []Tunnel{{Name: "a"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRouteTableUpdate is the cost of replacing one tunnel's 10 routes
// in a table of 100 000 over 10 000 tunnels, what a reload that changes one
// tunnel asks; NewRouteTable above is the rebuild it replaces.
func BenchmarkRouteTableUpdate(b *testing.B) {
	const tunnels, perTunnel = 10000, 10
	tt := make([]Tunnel, tunnels)
	var routes []Route
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range tt {
		tt[i] = Tunnel{Name: fmt.Sprint("t", i), Remote: netip.AddrFrom4([4]byte{10, 32, byte(i >> 8), byte(i)})}
		for range perTunnel {
			routes = append(routes, Route{To: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + rng.IntN(64)), byte(rng.IntN(256)), byte(rng.IntN(16) << 4)}), 28), Tunnel: i})
		}
	}
	table, err := NewRouteTable(routes, tt)
	if err != nil {
		b.Fatal(err)
	}
	const changed = 5000
	var had []netip.Prefix
	for _, r := range routes[changed*perTunnel : (changed+1)*perTunnel] {
		had = append(had, r.To)
	}
	moved := slices.Clone(routes[changed*perTunnel : (changed+1)*perTunnel])
	moved[0].To = netip.MustParsePrefix("10.250.0.0/28")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := table.Update(func(i int) bool { return i == changed }, had, moved, tt); err != nil {
			b.Fatal(err)
		}
	}
}
