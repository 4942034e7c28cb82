package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// crossCheck runs the checks that involve more than one tunnel: device
// names, identities and routes must each be unique in the file. Tunnels and
// routes whose own fields were bad take part with what could be read, so
// one typo does not hide a conflict elsewhere, nor cause a false one.
//
// They run on every load and reload of the whole file, 100 000 routes and
// more: the routes are read once (surveyRoutes) and found by prefix in a
// sorted list, and a message is worded only when there is one to report.
func (p *parser) crossCheck() {
	p.uniqueNames()
	p.uniqueIdentities()
	routes := p.surveyRoutes()
	p.uniqueRoutes(routes)
	p.noGatewayOnConnected(routes)
	p.noSubnetRoutes(routes)
	p.loopingRoutes(routes)
}

// loopingRoutes warns about routes that send outer packets back into a
// tunnel: a route whose prefix covers a next hop (a route's via) or a
// tunnel's remote, and a route without via on a tunnel without remote,
// whose outer destination is the inner one, which that very route sends
// into the tunnel. ipipd drops such packets as the kernel's ip_tunnel_xmit
// does (collisions), unless a longer route elsewhere carries the outer
// destination, which only the running kernel can tell: so a warning.
func (p *parser) loopingRoutes(routes *routeSurvey) {
	if len(p.errs) > 0 {
		return // a refused file's warnings are not shown
	}
	for _, ref := range routes.toSelf {
		t, r := p.routeAt(ref)
		p.warnAt(r.to.down(t.shift), t.routeField(r)+".to", "%s has no via on %s, which has no remote: the outer destination is the inner one, which this route sends back into the tunnel, so every packet loops and is dropped (collisions) unless another route carries it; give a via (the peer's underlay address)", r.route.To, t.short())
	}
	// nextHop is an outer destination of the file: a tunnel's remote
	// (route -1) or a route's via.
	type nextHop struct {
		addr  netip.Addr
		t     *tunnelSource
		route int32
	}
	type warning struct {
		covering routeRef
		line     int // the covering route's
		hop      nextHop
	}
	var found []warning
	// Each next hop is looked up under the prefix lengths the routes
	// have, not checked against every route: a node of 100 000 routes
	// and 1 000 remotes made that 10^8 checks a load.
	covers := func(h nextHop) {
		if !h.addr.Is4() {
			return
		}
		for bits := 0; bits <= 32; bits++ {
			if routes.lengths&(1<<bits) == 0 {
				continue
			}
			ref, ok := routes.find(addressKey(h.addr, bits))
			if !ok {
				continue
			}
			t, r := p.routeAt(ref)
			if !t.Remote.IsValid() && !r.route.Via.IsValid() {
				continue // warned about above
			}
			found = append(found, warning{ref, r.route.Line + t.shift, h})
		}
	}
	vias := routes.vias
	for ti, t := range p.tunnels {
		if t.Remote.IsValid() && !t.Remote.IsMulticast() {
			covers(nextHop{t.Remote, t, -1})
		}
		for ; len(vias) > 0 && vias[0].tunnel == int32(ti); vias = vias[1:] {
			covers(nextHop{t.routes[vias[0].route].route.Via, t, vias[0].route})
		}
	}
	// In file order, each route's next hops in the order they were found.
	slices.SortStableFunc(found, func(a, b warning) int { return a.line - b.line })
	for _, w := range found {
		t, r := p.routeAt(w.covering)
		where := "the remote of " + w.hop.t.short()
		if w.hop.route >= 0 {
			hop := &w.hop.t.routes[w.hop.route]
			where = fmt.Sprintf("the via of %s (line %d)", w.hop.t.routeField(hop), hop.route.Line+w.hop.t.shift)
		}
		p.warnAt(r.to.down(t.shift), t.routeField(r)+".to", "%s covers %s, %s: outer packets to it would be routed back into %s and dropped (collisions) unless a longer route elsewhere carries them", r.route.To, w.hop.addr, where, t.short())
	}
}

// noSubnetRoutes refuses a route equal to the subnet of an address of the
// file (one shorter than /32): the kernel adds that route itself when the
// address is added, so the route's own add fails with "file exists" at
// run time; check says so first.
func (p *parser) noSubnetRoutes(routes *routeSurvey) {
	owners := map[uint64]*tunnelSource{} // by subnet; the last tunnel of the file with it
	for _, t := range p.tunnels {
		for _, a := range t.Addresses {
			if a.Bits() < 32 {
				owners[prefixKey(a)] = t
			}
		}
	}
	var found []routeRef
	for subnet := range owners {
		found = append(found, routes.all(subnet)...)
	}
	slices.SortFunc(found, routeRef.compare) // in file order
	for _, ref := range found {
		t, r := p.routeAt(ref)
		owner := owners[prefixKey(r.route.To)]
		p.errorAt(r.to.down(t.shift), t.routeField(r)+".to", "%s is the subnet of an address of %s, whose route the kernel adds by itself with the address; leave this route out", r.route.To, owner.short())
	}
}

