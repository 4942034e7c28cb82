package engine

import (
	"errors"
	"fmt"

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
		next, err := e.build(st.tunnels, v)
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
		// device the View does not show is asked after: it may just be
		// newer than the View, or gone.
		if _, shown := v.Links[rt.ifindex]; v.IsGone(rt.ifindex) || (!shown && deviceGone(rt.ifindex)) {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		for _, name := range lost {
			e.log.Error("the tunnel's device was deleted from outside ipipd (ip link del); making it again with its addresses and routes", "tunnel", name)
			rt := e.runtimes[name]
			delete(e.runtimes, name)
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
func (e *Engine) build(tunnels []tunnelState, v *kernelview.View) (*state, error) {
	next := &state{tunnels: make([]tunnelState, len(tunnels)), index: make(map[*runtime]int, len(tunnels)), devices: map[int]int{}}
	copy(next.tunnels, tunnels)
	lt := make([]lookup.Tunnel, len(tunnels))
	var routes []lookup.Route
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
			kr := v.Routes[kl.Index]
			for j := 0; j < len(kr); {
				k := j + 1
				for k < len(kr) && kr[k].To == kr[j].To {
					k++ // one prefix's next hops are contiguous
				}
				for h, n := range repeats(kr[j:k]) {
					for range n {
						routes = append(routes, lookup.Route{To: kr[j+h].To, Via: kr[j+h].Via, Tunnel: i})
					}
				}
				j = k
			}
		} else {
			ts.down = c.Down
			ts.addresses, ts.routes = c.Addresses, nil
			for _, r := range ts.link().Routes {
				routes = append(routes, lookup.Route{To: r.To, Via: r.Via, Tunnel: i})
				ts.routes = append(ts.routes, kernelview.Route{To: r.To, Via: r.Via, Table: ts.table(), Protocol: netsetup.RouteProtocol, Weight: 1})
			}
		}
		lt[i] = lookup.Tunnel{Name: c.Name, Local: c.Local, Remote: c.Remote, Link: link, Mode: header.ProtocolIPIP, Down: ts.down}
	}
	tables, err := lookup.NewSnapshot(lt, routes)
	if err != nil {
		return nil, err
	}
	next.tables = tables
	return next, nil
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
