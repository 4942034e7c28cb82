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
func (p *parser) crossCheck() {
	p.uniqueNames()
	p.uniqueIdentities()
	p.uniqueRoutes()
	p.noGatewayOnConnected()
	p.noSubnetRoutes()
	p.loopingRoutes()
}

// loopingRoutes warns about routes that send outer packets back into a
// tunnel: a route whose prefix covers a next hop (a route's via) or a
// tunnel's remote, and a route without via on a tunnel without remote,
// whose outer destination is the inner one, which that very route sends
// into the tunnel. ipipd drops such packets as the kernel's ip_tunnel_xmit
// does (collisions), unless a longer route elsewhere carries the outer
// destination, which only the running kernel can tell: so a warning.
func (p *parser) loopingRoutes() {
	type nextHop struct {
		addr  netip.Addr
		where string
	}
	var hops []nextHop
	for _, t := range p.tunnels {
		if t.Remote.IsValid() && !t.Remote.IsMulticast() {
			hops = append(hops, nextHop{t.Remote, "the remote of " + t.short()})
		}
		for _, r := range t.routes {
			if r.route.Via.IsValid() {
				hops = append(hops, nextHop{r.route.Via, fmt.Sprintf("the via of %s (line %d)", r.field, r.route.Line)})
			}
		}
	}
	// Routes by prefix, so each next hop is checked against the 33
	// prefixes that can contain it, not against every route: a node of
	// 100 000 routes and 1 000 remotes made this 10^8 checks a load.
	type routeOf struct {
		t *tunnelSource
		r *routeSource
	}
	byPrefix := map[netip.Prefix][]routeOf{}
	for _, t := range p.tunnels {
		for i := range t.routes {
			r := &t.routes[i]
			if !r.route.To.IsValid() {
				continue
			}
			if !t.Remote.IsValid() && !r.route.Via.IsValid() {
				p.warnf(r.to, r.field+".to", "%s has no via on %s, which has no remote: the outer destination is the inner one, which this route sends back into the tunnel, so every packet loops and is dropped (collisions) unless another route carries it; give a via (the peer's underlay address)", r.route.To, t.short())
				continue
			}
			m := r.route.To.Masked()
			byPrefix[m] = append(byPrefix[m], routeOf{t, r})
		}
	}
	type warning struct {
		r   routeOf
		hop nextHop
	}
	var found []warning
	for _, h := range hops {
		if !h.addr.Is4() {
			continue
		}
		for bits := 0; bits <= 32; bits++ {
			pfx, _ := h.addr.Prefix(bits)
			for _, ro := range byPrefix[pfx] {
				found = append(found, warning{ro, h})
			}
		}
	}
	// In file order, each route's next hops in the order they were found.
	slices.SortStableFunc(found, func(a, b warning) int { return a.r.r.route.Line - b.r.r.route.Line })
	for _, w := range found {
		r, t := w.r.r, w.r.t
		p.warnf(r.to, r.field+".to", "%s covers %s, %s: outer packets to it would be routed back into %s and dropped (collisions) unless a longer route elsewhere carries them", r.route.To, w.hop.addr, w.hop.where, t.short())
	}
}

// noSubnetRoutes refuses a route equal to the subnet of an address of the
// file (one shorter than /32): the kernel adds that route itself when the
// address is added, so the route's own add fails with "file exists" at
// run time; check says so first.
func (p *parser) noSubnetRoutes() {
	subnets := map[netip.Prefix]*tunnelSource{}
	for _, t := range p.tunnels {
		for _, a := range t.Addresses {
			if a.Bits() < 32 {
				subnets[a.Masked()] = t
			}
		}
	}
	for _, t := range p.tunnels {
		for _, r := range t.routes {
			if owner, ok := subnets[r.route.To]; ok {
				p.errorf(r.to, r.field+".to", "%s is the subnet of an address of %s, whose route the kernel adds by itself with the address; leave this route out", r.route.To, owner.short())
			}
		}
	}
}