// noGatewayOnConnected refuses a route's via on a tunnel with a remote:
// ip_tunnel_xmit sends every packet of a connected tunnel to its remote and
// never reads the route's gateway, so the via would be silently ignored.
// A via equal to the remote says nothing new and is accepted.
func (p *parser) noGatewayOnConnected(routes *routeSurvey) {
	for _, ref := range routes.ignoredVias {
		t, r := p.routeAt(ref)
		p.errorAt(r.via.down(t.shift), t.routeField(r)+".via", "%s has remote %s and sends every packet there, as the kernel ignores a route's gateway on a tunnel with a remote; leave via out, or use a tunnel without remote to route by gateway", t.short(), t.Remote)
	}
}

// field names the tunnel's list item, like "tunnels[2]".
func (t *tunnelSource) field() string {
	return index("tunnels", t.index)
}

// routeField names route r of the tunnel, like "tunnels[2].routes[0]".
func (t *tunnelSource) routeField(r *routeSource) string {
	return index(t.field()+".routes", r.index)
}

// label names a tunnel and its line in a message about another one.
func (t *tunnelSource) label() string {
	return fmt.Sprintf("%s (line %d)", t.short(), t.Line+t.shift)
}

// short names a tunnel by its name, or its place when it has none.
func (t *tunnelSource) short() string {
	if t.Name != "" {
		return fmt.Sprintf("tunnel %q", t.Name)
	}
	return t.field()
}

// uniqueNames refuses two tunnels with one device name, and a dev that
// names one of the file's own TUN devices: the outer packets would go back
// into a tunnel (the kernel's loop guard drops them, counting collisions).
func (p *parser) uniqueNames() {
	byName := make(map[string]*tunnelSource, len(p.tunnels))
	for _, t := range p.tunnels {
		if !t.name.known() {
			continue
		}
		if first, dup := byName[t.Name]; dup {
			p.errorAt(t.name.down(t.shift), t.field()+".name", "device %q is already the name of %s; want a different name for each tunnel", t.Name, first.label())
			continue
		}
		byName[t.Name] = t
	}
	for _, t := range p.tunnels {
		if !t.dev.known() {
			continue
		}
		if owner, ours := byName[t.Dev]; ours {
			p.errorAt(t.dev.down(t.shift), t.field()+".dev", "%q is the TUN device of %s; want the underlay interface the outer packets leave by, like eth0", t.Dev, owner.label())
		}
	}
}

// identity is what the kernel keeps unique among tunnels of a netns
// (ip_tunnel_find: local, remote, link).
type identity struct {
	local, remote netip.Addr
	dev           string
}

// identityKey is an identity packed for a map key: both ends IPv4, or 0
// for any (a file's 0.0.0.0 is any already).
type identityKey struct {
	ends uint64
	dev  string
}

func (id identity) key() identityKey {
	return identityKey{uint64(uint32Of(id.local))<<32 | uint64(uint32Of(id.remote)), id.dev}
}

func (id identity) String() string {
	return fmt.Sprintf("local %s, remote %s, dev %s", anyAddr(id.local), anyAddr(id.remote), orNone(id.dev))
}

func anyAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "any"
	}
	return a.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// uniqueIdentities refuses two tunnels the kernel could not both create:
// ip_tunnel_newlink and ip_tunnel_ctl answer EEXIST. Two fallbacks are the
// common case: "ip link add x type ipip" conflicts with tunl0.
func (p *parser) uniqueIdentities() {
	byIdentity := make(map[identityKey]*tunnelSource, len(p.tunnels))
	for _, t := range p.tunnels {
		if !t.identityOK {
			continue
		}
		id := identity{t.Local, t.Remote, t.Dev}
		first, dup := byIdentity[id.key()]
		if !dup {
			byIdentity[id.key()] = t
			continue
		}
		if t.IsFallback() {
			p.errorAt(t.item.down(t.shift), t.field(), "%s and %s are both the fallback tunnel (no local, no remote, no dev), like a second tunl0; the kernel refuses it (EEXIST); want one fallback: give this one a local, remote or dev", first.label(), t.label())
			continue
		}
		p.errorAt(t.item.down(t.shift), t.field(), "%s has the same identity (%s) as %s; the kernel refuses a second tunnel of one identity (ip_tunnel_find: EEXIST); want a different local, remote or dev", t.label(), id, first.label())
	}
}

// uniqueRoutes refuses a prefix routed twice in the file: which tunnel would
// carry it would be ambiguous, and the kernel refuses the second
// "ip route add" (EEXIST).
func (p *parser) uniqueRoutes(routes *routeSurvey) {
	type repeat struct{ first, again routeRef }
	var repeats []repeat
	byPrefix := routes.byPrefix
	first := 0 // the first route of byPrefix[k]'s prefix
	for k := 1; k < len(byPrefix); k++ {
		if byPrefix[k].key != byPrefix[first].key {
			first = k
			continue
		}
		repeats = append(repeats, repeat{byPrefix[first].ref, byPrefix[k].ref})
	}
	// In file order, as a walk of the file would find them.
	slices.SortFunc(repeats, func(a, b repeat) int { return a.again.compare(b.again) })
	for _, rep := range repeats {
		t, r := p.routeAt(rep.again)
		owner, first := p.routeAt(rep.first)
		p.errorAt(r.to.down(t.shift), t.routeField(r)+".to", "%s is already routed at line %d, through %s; want each prefix once in the file, else which tunnel carries it is ambiguous", r.route.To, first.route.Line+owner.shift, owner.short())
	}
}
