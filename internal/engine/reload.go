package engine

import (
	"net/netip"
	"slices"

	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
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

// holds reports whether the kernel, as the watcher's newest View shows it,
// holds all of l on rt's device: up, with l's MTU, addresses, and routes
// as ipipd installs them. When it does not (or there is no View yet),
// Update runs and puts back what is missing.
func holds(v *kernelview.View, rt *runtime, l netsetup.Link) bool {
	if v == nil || rt.ifindex == 0 || l.Down {
		return false
	}
	link, ok := v.Links[rt.ifindex]
	if !ok || !link.Up || link.MTU != l.MTU {
		return false
	}
	for _, a := range l.Addresses {
		if !slices.Contains(v.Addresses[rt.ifindex], a) {
			return false
		}
	}
	if len(l.Routes) == 0 {
		return true
	}
	table := l.Table
	if table == 0 {
		table = netsetup.MainTable
	}
	have := v.Routes[rt.ifindex]
	matches := func(h kernelview.Route, r netsetup.Route) bool {
		return h.To == r.To && h.Via == r.Via && h.Protocol == netsetup.RouteProtocol && h.Table == table
	}
	if len(l.Routes)*len(have) <= 4096 {
		// A scan, not a map, for the usual tunnel of a few routes: a
		// reload asks this of every tunnel, and 10 000 maps were most of
		// a reload's check.
		for _, r := range l.Routes {
			if !slices.ContainsFunc(have, func(h kernelview.Route) bool { return matches(h, r) }) {
				return false
			}
		}
		return true
	}
	held := make(map[netsetup.Route]bool, len(have))
	for _, h := range have {
		if h.Protocol == netsetup.RouteProtocol && h.Table == table {
			held[netsetup.Route{To: h.To, Via: h.Via}] = true
		}
	}
	for _, r := range l.Routes {
		if !held[r] {
			return false
		}
	}
	return true
}

// claimed is every address and route prefix a compiled config gives its
// tunnels.
type claimed struct {
	addresses map[netip.Prefix]bool
	routes    map[netip.Prefix]bool
}

func claims(p *compiled) claimed {
	c := claimed{addresses: map[netip.Prefix]bool{}, routes: map[netip.Prefix]bool{}}
	for i := range p.tunnels {
		for _, a := range p.tunnels[i].config.Addresses {
			c.addresses[a] = true
		}
		for _, r := range p.tunnels[i].config.Routes {
			c.routes[r.To] = true
		}
	}
	return c
}

// unclaimed is l without what c claims: what a removed tunnel may keep
// until its device goes.
func unclaimed(l netsetup.Link, c claimed) netsetup.Link {
	l.Addresses = slices.DeleteFunc(slices.Clone(l.Addresses), func(a netip.Prefix) bool { return c.addresses[a] })
	l.Routes = slices.DeleteFunc(slices.Clone(l.Routes), func(r netsetup.Route) bool { return c.routes[r.To] })
	return l
}
