package engine

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
	"github.com/ipipd/ipipd/lookup"
	"github.com/vishvananda/netlink"
)

// Following the kernel, the control plane, once per View of the watcher:
//
//  1. a device deleted from outside (`ip link del`) is made again, with
//     its addresses and routes, by applying the running config again; if
//     that fails the engine reports it on Fatal, so the daemon exits and
//     its service manager restarts it, never a silent dead datapath;
//  2. a device that came up gets back what ipipd installed and the kernel
//     flushed when it went down (netsetup.Applied.Reconcile);
//  3. a new state is published: each tunnel's link state and MTU, the
//     ICMP source from its addresses, and the route table from the routes
//     the kernel holds through each device.

// kernelChanged is the watcher's Publish: it keeps the newest View and
// wakes the follower, never blocking the watcher.
func (e *Engine) kernelChanged(v *kernelview.View) {
	// The local table's addresses go straight to the receive loop's
	// broadcast test and the transmit loops' local-source test.
	e.netns().local.Store(localTableOf(v))
	e.view.Store(v)
	select {
	case e.viewReady <- struct{}{}:
	default:
	}
}

// follow applies each View, until the engine closes. The tables are built
// outside the engine's lock: with a routing daemon's 100 000 routes a build
// takes a tenth of a second, which a reload or a stop must not wait for.
func (e *Engine) follow() {
	defer close(e.followDone)
	for range e.viewReady {
		e.trim.viewed()
		v := e.view.Load()
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		st, done := e.applyLinks(v)
		e.mu.Unlock()
		if done {
			continue
		}
		next, err := e.build(st, st.tunnels, v)
		if err != nil {
			e.log.Error("building the tables from the kernel's routes", "err", err)
			continue
		}
		e.mu.Lock()
		switch {
		case e.closed:
		case e.state.Load() == st:
			e.state.Store(next)
		default:
			// A reload published meanwhile, maybe with an older View:
			// build again from the newest.
			e.kernelChanged(e.view.Load())
		}
		e.mu.Unlock()
	}
}

