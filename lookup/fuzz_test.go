package lookup

import (
	"net/netip"
	"testing"
)

// The fuzz targets compare the tables with their oracles on inputs the
// fuzzer builds: the literal transcription of ip_tunnel_lookup
// (referenceLookup) and a scan of every prefix. The seed corpus is in
// testdata/fuzz, one file per case, named after it: the seed's mesh,
// kernel-ipip.md's dev-bound, multicast and external cases, nested
// prefixes, and a route without via (which the first fuzz run found the
// oracle getting wrong).

// fuzzAddrs is the pool tunnel endpoints and packet addresses are drawn
// from: few enough that the fuzzer makes ties, wildcards and duplicate
// identities often. Index 0 is "any".
var fuzzAddrs = []netip.Addr{anyIP, S, S2, D, X, M}

// fuzzLinks are the links a tunnel may be bound to and packets arrive on.
var fuzzLinks = []int{0, eth0, eth1, 7}

// tunnelsFrom reads tunnels from spec, 3 bytes each: local, remote, and
// link with two flag bits (0x40 down, 0x80 external).
func tunnelsFrom(spec []byte) []Tunnel {
	var tunnels []Tunnel
	for i := 0; i+3 <= len(spec) && len(tunnels) < 16; i += 3 {
		t := Tunnel{
			Name:   string(rune('a' + len(tunnels))),
			Local:  fuzzAddrs[int(spec[i])%len(fuzzAddrs)],
			Remote: fuzzAddrs[int(spec[i+1])%len(fuzzAddrs)],
			Link:   fuzzLinks[int(spec[i+2]&0x3f)%len(fuzzLinks)],
			Down:   spec[i+2]&0x40 != 0,
		}
		if spec[i+2]&0x80 != 0 {
			t = Tunnel{Name: t.Name, External: true, Down: t.Down}
		}
		tunnels = append(tunnels, t)
	}
	return tunnels
}

// duplicated reports whether two tunnels share the kernel's identity
// (local, remote, link), or two are external: what NewTunnelTable refuses.
func duplicated(tunnels []Tunnel) bool {
	seen := map[[3]uint64]bool{}
	for _, t := range tunnels {
		id := [3]uint64{uint64(addr32(t.Local)), uint64(addr32(t.Remote)), uint64(t.Link)}
		if t.External {
			id = [3]uint64{0, 0, 1 << 40}
		}
		if seen[id] {
			return true
		}
		seen[id] = true
	}
	return false
}

func FuzzTunnelLookup(f *testing.F) {
	f.Fuzz(func(t *testing.T, spec []byte, src, dst, link byte) {
		tunnels := tunnelsFrom(spec)
		table, err := NewTunnelTable(tunnels)
		if dup := duplicated(tunnels); dup != (err != nil) {
			t.Fatalf("tunnels %+v: NewTunnelTable error %v, duplicate identity %v", tunnels, err, dup)
		}
		if err != nil {
			return
		}
		// Sources are never 0.0.0.0 or multicast (IP input drops them,
		// and so does decap); destinations may be multicast.
		s := fuzzAddrs[1+int(src)%4]
		d := fuzzAddrs[1+int(dst)%(len(fuzzAddrs)-1)]
		l := fuzzLinks[1+int(link)%(len(fuzzLinks)-1)]
		got := table.Lookup(addr32(s), addr32(d), l)
		want := referenceLookup(tunnels, addr32(s), addr32(d), l)
		if got != want {
			t.Fatalf("tunnels %+v\npacket (%s, %s, %d): table %d, reference %d", tunnels, s, d, l, got, want)
		}
	})
}

// routesFrom reads routes from spec, 6 bytes each: a prefix (4 address
// bytes, a length) and the tunnel it goes to.
func routesFrom(spec []byte, tunnels int) []Route {
	var routes []Route
	for i := 0; i+6 <= len(spec) && len(routes) < 64; i += 6 {
		a := netip.AddrFrom4([4]byte(spec[i : i+4]))
		routes = append(routes, Route{
			To:     netip.PrefixFrom(a, int(spec[i+4])%33),
			Via:    a,
			Tunnel: int(spec[i+5]) % tunnels,
		})
	}
	return routes
}

func FuzzRouteLookup(f *testing.F) {
	tunnels := []Tunnel{{Name: "tunl0"}, {Name: "p2p", Local: D, Remote: S}, {Name: "bound", Local: D}}
	f.Fuzz(func(t *testing.T, spec []byte, probe uint32) {
		routes := routesFrom(spec, len(tunnels))
		// A prefix given twice is a multipath route: Lookup answers its
		// first next hop, as the oracle does.
		table, err := NewRouteTable(routes, tunnels)
		if err != nil {
			t.Fatalf("routes %v: %v", routes, err)
		}
		// Probe the fuzzer's address and, so that most probes hit, the
		// same host bits inside each route's prefix.
		probes := []uint32{probe}
		for _, r := range routes {
			mask := ^uint32(0)
			if r.To.Bits() < 32 {
				mask = ^(^uint32(0) >> r.To.Bits())
			}
			probes = append(probes, addr32(r.To.Masked().Addr())|probe&^mask)
		}
		for _, p := range probes {
			dst := AddrFromNumber(p)
			next, ok := table.Lookup(dst)
			want, wantOK := slowRoutes(routes, tunnels, dst)
			if ok != wantOK || (ok && next != want) {
				t.Fatalf("routes %v, %s: got %+v ok=%v, oracle %+v ok=%v", routes, dst, next, ok, want, wantOK)
			}
		}
	})
}
