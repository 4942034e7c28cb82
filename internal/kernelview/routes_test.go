package kernelview

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A View's routes, built again only for the devices whose routes or table
// changed, are those a build of every device gives, through any sequence of
// additions, replacements, deletions, devices going down, table changes and
// fresh reads.
func TestViewRoutesIncrementalMatchesFullBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := &follower{routes: newRouteStore(), watched: map[int]int{1: 254, 2: 254, 3: 100}}
	key := func() routeKey {
		return routeKey{
			table:  []int{254, 254, 100}[rng.IntN(3)],
			to:     netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), 0, 0}), 16),
			metric: rng.IntN(2),
			tos:    []int{0, 0, 0, 8}[rng.IntN(4)],
		}
	}
	route := func() storedRoute {
		var s storedRoute
		for range 1 + rng.IntN(2) {
			s.hops = append(s.hops, storedHop{index: 1 + rng.IntN(4), via: netip.AddrFrom4([4]byte{10, 245, 1, byte(rng.IntN(3))}), weight: 1})
		}
		return s
	}
	for step := range 5000 {
		op := ""
		switch n := rng.IntN(100); {
		case n < 50:
			op = "set"
			f.routes.set(key(), route())
		case n < 80:
			op = "del"
			f.routes.del(key())
		case n < 90:
			op = "drop"
			f.routes.dropDevice(1 + rng.IntN(4))
		case n < 95:
			op = "watch"
			w := map[int]int{}
			for index := 1; index <= 4; index++ {
				if rng.IntN(4) > 0 {
					w[index] = []int{254, 100}[rng.IntN(2)]
				}
			}
			f.watched, f.watchedChanged = w, true
		default:
			// As readRoutes does: a new store, with the flag. The read
			// finds every route of one device gone, so that the device is
			// in no dirty set: only the flag makes its routes go.
			op = "read anew"
			gone := 1 + rng.IntN(4)
			fresh := newRouteStore()
			for k, r := range f.routes.all {
				if !slices.ContainsFunc(r.hops, func(h storedHop) bool { return h.index == gone }) {
					fresh.set(k, r)
				}
			}
			f.routes, f.routesReplaced = fresh, true
		}
		if rng.IntN(3) > 0 {
			continue // several changes between two Views
		}
		got := f.viewRoutes()
		want := map[int][]Route{}
		for index, table := range f.watched {
			if r := f.routes.routesThrough(index, table); r != nil {
				want[index] = r
			}
		}
		if !reflect.DeepEqual(sorted(got), sorted(want)) {
			t.Fatalf("step %d (%s): incremental %v, full %v", step, op, got, want)
		}
	}
}

func sorted(m map[int][]Route) map[int][]Route {
	out := map[int][]Route{}
	for index, r := range m {
		r = slices.Clone(r)
		slices.SortFunc(r, func(a, b Route) int {
			return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
		})
		out[index] = r
	}
	return out
}

// compacted holds what the store held, in maps of their own size.
func TestCompactedStoreHoldsTheSame(t *testing.T) {
	st := newRouteStore()
	for i := range 5000 {
		k := routeKey{table: 254, to: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		st.set(k, storedRoute{hops: []storedHop{{index: 1 + i%50, weight: 1}, {index: 100, weight: 1}}})
	}
	for index := 1; index < 50; index++ {
		st.dropDevice(index)
	}
	c := st.compacted()
	if !maps.EqualFunc(c.all, st.all, func(a, b storedRoute) bool { return slices.Equal(a.hops, b.hops) && a.protocol == b.protocol }) ||
		!maps.EqualFunc(c.byDevice, st.byDevice, maps.Equal) || !maps.Equal(c.dirty, st.dirty) {
		t.Fatal("the compacted store differs")
	}
	if len(c.all) != 5000 || len(c.byDevice[100]) != 5000 || len(c.byDevice[50]) != 100 {
		t.Fatalf("the store after the drops: %d routes, %d through 100, %d through 50", len(c.all), len(c.byDevice[100]), len(c.byDevice[50]))
	}
}

// The local store counts its entries by device, so that a device with none
// is answered without a scan, and drops only what it is asked to.
func TestLocalStoreDropsByDevice(t *testing.T) {
	st := newLocalStore()
	key := func(a string) routeKey { return routeKey{table: 255, to: netip.MustParsePrefix(a + "/32")} }
	st.set(key("10.0.0.1"), localEntry{localAddress, 2})
	st.set(key("10.0.0.255"), localEntry{broadcastAddress, 2})
	st.set(key("10.1.0.1"), localEntry{localAddress, 3})
	st.set(key("10.1.0.1"), localEntry{localAddress, 3}) // again: replaced, counted once
	if st.dropBroadcasts(4) || st.dropDevice(4) {
		t.Error("a device without entries dropped some")
	}
	if !st.dropBroadcasts(2) || len(st.entries) != 2 || st.byDevice[2] != 1 {
		t.Errorf("after device 2's broadcasts: %v, counts %v", st.entries, st.byDevice)
	}
	if !st.dropDevice(3) || len(st.entries) != 1 || st.byDevice[3] != 0 {
		t.Errorf("after device 3: %v, counts %v", st.entries, st.byDevice)
	}
	st.del(key("10.0.0.1"))
	if len(st.entries) != 0 || len(st.byDevice) != 0 {
		t.Errorf("after the last delete: %v, counts %v", st.entries, st.byDevice)
	}
}
