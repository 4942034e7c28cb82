package kernelview

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The Watcher's goroutine: notifications applied in order to what it
// holds, Views made from it, Fresh answered once a barrier comes back (see
// notifications.go), and everything read again after an overflow.

// follower is the Watcher's goroutine and everything it owns.
type follower struct {
	w         *Watcher
	h         *netlink.Handle
	ns        netns.NsHandle // where a resubscription must open its sockets
	watched   map[int]int
	routes    routeStore
	links     map[int]Link
	addresses map[int][]netip.Prefix
	gone      []int
	local     localStore

	// published is the last View's routes and the devices and tables it
	// was built for: a View reuses a device's slice (Views are never
	// changed) unless its routes or its table changed since, or the store
	// was read anew. Rebuilding every device's routes for every View cost
	// 30 % of a daemon's CPU over the start and reloads of 10 000 tunnels
	// and 100 000 routes.
	published      map[int][]Route
	watchedChanged bool // f.watched was replaced since the last View
	routesReplaced bool // f.routes was read anew since the last View
	// localSets is the last View's Local and Broadcast, made again only
	// when the local table changed (10 000 tunnels: 10 000 addresses).
	localSets    [2]map[netip.Addr]struct{}
	localChanged bool

	// last is the last View handed out: a Fresh that finds nothing
	// changed since gets it again rather than a copy.
	last *View

	// readEverything: readAll has read the kernel's tables once, the
	// local table with them.
	readEverything bool
	// dumpFD is a strict netlink socket of the watched namespace, for the
	// dumps the kernel filters (device_read.go).
	dumpFD int

	notes *notifications // the notification socket, new after each failure
	// seq numbers the barriers; waiting holds the Fresh calls whose
	// barrier has not come back, oldest first. The numbers go on across
	// sockets, so a reply never answers a Fresh it was not sent for.
	seq     uint32
	waiting []freshWait
}

// freshWait is one Fresh call waiting for the reply to barrier seq.
type freshWait struct {
	seq   uint32
	reply chan<- *View
}

// subscribe opens the notification socket. The tables are read after it,
// so that no change falls between the read and the notifications.
func (f *follower) subscribe() error {
	n, err := openNotifications(f.ns)
	if err != nil {
		return err
	}
	f.notes = n
	return nil
}

func (f *follower) run() {
	defer close(f.w.stopped)
	defer f.h.Close()
	defer f.ns.Close()
	defer unix.Close(f.dumpFD)
	defer func() { f.notes.close() }()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	pending := false
	// wait is the settle time, stretched to what the last View cost to
	// make: during a routing daemon's burst the follower spends at most
	// half its time making Views and the rest reading notifications, so
	// the backlog drains and the View after the burst comes soon.
	wait := f.w.opts.Settle
	changed := func() {
		if !pending {
			pending = true
			settle.Reset(wait)
		}
	}
	// answer hands waiting Fresh calls the View of what the follower holds
	// now: a new one if anything changed since the last.
	answer := func(waiting []freshWait) {
		v := f.last
		if pending || v == nil {
			pending = false
			settle.Stop()
			v = f.publish()
		}
		for _, fw := range waiting {
			fw.reply <- v // buffered, and each Fresh is answered once
		}
	}
	for {
		select {
		case <-f.w.done:
			return
		case reply := <-f.w.fresh:
			// A caller wants what the kernel holds now, not what the
			// notifications have told so far: the follower takes a new
			// watched set, as on Watch (the new devices read now), sends a
			// barrier and answers when it comes back.
			if f.rewatch() {
				changed()
			}
			f.seq++
			if err := f.notes.barrier(f.seq); err != nil {
				f.w.log.Warn("the barrier for a fresh View failed; reading the kernel's tables instead", "err", err)
				f.readAll()
				changed()
				answer([]freshWait{{reply: reply}})
				continue
			}
			f.waiting = append(f.waiting, freshWait{seq: f.seq, reply: reply})
		case <-f.w.wake:
			if f.rewatch() {
				changed()
			}
		case nt := <-f.notes.notices:
			switch nt.kind {
			case routeNotice:
				if f.route(nt.route) {
					changed()
				}
			case linkNotice:
				if f.link(nt.link) {
					changed()
				}
			case addressNotice:
				if f.address(nt.address) {
					changed()
				}
			case barrierReply:
				// Replies come in the order the barriers went: this one
				// answers its own Fresh and any before it.
				if i := slices.IndexFunc(f.waiting, func(fw freshWait) bool { return fw.seq == nt.seq }); i >= 0 {
					answer(f.waiting[:i+1])
					f.waiting = slices.Delete(f.waiting, 0, i+1)
				}
			case socketLost:
				if !f.resubscribe(nt.err) {
					return // closed meanwhile
				}
				changed()
				// The barriers went with the socket; the fresh read
				// answers their Fresh calls.
				answer(f.waiting)
				f.waiting = f.waiting[:0]
			}
		case <-settle.C:
			pending = false
			start := time.Now()
			f.publish()
			wait = max(f.w.opts.Settle, time.Since(start))
		}
	}
}

