package engine

import (
	"net/netip"
	"slices"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
	"github.com/ipipd/ipipd/internal/plan"
)

// What a reload can leave alone. At 10 000 tunnels and 100 000 routes, a
// reload that changes one tunnel must not ask the kernel about the other
// 9 999 (each Update reads the device, its addresses and every route back),
// nor delete a removed tunnel's routes one by one when closing its device
// deletes them all.

// sameLink reports whether a and b are the same kernel set-up.
func sameLink(a, b netsetup.Link) bool {
	return a.Name == b.Name && a.MTU == b.MTU && a.Table == b.Table && a.Down == b.Down &&
		slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Routes, b.Routes)
}

// untouched is the running tunnels a reload leaves alone in both of its
// steps: kept, asking the kernel for the same set-up as before, which v
// shows whole. Decided once for both steps. It compares configs, not
// built Links: building two Links for each of 10 000 tunnels, with their
// routes, was 36-83 ms of a reload.
func untouched(runtimes map[string]*runtime, wanted map[string]int, current *state, p *compiled, v *kernelview.View) map[*runtime]bool {
	out := make(map[*runtime]bool, len(runtimes))
	for name, rt := range runtimes {
		if i, kept := wanted[name]; kept {
			prev := &current.tunnels[current.index[rt]]
			out[rt] = sameSetUp(prev, &p.tunnels[i]) && holds(v, rt, prev)
		}
	}
	return out
}

// sameSetUp reports whether a and b ask the kernel for the same set-up:
// sameLink of their links, without building them.
func sameSetUp(a, b *tunnelState) bool {
	ac, bc := &a.config, &b.config
	if ac.Name != bc.Name || a.fileMTU != b.fileMTU || ac.Table != bc.Table || ac.Down != bc.Down ||
		!slices.Equal(ac.Addresses, bc.Addresses) || len(ac.Routes) != len(bc.Routes) {
		return false
	}
	for j := range ac.Routes {
		// A route without a via is installed via the tunnel's remote.
		if ac.Routes[j].To != bc.Routes[j].To || plan.RouteVia(ac.Remote, ac.Routes[j]) != plan.RouteVia(bc.Remote, bc.Routes[j]) {
			return false
		}
	}
	return true
}

// holds reports whether the kernel, as the watcher's newest View shows it,
// holds all of ts's set-up on rt's device: up, with its MTU, addresses,
// and routes as ipipd installs them (its protocol, no metric). When it does not (or there is no View
// yet), Update runs and puts back what is missing.
func holds(v *kernelview.View, rt *runtime, ts *tunnelState) bool {
	c := &ts.config
	if v == nil || rt.ifindex == 0 || c.Down {
		return false
	}
	link, ok := v.Links[rt.ifindex]
	if !ok || !link.Up || link.MTU != ts.fileMTU {
		return false
	}
	for _, a := range c.Addresses {
		if !slices.Contains(v.Addresses[rt.ifindex], a) {
			return false
		}
	}
	if len(c.Routes) == 0 {
		return true
	}
	table := ts.table()
	have := v.Routes[rt.ifindex]
	matches := func(h kernelview.Route, r netsetup.Route) bool {
		return h.To == r.To && h.Via == r.Via && h.Protocol == netsetup.RouteProtocol && h.Table == table && h.Metric == 0
	}
	installed := func(r config.Route) netsetup.Route {
		return netsetup.Route{To: r.To, Via: plan.RouteVia(c.Remote, r)}
	}
	if len(c.Routes)*len(have) <= 4096 {
		// A scan, not a map, for the usual tunnel of a few routes: a
		// reload asks this of every tunnel, and 10 000 maps were most of
		// a reload's check.
		for _, cr := range c.Routes {
			r := installed(cr)
			if !slices.ContainsFunc(have, func(h kernelview.Route) bool { return matches(h, r) }) {
				return false
			}
		}
		return true
	}
	held := make(map[netsetup.Route]bool, len(have))
	for _, h := range have {
		if h.Protocol == netsetup.RouteProtocol && h.Table == table && h.Metric == 0 {
			held[netsetup.Route{To: h.To, Via: h.Via}] = true
		}
	}
	for _, cr := range c.Routes {
		if !held[installed(cr)] {
			return false
		}
	}
	return true
}

// claimed is, of the addresses and route prefixes the removed tunnels
// hold, those a compiled config gives its tunnels.
type claimed struct {
	addresses map[netip.Prefix]bool
	routes    map[netip.Prefix]bool
}

// removedLinks is the set-up of each running tunnel the new config does
// not want.
func removedLinks(runtimes map[string]*runtime, wanted map[string]int, current *state) []netsetup.Link {
	var out []netsetup.Link
	for name, rt := range runtimes {
		if _, kept := wanted[name]; !kept {
			out = append(out, current.tunnels[current.index[rt]].link())
		}
	}
	return out
}

// claims is what p claims of what the links of the removed tunnels hold.
// It starts from those (a few, for a reload that removes one tunnel) and
// scans p for them, rather than making sets of p's 100 000 route prefixes
// (16-22 ms a reload).
func claims(p *compiled, removed []netsetup.Link) *claimed {
	c := &claimed{addresses: map[netip.Prefix]bool{}, routes: map[netip.Prefix]bool{}}
	for _, l := range removed {
		for _, a := range l.Addresses {
			c.addresses[a] = false
		}
		for _, r := range l.Routes {
			c.routes[r.To] = false
		}
	}
	for i := range p.tunnels {
		for _, a := range p.tunnels[i].config.Addresses {
			if _, held := c.addresses[a]; held {
				c.addresses[a] = true
			}
		}
		for _, r := range p.tunnels[i].config.Routes {
			if _, held := c.routes[r.To]; held {
				c.routes[r.To] = true
			}
		}
	}
	return c
}

// unclaimed is l without what c claims: what a removed tunnel may keep
// until its device goes.
func unclaimed(l netsetup.Link, c *claimed) netsetup.Link {
	l.Addresses = slices.DeleteFunc(slices.Clone(l.Addresses), func(a netip.Prefix) bool { return c.addresses[a] })
	l.Routes = slices.DeleteFunc(slices.Clone(l.Routes), func(r netsetup.Route) bool { return c.routes[r.To] })
	return l
}
