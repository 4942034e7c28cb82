package config

import (
	"net/netip"

	"gopkg.in/yaml.v3"
)

// AcceptFrom is a tunnel's peer filter, the "accept_from" key: packets
// whose outer source it does not admit are dropped once the tunnel is
// selected, before decapsulation. The kernel has no such filter; operators
// write it as a firewall rule on protocol 4 (README). Off by default.
type AcceptFrom struct {
	// Known admits the tunnel's remote and the next hops (via) of the
	// kernel's routes through its device, whoever installed them; a route
	// without a via on a tunnel without a remote admits its destination
	// prefix, the outer destinations it sends to.
	Known bool
	// Prefixes are admitted as well.
	Prefixes []netip.Prefix
}

// On reports whether the filter is on.
func (a AcceptFrom) On() bool { return a.Known || len(a.Prefixes) > 0 }

// Words is the filter as the file writes it: "known" and the prefixes;
// nil when off.
func (a AcceptFrom) Words() []string {
	var out []string
	if a.Known {
		out = append(out, "known")
	}
	for _, p := range a.Prefixes {
		out = append(out, p.String())
	}
	return out
}

const wantAcceptFrom = `"any" (the default), "known" (the tunnel's remote and its routes' next hops), or a list of IPv4 prefixes and "known", like [known, 10.245.2.0/24]`

// acceptFrom reads accept_from: "any", "known", or a list of prefixes in
// which "known" may also stand.
func (p *parser) acceptFrom(field string, n *yaml.Node) AcceptFrom {
	var a AcceptFrom
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		switch n.Value {
		case "any":
			return a
		case "known":
			a.Known = true
			return a
		}
		p.errorf(n, field, "%q is not accepted; want %s", n.Value, wantAcceptFrom)
		return a
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, field, "%s; want %s", got(n), wantAcceptFrom)
		return a
	}
	items, _ := p.list(field, n, wantAcceptFrom)
	if len(items) == 0 {
		p.errorf(n, field, "empty list: it would admit no peer; want %s", wantAcceptFrom)
		return a
	}
	seen := map[netip.Prefix]*yaml.Node{}
	for i, item := range items {
		f := index(field, i)
		if item.Kind == yaml.ScalarNode && item.Value == "known" {
			a.Known = true
			continue
		}
		pfx, ok := p.prefix(f, item, "10.245.1.0/24")
		if !ok {
			continue
		}
		if pfx != pfx.Masked() {
			p.errorf(item, f, "%s has bits set after the prefix length; want %s", pfx, pfx.Masked())
			continue
		}
		if first, dup := seen[pfx]; dup {
			p.errorf(item, f, "%s is listed twice (first at line %d); want each prefix once", pfx, first.Line)
			continue
		}
		seen[pfx] = item
		a.Prefixes = append(a.Prefixes, pfx)
	}
	return a
}