// applyLinks is the part of a round of following that needs e.mu held:
// devices deleted from outside made again, devices come up given back what
// the kernel flushed. It returns the state to build the next one from, or
// done when a state with v is already published.
func (e *Engine) applyLinks(v *kernelview.View) (st *state, done bool) {
	var lost []string
	for name, rt := range e.runtimes {
		if rt.ifindex == 0 {
			continue
		}
		// Gone says what went since the View before this one; a View
		// the follower did not get to in time took its Gone with it. So a
		// device the View watches and does not show is asked after. One
		// it does not watch is newer than the View: asking after each of
		// the 10 000 a start had just made held the engine for 0.8 s.
		_, shown := v.Links[rt.ifindex]
		_, watched := v.Watched[rt.ifindex]
		if v.Watched == nil {
			watched = true // a View that does not say: ask
		}
		if v.IsGone(rt.ifindex) || (!shown && watched && deviceGone(rt.ifindex)) {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		for _, name := range lost {
			e.log.Error("the tunnel's device was deleted from outside ipipd (ip link del); making it again with its addresses and routes", "tunnel", name)
			rt := e.runtimes[name]
			delete(e.runtimes, name)
			e.slots.give(rt.slot)
			e.watchDevices()
			rt.setup.Forget()
			e.stop(rt)
		}
		if err := e.applyLocked(e.cfg); err != nil {
			e.reportFatal(fmt.Errorf("making the deleted device of tunnel %v again failed: %w", lost, err))
		}
		return nil, true // applyLocked published a state with this View
	}
	for name, rt := range e.runtimes {
		link, ok := v.Links[rt.ifindex]
		if !ok {
			continue
		}
		// Up again, or down and up since the last View: the kernel flushed
		// the device's routes.
		if link.Up && (!rt.up || link.Downs != rt.downs) {
			if err := rt.setup.Reconcile(); err != nil {
				e.log.Error("putting back the tunnel's addresses and routes after it came up", "tunnel", name, "err", err)
			}
			for _, w := range rt.setup.TakeWarnings() {
				e.log.Warn(w, "tunnel", name)
			}
		}
		rt.up, rt.downs = link.Up, link.Downs
	}
	return e.state.Load(), false
}

// build makes the state the datapath reads from tunnels (a config compiled,
// with each tunnel's runtime set) and what the kernel holds (v; nil before
// the first View). A tunnel whose device the View does not show yet keeps
// its config's MTU and routes, which ipipd has just installed.
//
// prev is the state the new one replaces, or nil: the route table is
// prev's, updated for the tunnels whose routes changed, when that is a
// small part of it. A routing daemon's change or a reload touches a few
// tunnels of many; rebuilding 100 000 routes took 0.11-0.15 s each time.
func (e *Engine) build(prev *state, tunnels []tunnelState, v *kernelview.View) (*state, error) {
	next := &state{tunnels: make([]tunnelState, len(tunnels)), index: make(map[*runtime]int, len(tunnels)), devices: map[int]int{}, routesBuilt: true}
	copy(next.tunnels, tunnels)
	lt := make([]lookup.Tunnel, len(tunnels))
	total := 0
	for i := range next.tunnels {
		ts := &next.tunnels[i]
		c := &ts.config
		link := 0
		if c.Dev != "" {
			link, _ = netsetup.LinkIndex(c.Dev) // checked by compile
		}
		var seen bool
		var kl kernelview.Link
		if ts.rt != nil {
			next.index[ts.rt] = i
			if ts.rt.ifindex != 0 {
				next.devices[ts.rt.ifindex] = i
			}
			if v != nil {
				kl, seen = v.Links[ts.rt.ifindex]
			}
		}
		if seen {
			ts.down, ts.tunMTU = !kl.Up, kl.MTU
			ts.addresses, ts.routes = v.Addresses[kl.Index], v.Routes[kl.Index]
		} else {
			ts.down = c.Down
			ts.addresses, ts.routes = c.Addresses, nil
			for _, r := range ts.link().Routes {
				ts.routes = append(ts.routes, kernelview.Route{To: r.To, Via: r.Via, Table: ts.table(), Protocol: netsetup.RouteProtocol, Weight: 1})
			}
		}
		total += len(ts.routes)
		lt[i] = lookup.Tunnel{Name: c.Name, Local: c.Local, Remote: c.Remote, Link: link, Mode: header.ProtocolIPIP, Down: ts.down}
	}
	tunnelTable, err := lookup.NewTunnelTable(lt)
	if err != nil {
		return nil, err
	}
	routes, err := routeTable(prev, next.tunnels, lt, total)
	if err != nil {
		return nil, err
	}
	next.tables = &lookup.Snapshot{Tunnels: tunnelTable, Routes: routes}
	return next, nil
}

// bySlot is tunnels indexed by their runtime's route slot. A tunnel
// without a runtime (none in a running engine) has no slot and no routes
// in the route table.
func bySlot(tunnels []tunnelState) ([]*tunnelState, error) {
	n := 0
	for i := range tunnels {
		if rt := tunnels[i].rt; rt != nil {
			n = max(n, rt.slot+1)
		}
	}
	states := make([]*tunnelState, n)
	for i := range tunnels {
		rt := tunnels[i].rt
		if rt == nil {
			continue
		}
		if states[rt.slot] != nil {
			return nil, fmt.Errorf("tunnels %q and %q share route slot %d", states[rt.slot].config.Name, tunnels[i].config.Name, rt.slot)
		}
		states[rt.slot] = &tunnels[i]
	}
	return states, nil
}

// routeTable is the route table of tunnels, their next hops named by route
// slot: prev's updated for the slots whose routes differ from prev's, or
// built anew when prev was not built from its tunnels' routes or the
// change is a large part of the whole. lt is tunnels' lookup entries.
func routeTable(prev *state, tunnels []tunnelState, lt []lookup.Tunnel, total int) (*lookup.RouteTable, error) {
	now, err := bySlot(tunnels)
	if err != nil {
		return nil, err
	}
	// What the next hops name: each slot's lookup entry.
	entries := make([]lookup.Tunnel, len(now))
	for i := range tunnels {
		if rt := tunnels[i].rt; rt != nil {
			entries[rt.slot] = lt[i]
		}
	}
	if prev == nil || !prev.routesBuilt || prev.tables == nil || prev.tables.Routes == nil {
		return lookup.NewRouteTable(allRoutes(now), entries)
	}
	before, err := bySlot(prev.tunnels) // checked when prev was built
	if err != nil {
		return nil, err
	}
	// Counted before anything is listed: after a fresh read of the
	// kernel every device's slice is new, and listing 100 000 routes
	// twice only to rebuild would double the cost.
	changed, moved := map[int]bool{}, 0
	for slot := range max(len(now), len(before)) {
		var a, b *tunnelState
		if slot < len(before) {
			a = before[slot]
		}
		if slot < len(now) {
			b = now[slot]
		}
		if a == nil && b == nil || a != nil && b != nil && sameRoutes(a, b) {
			continue
		}
		changed[slot] = true
		if a != nil {
			moved += len(a.routes)
		}
		if b != nil {
			moved += len(b.routes)
		}
	}
	if len(changed) == 0 {
		return prev.tables.Routes, nil
	}
	if moved*rebuildShare > total {
		return lookup.NewRouteTable(allRoutes(now), entries)
	}
	var had []netip.Prefix
	var added []lookup.Route
	for slot := range changed {
		if slot < len(before) && before[slot] != nil {
			for _, r := range before[slot].routes {
				had = append(had, r.To)
			}
		}
	}
	// By slot, as Update keeps each prefix's next hops in that order.
	for slot, ts := range now {
		if ts != nil && changed[slot] {
			added = appendRoutes(added, slot, ts.routes)
		}
	}
	return prev.tables.Routes.Update(func(slot int) bool { return changed[slot] }, had, added, entries)
}

// rebuildShare: a change to more than 1/rebuildShare of all routes
// rebuilds the table, which is then cheaper than updates prefix by prefix.
// A variable so that a test can make every change an update.
var rebuildShare = 8

// sameRoutes reports whether b's routes give the route table what a's
// gave: the same runtime, the same remote (a connected tunnel's next hops
// are its remote), and the same routes. The same slice, not equal
// contents: a View hands out a device's slice again until its routes
// change, and never writes into one, so this costs nothing per route.
func sameRoutes(a, b *tunnelState) bool {
	return a.rt == b.rt && a.rt != nil && a.config.Remote == b.config.Remote &&
		len(a.routes) == len(b.routes) && (len(a.routes) == 0 || &a.routes[0] == &b.routes[0])
}

// allRoutes is every tunnel's routes for the route table, by slot.
func allRoutes(bySlot []*tunnelState) []lookup.Route {
	var out []lookup.Route
	for slot, ts := range bySlot {
		if ts != nil {
			out = appendRoutes(out, slot, ts.routes)
		}
	}
	return out
}

// appendRoutes appends the routes kr of the tunnel in route slot i as the
// route table takes them: a multipath route's next hops repeated by weight.
func appendRoutes(out []lookup.Route, i int, kr []kernelview.Route) []lookup.Route {
	for j := 0; j < len(kr); {
		k := j + 1
		for k < len(kr) && kr[k].To == kr[j].To {
			k++ // one prefix's next hops are contiguous
		}
		for h, n := range repeats(kr[j:k]) {
			for range n {
				out = append(out, lookup.Route{To: kr[j+h].To, Via: kr[j+h].Via, Tunnel: i})
			}
		}
		j = k
	}
	return out
}

// maxWeight bounds how often a weighted next hop is repeated in the route
// table: the kernel's weights run to 256, and shares finer than 1/16 are
// not worth the table's memory.
const maxWeight = 16

// repeats is how often each next hop of one multipath route goes into the
// route table: its weight, divided by the weights' common divisor, and
// scaled down together when the largest is above maxWeight, so that 20:40
// stays 1:2 (clamping each alone made it 16:16).
func repeats(hops []kernelview.Route) []int {
	g, top := 0, 1
	for _, h := range hops {
		g = gcd(g, max(h.Weight, 1))
		top = max(top, max(h.Weight, 1))
	}
	out := make([]int, len(hops))
	for i, h := range hops {
		w := max(h.Weight, 1) / g
		if top/g > maxWeight {
			w = max(1, (w*maxWeight+(top/g)/2)/(top/g))
		}
		out[i] = w
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// deviceGone reports whether the kernel has no device index any more.
func deviceGone(index int) bool {
	_, err := netlink.LinkByIndex(index)
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound)
}

// watchDevices tells the watcher the devices to follow: every tunnel's,
// with its routing table.
func (e *Engine) watchDevices() {
	if e.watcher == nil {
		return
	}
	devices := make(map[int]int, len(e.runtimes))
	for _, rt := range e.runtimes {
		if rt.ifindex != 0 {
			devices[rt.ifindex] = rt.table
		}
	}
	e.watcher.Watch(devices)
}

// reportFatal hands err to whoever waits on Fatal, once.
func (e *Engine) reportFatal(err error) {
	e.log.Error("the datapath cannot go on", "err", err)
	select {
	case e.fatal <- err:
	default:
	}
}

// Fatal delivers an error after which the engine cannot go on (a deleted
// device it could not make again): the daemon should exit non-zero.
func (e *Engine) Fatal() <-chan error { return e.fatal }

// deviceIndex is the ifindex of the TUN device name.
func deviceIndex(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("find the TUN device %s just made: %w", name, err)
	}
	return l.Attrs().Index, nil
}
