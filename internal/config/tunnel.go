package config

import (
	"net/netip"

	"gopkg.in/yaml.v3"
)

// tunnelSource is a parsed tunnel plus what the file-wide checks need to
// point back into the file.
type tunnelSource struct {
	Tunnel
	index int // in the tunnels list, for "tunnels[i]"
	// shift is what to add to every line below, Tunnel.Line and each
	// Route.Line included, for the tunnel's place in the file: 0 from
	// Parse; in a Loader, which parses each item alone and counts its
	// lines from the item's first, the number of lines above the item.
	shift      int
	item       position // the list item
	name       position // the name's value; no place when missing or bad
	dev        position // the dev's value; no place when missing or bad
	identityOK bool     // local, remote and dev all parsed, so the identity is known
	routes     []routeSource
	// What the file-wide route checks read of every route, apart from
	// routes so that they read 8 bytes a route rather than 100: the
	// prefixKey of each route's to, and how many routes have a via.
	routeKeys []uint64
	vias      int
}

// broadcast is the limited broadcast address: never a tunnel end point.
var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// tunnel reads item i of the tunnels list. It returns nil when the item is
// not a mapping; otherwise the tunnel with every good field set, the bad
// ones having been reported.
func (p *parser) tunnel(i int, n *yaml.Node) *tunnelSource {
	field := index("tunnels", i)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, field, "%s; want a mapping with name and the tunnel's keys, like \"{name: tun0, remote: 192.0.2.1}\"", got(n))
		return nil
	}
	t := &tunnelSource{index: i, item: at(n), identityOK: true}
	t.Line = n.Line
	t.TUN = TUNOffload
	var pmtudisc *yaml.Node // set when pmtudisc is given
	nameGiven := false      // a bad name is reported as bad, not also as missing
	for _, e := range p.entries(field, n, tunnelKeys) {
		f, v := field+"."+e.name, e.value
		var ok bool
		switch e.name {
		case "name":
			nameGiven = true
			if t.Name, ok = p.deviceName(f, v); ok {
				t.name = at(v)
			}
		case "local":
			t.Local, ok = p.endpoint(f, v, false)
			t.identityOK = t.identityOK && ok
		case "remote":
			t.Remote, ok = p.endpoint(f, v, true)
			t.identityOK = t.identityOK && ok
		case "dev":
			if t.Dev, ok = p.deviceName(f, v); ok {
				t.dev = at(v)
			}
			t.identityOK = t.identityOK && ok
		case "mtu":
			t.MTU, _ = p.mtu(f, v)
		case "table":
			t.Table, _ = p.table(f, v)
		case "ttl":
			t.TTL, _ = p.ttl(f, v)
		case "tos":
			t.TOS, t.TOSInherit, _ = p.tos(f, v)
		case "pmtudisc":
			if t.PMTUDisc, ok = p.boolean(f, v); ok {
				pmtudisc = v
			}
		case "ecn":
			if s, ok := p.oneOf(f, v, "kernel", "rfc6040"); ok && s == "rfc6040" {
				t.ECN = ECNRFC6040
			}
		case "tun":
			if s, ok := p.oneOf(f, v, TUNWater, TUNOffload); ok {
				t.TUN = s
			}
		case "accept_from":
			t.AcceptFrom = p.acceptFrom(f, v)
		case "addresses":
			t.Addresses = p.addresses(f, v)
		case "routes":
			p.routes(t, f, v)
		}
	}
	if !nameGiven {
		p.errorf(n, field+".name", "missing; want %s", wantName)
	}

	// iproute2 refuses "ttl T nopmtudisc" (ip/iptunnel.c, ip/link_iptnl.c)
	// although the kernel would accept it and force DF; refuse it too, so the
	// file never says the opposite of what happens.
	if pmtudisc != nil && !t.PMTUDisc && t.TTL != 0 {
		p.errorf(pmtudisc, field+".pmtudisc", "false with a fixed ttl (%d) is refused, as iproute2 does (\"ttl != 0 and nopmtudisc are incompatible\"): the kernel would set DF anyway; want pmtudisc: true, or ttl: inherit", t.TTL)
	}
	if pmtudisc == nil {
		// iproute2 sends PMTUDISC 1 unless told otherwise; the kernel creates
		// tunl0 with frag_off 0 (nopmtudisc).
		t.PMTUDisc = !t.IsFallback()
	}
	if t.TTL != 0 {
		// ip_tunnel_ctl and ipip_netlink_parms: "ttl != 0 forces DF", also on
		// the fallback, whose default is nopmtudisc.
		t.PMTUDisc = true
	}
	return t
}

// endpoint reads local or remote. 0.0.0.0 means any, as in the kernel, and
// becomes the zero Addr. A multicast local is refused (it cannot be a
// source); a multicast remote is accepted, matched in ip_tunnel_lookup's
// phase 3.
func (p *parser) endpoint(field string, n *yaml.Node, remote bool) (netip.Addr, bool) {
	example, role := "10.3.3.3", "a unicast address of this host"
	if remote {
		example, role = "10.4.4.4", "the peer's unicast address or a multicast group"
	}
	a, ok := p.address(field, n, example)
	switch {
	case !ok:
		return netip.Addr{}, false
	case a.IsUnspecified():
		return netip.Addr{}, true
	case a == broadcast:
		p.errorf(n, field, "%s is the broadcast address; want %s, or leave it out for any", a, role)
		return netip.Addr{}, false
	case a.IsMulticast() && !remote:
		p.errorf(n, field, "%s is multicast; want %s, or leave local out for any", a, role)
		return netip.Addr{}, false
	}
	return a, true
}

// addresses reads the TUN device's addresses.
func (p *parser) addresses(field string, n *yaml.Node) []netip.Prefix {
	items, ok := p.list(field, n, "IPv4 prefixes, like [172.16.0.1/30]")
	if !ok {
		return nil
	}
	var out []netip.Prefix
	seen := make(map[netip.Prefix]*yaml.Node)
	for i, item := range items {
		f := index(field, i)
		pfx, ok := p.prefix(f, item, "172.16.0.1/30")
		if !ok {
			continue
		}
		a := pfx.Addr()
		if a.IsUnspecified() || a.IsMulticast() || a == broadcast {
			p.errorf(item, f, "%s is not an interface address; want a unicast IPv4 address with its prefix length, like 172.16.0.1/30", pfx)
			continue
		}
		// ip addr add refuses the same address and length twice (EEXIST).
		if first, dup := seen[pfx]; dup {
			p.errorf(item, f, "%s is listed twice (first at line %d); want each address once", pfx, first.Line)
			continue
		}
		seen[pfx] = item
		out = append(out, pfx)
	}
	return out
}
