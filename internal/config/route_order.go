package config

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// routeSurvey is what the file-wide route checks need of every route,
// gathered in one pass over the routes (surveyRoutes): at 100 000 routes
// each pass over them reads 10 MB.
//
// The routes are found by prefix in a sorted list rather than in a map: a
// Go map of 100 000 routes takes about 100 ns a lookup here, nearly all of
// it a cache miss, while sorting them (a radix sort of a few sequential
// passes) and searching the sorted list costs a tenth of that.
type routeSurvey struct {
	byPrefix    []routeEntry // every route by prefix, one prefix's in file order
	ignoredVias []routeRef   // a via, not the remote, on a tunnel with a remote
	toSelf      []routeRef   // no via, on a tunnel without remote
	vias        []routeRef   // every route with a via: a next hop
	lengths     uint64       // bit n: a route not in toSelf is a /n
}

// routeRef is a route of the file: p.tunnels[tunnel].routes[route].
type routeRef struct{ tunnel, route int32 }

// compare orders routes as the file does.
func (r routeRef) compare(o routeRef) int {
	return cmp.Or(cmp.Compare(r.tunnel, o.tunnel), cmp.Compare(r.route, o.route))
}

// routeAt returns the tunnel and the route that ref names.
func (p *parser) routeAt(ref routeRef) (*tunnelSource, *routeSource) {
	t := p.tunnels[ref.tunnel]
	return t, &t.routes[ref.route]
}

// routeEntry is a route under its prefix's key.
type routeEntry struct {
	key uint64 // prefixKey of the route's to
	ref routeRef
}

// prefixKey packs an IPv4 prefix into 40 bits, the address above the
// length (the low byte). Every prefix of a route or an address is IPv4: prefix refuses
// the others.
func prefixKey(p netip.Prefix) uint64 {
	return addressKey(p.Addr(), p.Bits())
}

// addressKey is the prefixKey of the prefix of a's first bits.
func addressKey(a netip.Addr, bits int) uint64 {
	v := uint32Of(a)
	if bits < 32 {
		v &^= ^uint32(0) >> bits
	}
	return uint64(v)<<8 | uint64(bits)
}

// uint32Of is an IPv4 address as a number; 0 for the zero Addr.
func uint32Of(a netip.Addr) uint32 {
	if !a.IsValid() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// surveyRoutes reads every route of the file once.
func (p *parser) surveyRoutes() *routeSurvey {
	n := 0
	for _, t := range p.tunnels {
		n += len(t.routes)
	}
	s := &routeSurvey{byPrefix: make([]routeEntry, 0, n)}
	for ti, t := range p.tunnels {
		if t.vias == 0 {
			// The common case: nothing to read but the prefixes.
			for i, key := range t.routeKeys {
				ref := routeRef{int32(ti), int32(i)}
				s.byPrefix = append(s.byPrefix, routeEntry{key, ref})
				if t.Remote.IsValid() {
					s.lengths |= 1 << (key & 0xff)
				} else {
					s.toSelf = append(s.toSelf, ref)
				}
			}
			continue
		}
		for i := range t.routes {
			r := &t.routes[i]
			ref := routeRef{int32(ti), int32(i)}
			s.byPrefix = append(s.byPrefix, routeEntry{t.routeKeys[i], ref})
			via := r.route.Via
			if via.IsValid() {
				s.vias = append(s.vias, ref)
				if t.Remote.IsValid() && via != t.Remote && r.via.known() {
					s.ignoredVias = append(s.ignoredVias, ref)
				}
			}
			if !t.Remote.IsValid() && !via.IsValid() {
				s.toSelf = append(s.toSelf, ref)
			} else {
				s.lengths |= 1 << r.route.To.Bits()
			}
		}
	}
	sortByKey(s.byPrefix)
	return s
}

// sortByKey sorts entries by their 40-bit keys, a byte at a time from the
// lowest: each pass is stable, so the entries of one key keep their order.
// A pass whose byte is the same in every key (all /28s, all in 10/8) is
// skipped.
func sortByKey(entries []routeEntry) {
	spare := make([]routeEntry, len(entries))
	from, to := entries, spare
	for shift := 0; shift < 40; shift += 8 {
		var start [256]int
		for _, e := range from {
			start[byte(e.key>>shift)]++
		}
		if len(from) == 0 || start[byte(from[0].key>>shift)] == len(from) {
			continue
		}
		sum := 0
		for b, count := range start {
			start[b] = sum
			sum += count
		}
		for _, e := range from {
			b := byte(e.key >> shift)
			to[start[b]] = e
			start[b]++
		}
		from, to = to, from
	}
	if len(entries) > 0 && &from[0] != &entries[0] {
		copy(entries, from)
	}
}

// find returns the first route, in file order, whose prefix has key.
func (s *routeSurvey) find(key uint64) (routeRef, bool) {
	i, ok := slices.BinarySearchFunc(s.byPrefix, key, compareKey)
	if !ok {
		return routeRef{}, false
	}
	return s.byPrefix[i].ref, true
}

// all returns every route whose prefix has key, in file order.
func (s *routeSurvey) all(key uint64) []routeRef {
	i, _ := slices.BinarySearchFunc(s.byPrefix, key, compareKey)
	var refs []routeRef
	for ; i < len(s.byPrefix) && s.byPrefix[i].key == key; i++ {
		refs = append(refs, s.byPrefix[i].ref)
	}
	return refs
}

func compareKey(e routeEntry, key uint64) int { return cmp.Compare(e.key, key) }