// noGatewayOnConnected refuses a route's via on a tunnel with a remote:
// ip_tunnel_xmit sends every packet of a connected tunnel to its remote and
// never reads the route's gateway, so the via would be silently ignored.
// A via equal to the remote says nothing new and is accepted.
func (p *parser) noGatewayOnConnected() {
	for _, t := range p.tunnels {
		if !t.Remote.IsValid() {
			continue
		}
		for _, r := range t.routes {
			if r.route.Via.IsValid() && r.route.Via != t.Remote && r.via != nil {
				p.errorf(r.via, r.field+".via", "%s has remote %s and sends every packet there, as the kernel ignores a route's gateway on a tunnel with a remote; leave via out, or use a tunnel without remote to route by gateway", t.short(), t.Remote)
			}
		}
	}
}

// label names a tunnel and its line in a message about another one.
func (t *tunnelSource) label() string {
	return fmt.Sprintf("%s (line %d)", t.short(), t.Line)
}

// short names a tunnel by its name, or its place when it has none.
func (t *tunnelSource) short() string {
	if t.Name != "" {
		return fmt.Sprintf("tunnel %q", t.Name)
	}
	return t.field
}

// uniqueNames refuses two tunnels with one device name, and a dev that
// names one of the file's own TUN devices: the outer packets would go back
// into a tunnel (the kernel's loop guard drops them, counting collisions).
func (p *parser) uniqueNames() {
	byName := make(map[string]*tunnelSource)
	for _, t := range p.tunnels {
		if t.name == nil {
			continue
		}
		if first, dup := byName[t.Name]; dup {
			p.errorf(t.name, t.field+".name", "device %q is already the name of %s; want a different name for each tunnel", t.Name, first.label())
			continue
		}
		byName[t.Name] = t
	}
	for _, t := range p.tunnels {
		if t.dev == nil {
			continue
		}
		if owner, ours := byName[t.Dev]; ours {
			p.errorf(t.dev, t.field+".dev", "%q is the TUN device of %s; want the underlay interface the outer packets leave by, like eth0", t.Dev, owner.label())
		}
	}
}

// identity is what the kernel keeps unique among tunnels of a netns
// (ip_tunnel_find: local, remote, link).
type identity struct {
	local, remote netip.Addr
	dev           string
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
	byIdentity := make(map[identity]*tunnelSource)
	for _, t := range p.tunnels {
		if !t.identityOK {
			continue
		}
		id := identity{t.Local, t.Remote, t.Dev}
		first, dup := byIdentity[id]
		if !dup {
			byIdentity[id] = t
			continue
		}
		if t.IsFallback() {
			p.errorf(t.node, t.field, "%s and %s are both the fallback tunnel (no local, no remote, no dev), like a second tunl0; the kernel refuses it (EEXIST); want one fallback: give this one a local, remote or dev", first.label(), t.label())
			continue
		}
		p.errorf(t.node, t.field, "%s has the same identity (%s) as %s; the kernel refuses a second tunnel of one identity (ip_tunnel_find: EEXIST); want a different local, remote or dev", t.label(), id, first.label())
	}
}

// uniqueRoutes refuses a prefix routed twice in the file: which tunnel would
// carry it would be ambiguous, and the kernel refuses the second
// "ip route add" (EEXIST).
func (p *parser) uniqueRoutes() {
	type owner struct {
		t *tunnelSource
		r routeSource
	}
	byPrefix := make(map[netip.Prefix]owner)
	for _, t := range p.tunnels {
		for _, r := range t.routes {
			first, dup := byPrefix[r.route.To]
			if !dup {
				byPrefix[r.route.To] = owner{t, r}
				continue
			}
			p.errorf(r.to, r.field+".to", "%s is already routed at line %d, through %s; want each prefix once in the file, else which tunnel carries it is ambiguous", r.route.To, first.r.route.Line, first.t.short())
		}
	}
}
