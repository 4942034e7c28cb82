package config

import "gopkg.in/yaml.v3"

// routeSource is a parsed route and where its values are, for the
// file-wide checks. Its lines are those of its tunnelSource: add the
// tunnel's shift.
type routeSource struct {
	index int      // in the tunnel's routes list
	to    position // always a place: a route without a good "to" is left out
	via   position // no place when there is no good via
	route Route
}

// routes reads a tunnel's routes into t.
func (p *parser) routes(t *tunnelSource, field string, n *yaml.Node) {
	items, ok := p.list(field, n, "routes, like [{to: 192.168.42.0/24, via: 10.245.1.3}]")
	if !ok {
		return
	}
	for i, item := range items {
		r, ok := p.route(index(field, i), item)
		if ok {
			t.Routes = append(t.Routes, r.route)
		}
		if r.to.known() {
			r.index = i
			// A route with a good "to" takes part in the duplicate check
			// even if its via is bad.
			t.routes = append(t.routes, r)
			t.routeKeys = append(t.routeKeys, prefixKey(r.route.To))
			if r.route.Via.IsValid() {
				t.vias++
			}
		}
	}
}

// route reads one route: "to" required, "via" optional.
func (p *parser) route(field string, n *yaml.Node) (routeSource, bool) {
	var r routeSource
	if n.Kind != yaml.MappingNode {
		p.errorf(n, field, "%s; want a mapping like {to: 192.168.42.0/24, via: 10.245.1.3}", got(n))
		return r, false
	}
	r.route.Line = n.Line
	good, toGiven := true, false
	for _, e := range p.entries(field, n, routeKeys) {
		f, v := field+"."+e.name, e.value
		switch e.name {
		case "to":
			toGiven = true
			pfx, ok := p.prefix(f, v, "192.168.42.0/24")
			switch {
			case !ok:
				good = false
			case pfx != pfx.Masked():
				// The kernel refuses it too (fib_frontend.c
				// rtm_to_fib_config: "Invalid prefix for given prefix
				// length"), rather than masking it: a silent mask could
				// route far more than was meant.
				p.errorf(v, f, "%s has host bits set; want the network prefix %s", pfx, pfx.Masked())
				good = false
			default:
				r.route.To, r.to = pfx, at(v)
			}
		case "via":
			a, ok := p.address(f, v, "10.245.1.3")
			switch {
			case !ok:
				good = false
			case a.IsUnspecified() || a.IsMulticast() || a == broadcast:
				p.errorf(v, f, "%s cannot be a next hop; want a unicast IPv4 address of a peer, like 10.245.1.3, or leave via out for the tunnel's remote (or, without one, the inner destination)", a)
				good = false
			default:
				r.route.Via, r.via = a, at(v)
			}
		}
	}
	if !toGiven {
		p.errorf(n, field+".to", "missing; want the inner destination prefix, like to: 192.168.42.0/24")
	}
	return r, good && r.to.known()
}