// watchedSetChanged takes the set of devices the last Watch named, and
// reports whether it differs from the one followed so far.
func (f *follower) watchedSetChanged() bool {
	f.w.mu.Lock()
	wanted := f.w.wanted
	f.w.mu.Unlock()
	if maps.Equal(wanted, f.watched) {
		return false
	}
	f.watched, f.watchedChanged = wanted, true
	return true
}

// resubscribe starts over after the notification socket failed: most often
// it overflowed (ENOBUFS), so changes were lost and only a fresh read of
// the tables is right again. It returns false if the Watcher was closed
// first.
func (f *follower) resubscribe(cause error) bool {
	select {
	case <-f.w.done:
		return false
	default:
	}
	f.w.log.Warn("the kernel's notifications were lost (the socket overflowed or failed); reading its links, addresses and routes again", "err", cause)
	f.notes.close()
	for {
		err := f.subscribe()
		if err == nil {
			break
		}
		f.w.log.Error("resubscribing to the kernel's notifications failed; retrying in 1 s", "err", err)
		select {
		case <-f.w.done:
			return false // f.notes stays the closed socket, which run closes again
		case <-time.After(time.Second):
		}
	}
	f.readAll()
	return true
}

// readAll replaces what the follower holds with a fresh read of the
// kernel's links, addresses and routes for the watched devices.
func (f *follower) readAll() {
	f.readEverything = true
	links := make(map[int]Link, len(f.watched))
	// One dump, not a request per device: 10 000 tunnels are 10 000
	// devices.
	all, err := f.linkList()
	if err != nil {
		f.w.log.Error("reading the kernel's links failed", "err", err)
		all = nil
		for index := range f.watched { // keep what is known
			if l, ok := f.links[index]; ok {
				links[index] = l
			}
		}
	}
	for _, l := range all {
		old, had := f.links[l.Index]
		l.Downs = old.Downs
		if had && old.Up && !l.Up {
			l.Downs++
		}
		links[l.Index] = l
	}
	for index := range f.links {
		if _, still := links[index]; !still {
			if _, watched := f.watched[index]; watched {
				f.gone = append(f.gone, index)
			}
		}
	}
	f.links = links

	// On a failed read the previous addresses stay: an empty set would
	// tell the engine every address was gone.
	for attempt := 0; ; attempt++ {
		addrs, err := f.h.AddrList(nil, netlink.FAMILY_V4)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 10 {
			continue
		}
		if err != nil {
			f.w.log.Error("reading the kernel's addresses failed; keeping the last known", "err", err)
			break
		}
		f.addresses = map[int][]netip.Prefix{}
		for _, a := range addrs {
			if _, ok := f.watched[a.LinkIndex]; ok && a.IPNet != nil {
				if p, ok := prefixOf(a.IPNet); ok {
					f.addresses[a.LinkIndex] = append(f.addresses[a.LinkIndex], p)
				}
			}
		}
		break
	}
	f.readRoutes()
}

// readRoutes replaces the routes the follower holds with a fresh dump:
// part of readAll, and done alone when a device comes up, because the
// kernel revives a multipath route's next hops through it without a word
// (fib_sync_up sends no RTM_NEWROUTE).
func (f *follower) readRoutes() {
	for attempt := 0; ; attempt++ {
		routes, local := newRouteStore(), newLocalStore()
		err := f.h.RouteListFilteredIter(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE,
			func(r netlink.Route) bool {
				if k, kind, ok := localRoute(&r); ok {
					local.set(k, kind)
				} else if k, s, ok := convert(&r); ok && s.throughAny(f.watched) {
					routes.set(k, s)
				}
				return true
			})
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 10 {
			continue // the table changed during the read: read it again
		}
		if err != nil {
			// A partial read would lose routes: keep the last known.
			f.w.log.Error("reading the kernel's routes failed; keeping the last known", "err", err)
			return
		}
		f.routes, f.local = routes, local
		f.routesReplaced, f.localChanged = true, true
		return
	}
}

// route applies one route notification and reports whether it changed
// anything the view shows.
func (f *follower) route(u *netlink.RouteUpdate) bool {
	if k, kind, ok := localRoute(&u.Route); ok {
		if u.Type == unix.RTM_DELROUTE {
			f.local.del(k)
		} else {
			f.local.set(k, kind)
		}
		f.localChanged = true
		return true
	}
	k, s, ok := convert(&u.Route)
	if !ok {
		return false
	}
	had := f.routes.has(k)
	switch u.Type {
	case unix.RTM_NEWROUTE:
		if s.throughAny(f.watched) {
			f.routes.set(k, s)
			return true
		}
		// A replace can move a route off the watched devices.
		f.routes.del(k)
	case unix.RTM_DELROUTE:
		f.routes.del(k)
	}
	return had
}

