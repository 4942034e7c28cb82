package kernelview

import (
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeKey is what identifies an IPv4 route to the kernel (a fib_alias):
// table, prefix, TOS and priority. A notification with the same key
// replaces the route, a deletion removes it.
type routeKey struct {
	table  int
	to     netip.Prefix
	tos    int
	metric int
}

// storedRoute is a kernel route that has a next hop through a watched
// device, reduced to what the view needs.
type storedRoute struct {
	protocol int
	hops     []storedHop
}

type storedHop struct {
	index  int
	via    netip.Addr
	weight int
}

// routeStore holds the routes with a next hop through a watched device,
// indexed by device as well: a device that goes down or away drops its
// routes by that index, not by a scan of every route (1 000 tunnels
// removed over 100 000 routes scanned 10^8 entries: 30 % of a profile).
//
// dirty holds the devices whose routes changed since the follower last
// published them, so that a View rebuilds those devices' routes only.
type routeStore struct {
	all      map[routeKey]storedRoute
	byDevice map[int]map[routeKey]struct{}
	dirty    map[int]struct{}
}

func newRouteStore() routeStore {
	return routeStore{all: map[routeKey]storedRoute{}, byDevice: map[int]map[routeKey]struct{}{}, dirty: map[int]struct{}{}}
}

// has reports whether the store holds k.
func (st routeStore) has(k routeKey) bool {
	_, ok := st.all[k]
	return ok
}

// set stores s under k, replacing what was there.
func (st routeStore) set(k routeKey, s storedRoute) {
	st.del(k)
	st.all[k] = s
	for _, h := range s.hops {
		st.dirty[h.index] = struct{}{}
		keys := st.byDevice[h.index]
		if keys == nil {
			keys = map[routeKey]struct{}{}
			st.byDevice[h.index] = keys
		}
		keys[k] = struct{}{}
	}
}

// del removes k.
func (st routeStore) del(k routeKey) {
	old, ok := st.all[k]
	if !ok {
		return
	}
	delete(st.all, k)
	for _, h := range old.hops {
		st.dirty[h.index] = struct{}{}
		if keys := st.byDevice[h.index]; keys != nil {
			delete(keys, k)
			if len(keys) == 0 {
				delete(st.byDevice, h.index)
			}
		}
	}
}

// convert reduces a netlink route to its key and next hops; ok is false for
// what the datapath never uses: non-IPv4, not unicast, or cloned.
func convert(r *netlink.Route) (routeKey, storedRoute, bool) {
	if r.Family != unix.AF_INET && r.Family != 0 {
		return routeKey{}, storedRoute{}, false
	}
	if r.Type != unix.RTN_UNICAST || r.Flags&unix.RTM_F_CLONED != 0 {
		return routeKey{}, storedRoute{}, false
	}
	to := netip.PrefixFrom(netip.IPv4Unspecified(), 0) // the default route has no Dst
	if r.Dst != nil {
		p, ok := prefixOf(r.Dst)
		if !ok {
			return routeKey{}, storedRoute{}, false
		}
		to = p
	}
	key := routeKey{table: r.Table, to: to, tos: r.Tos, metric: r.Priority}
	s := storedRoute{protocol: int(r.Protocol)}
	if len(r.MultiPath) == 0 {
		s.hops = []storedHop{{index: r.LinkIndex, via: addrOf(r.Gw), weight: 1}}
		return key, s, true
	}
	for _, h := range r.MultiPath {
		// A next hop the kernel marked dead (its device went down) carries
		// nothing.
		if h.Flags&(unix.RTNH_F_DEAD|unix.RTNH_F_LINKDOWN) != 0 {
			continue
		}
		s.hops = append(s.hops, storedHop{index: h.LinkIndex, via: addrOf(h.Gw), weight: h.Hops + 1})
	}
	return key, s, true
}

// throughAny reports whether some next hop leaves through a device in set.
func (s storedRoute) throughAny(set map[int]int) bool {
	for _, h := range s.hops {
		if _, ok := set[h.index]; ok {
			return true
		}
	}
	return false
}

// dropDevice removes the next hops through index, and the routes left with
// none: what the kernel's fib_sync_down_dev and fib_flush do when a device
// goes down or away. The kernel sends no RTM_DELROUTE for these (IPv4
// flushes silently), so the store must do it itself.
func (st routeStore) dropDevice(index int) {
	for k := range st.byDevice[index] {
		r := st.all[k]
		kept := r.hops[:0:0]
		for _, h := range r.hops {
			if h.index != index {
				kept = append(kept, h)
			}
		}
		if len(kept) == 0 {
			st.del(k)
			continue
		}
		r.hops = kept
		st.set(k, r)
	}
}

// compacted is st in maps of its own size. A Go map keeps the buckets of
// its largest size: after 10 000 tunnels and their 100 000 routes went,
// the emptied maps held 10-12 MiB.
func (st routeStore) compacted() routeStore {
	out := routeStore{all: resized(st.all), byDevice: make(map[int]map[routeKey]struct{}, len(st.byDevice)), dirty: resized(st.dirty)}
	for index, keys := range st.byDevice {
		out.byDevice[index] = resized(keys)
	}
	return out
}

// resized is a copy of m made for its present size; maps.Clone copies the
// buckets of the largest size too.
func resized[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// routesThrough builds one device's routes for a View: the next hops
// through device index of the routes in its table, keeping for each prefix
// only those of the lowest metric. It reads that device's routes only.
func (st routeStore) routesThrough(index, table int) []Route {
	type best struct {
		metric int
		hops   []Route
	}
	byPrefix := map[netip.Prefix]*best{}
	n := 0
	for k := range st.byDevice[index] {
		if k.table != table || k.tos != 0 {
			continue
		}
		r := st.all[k]
		for _, h := range r.hops {
			if h.index != index {
				continue
			}
			b := byPrefix[k.to]
			if b == nil || k.metric < b.metric {
				if b != nil {
					n -= len(b.hops)
				}
				b = &best{metric: k.metric}
				byPrefix[k.to] = b
			}
			if k.metric == b.metric {
				b.hops = append(b.hops, Route{To: k.to, Via: h.via, Table: k.table, Metric: k.metric, Protocol: r.protocol, Weight: h.weight})
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	routes := make([]Route, 0, n)
	for _, b := range byPrefix {
		// A multipath route's next hops in a stable order (by gateway), so
		// a flow keeps its next hop from one View to the next; the
		// prefixes need none, the route table sorts itself.
		slices.SortFunc(b.hops, func(x, y Route) int { return x.Via.Compare(y.Via) })
		routes = append(routes, b.hops...)
	}
	return routes
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if !a.Is4() {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	a = a.Unmap()
	if !a.Is4() || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// localKind is what a route of the local table says of its address.
type localKind uint8

const (
	localAddress     localKind = iota + 1 // RTN_LOCAL: one of this host's addresses
	broadcastAddress                      // RTN_BROADCAST
)

// localStore holds the local table's local and broadcast routes by key, so
// a deletion removes what its addition added, and counts them by device:
// every link notification of a device that is down asks for its
// broadcasts, and a start of 10 000 devices sends tens of thousands.
type localStore struct {
	entries  map[routeKey]localEntry
	byDevice map[int]int // entries per device
}

func newLocalStore() localStore {
	return localStore{entries: map[routeKey]localEntry{}, byDevice: map[int]int{}}
}

// localEntry is one local-table route: what it says, and its device.
type localEntry struct {
	kind  localKind
	index int
}

// set stores e under k, replacing what was there.
func (st localStore) set(k routeKey, e localEntry) {
	st.del(k)
	st.entries[k] = e
	st.byDevice[e.index]++
}

// del removes k.
func (st localStore) del(k routeKey) {
	old, ok := st.entries[k]
	if !ok {
		return
	}
	delete(st.entries, k)
	if st.byDevice[old.index]--; st.byDevice[old.index] <= 0 {
		delete(st.byDevice, old.index)
	}
}

// dropBroadcasts forgets the broadcast routes of device index, which the
// kernel removes without a word when the device goes down (its local
// routes stay: the host keeps its addresses), and reports whether there
// were any. The device's up adds them back, with notifications.
func (st localStore) dropBroadcasts(index int) bool {
	return st.drop(index, func(e localEntry) bool { return e.kind == broadcastAddress })
}

// dropDevice forgets every local-table route of device index.
func (st localStore) dropDevice(index int) bool {
	return st.drop(index, func(localEntry) bool { return true })
}

func (st localStore) drop(index int, which func(localEntry) bool) bool {
	if st.byDevice[index] == 0 {
		return false
	}
	dropped := false
	for k, e := range st.entries {
		if e.index == index && which(e) {
			st.del(k)
			dropped = true
		}
	}
	return dropped
}

// compacted is st in maps of its own size (see routeStore.compacted).
func (st localStore) compacted() localStore {
	return localStore{entries: resized(st.entries), byDevice: resized(st.byDevice)}
}

// localRoute reduces a route of the local table to what it says of an
// address; ok is false for any other route.
func localRoute(r *netlink.Route) (routeKey, localEntry, bool) {
	if r.Table != unix.RT_TABLE_LOCAL || r.Dst == nil {
		return routeKey{}, localEntry{}, false
	}
	to, ok := prefixOf(r.Dst)
	if !ok || to.Bits() != 32 {
		return routeKey{}, localEntry{}, false
	}
	key := routeKey{table: r.Table, to: to, tos: r.Tos, metric: r.Priority}
	switch r.Type {
	case unix.RTN_LOCAL:
		return key, localEntry{localAddress, r.LinkIndex}, true
	case unix.RTN_BROADCAST:
		return key, localEntry{broadcastAddress, r.LinkIndex}, true
	}
	return routeKey{}, localEntry{}, false
}

// sets returns the local and broadcast addresses, for a View.
func (st localStore) sets() (local, broadcast map[netip.Addr]struct{}) {
	local, broadcast = map[netip.Addr]struct{}{}, map[netip.Addr]struct{}{}
	for k, e := range st.entries {
		if e.kind == localAddress {
			local[k.to.Addr()] = struct{}{}
		} else {
			broadcast[k.to.Addr()] = struct{}{}
		}
	}
	return local, broadcast
}