// link applies one link notification and reports whether it changed
// anything the view shows.
func (f *follower) link(u *netlink.LinkUpdate) bool {
	index := int(u.Index)
	// Any device's: the local table is the host's.
	localChanged := false
	switch {
	case u.Header.Type == unix.RTM_DELLINK:
		localChanged = f.local.dropDevice(index)
	case u.Link != nil && u.Link.Attrs().Flags&net.FlagUp == 0:
		localChanged = f.local.dropBroadcasts(index)
	}
	f.localChanged = f.localChanged || localChanged
	if _, ok := f.watched[index]; !ok {
		return localChanged
	}
	if u.Header.Type == unix.RTM_DELLINK {
		delete(f.links, index)
		delete(f.addresses, index)
		f.routes.dropDevice(index)
		f.gone = append(f.gone, index)
		return true
	}
	l := linkOf(u.Link)
	old, had := f.links[index]
	l.Downs = old.Downs
	if had && old.Up && !l.Up {
		f.routes.dropDevice(index)
		l.Downs++
	}
	if had && old == l {
		return localChanged
	}
	f.links[index] = l
	if had && !old.Up && l.Up {
		if err := f.readDeviceRoutes(index); err != nil {
			f.w.log.Error("reading the routes of a device that came up failed; reading every route instead", "ifindex", index, "err", err)
			f.readRoutes()
		}
	}
	return true
}

// address applies one address notification.
func (f *follower) address(u *netlink.AddrUpdate) bool {
	if _, ok := f.watched[u.LinkIndex]; !ok {
		return false
	}
	p, ok := prefixOf(&u.LinkAddress)
	if !ok {
		return false
	}
	have := f.addresses[u.LinkIndex]
	i := slices.Index(have, p)
	switch {
	case u.NewAddr && i < 0:
		f.addresses[u.LinkIndex] = append(slices.Clip(have), p)
	case !u.NewAddr && i >= 0:
		f.addresses[u.LinkIndex] = slices.Delete(slices.Clone(have), i, i+1)
		if len(f.addresses[u.LinkIndex]) == 0 {
			// With a device's last IPv4 address the kernel flushes the
			// routes through it, as when it goes down, and says nothing
			// (fib_disable_ip).
			f.routes.dropDevice(u.LinkIndex)
		}
	default:
		return false
	}
	return true
}

// publish hands out a View of what the follower holds now, and returns it.
func (f *follower) publish() *View {
	if f.localChanged || f.localSets[0] == nil {
		f.localSets[0], f.localSets[1] = f.local.sets()
		f.localChanged = false
	}
	v := &View{
		Links:  maps.Clone(f.links),
		Routes: f.viewRoutes(),
		// The slices are shared, not copied: the follower replaces a
		// device's slice on every change and never writes into one.
		Addresses: maps.Clone(f.addresses),
		Gone:      f.gone,
		// Shared: Watch replaces the map, never writes into it.
		Watched:   f.watched,
		Local:     f.localSets[0],
		Broadcast: f.localSets[1],
	}
	f.gone = nil
	f.last = v
	f.w.opts.Publish(v)
	return v
}

// viewRoutes returns the routes of every watched device for a new View,
// built again only for the devices whose routes changed since the last one;
// the others share the last View's slices.
func (f *follower) viewRoutes() map[int][]Route {
	var out map[int][]Route
	if f.published == nil || f.watchedChanged || f.routesReplaced {
		out = make(map[int][]Route, len(f.watched))
		for index, table := range f.watched {
			if r := f.routes.routesThrough(index, table); r != nil {
				out[index] = r
			}
		}
	} else {
		out = maps.Clone(f.published)
		for index := range f.routes.dirty {
			delete(out, index)
			if table, ok := f.watched[index]; ok {
				if r := f.routes.routesThrough(index, table); r != nil {
					out[index] = r
				}
			}
		}
	}
	clear(f.routes.dirty)
	f.watchedChanged, f.routesReplaced = false, false
	if len(out) < len(f.published)/2 {
		// Cloned from the last View's, out has its buckets: made again
		// for its size once most devices went, or every View after
		// would copy them.
		out = resized(out)
	}
	f.published = out
	return out
}

func linkOf(l netlink.Link) Link {
	a := l.Attrs()
	return Link{Index: a.Index, Name: a.Name, Up: a.Flags&net.FlagUp != 0, MTU: a.MTU}
}
