// Package plan turns a node's config into what the datapath reads: the
// tunnel table, each tunnel's encapsulation template, and the file's routes
// as route-table entries; and it holds the rule that picks an outer
// destination. The daemon (internal/engine) and `ipipd explain` both go
// through it, so what explain says is what run does.
package plan

import (
	"fmt"

	"net/netip"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

// Tunnel is one tunnel of a config, compiled.
type Tunnel struct {
	Config config.Tunnel
	// Lookup is the tunnel as the tunnel table knows it.
	Lookup lookup.Tunnel
	// Encap builds the tunnel's outer headers.
	Encap *encap.Tunnel
}

// Plan is a config compiled. It is never changed after Compile.
type Plan struct {
	Tunnels []Tunnel
	// Table is the tunnel table of Tunnels, in file order.
	Table *lookup.TunnelTable
	// FileRoutes are the file's routes as the route table takes them: what
	// ipipd installs in the kernel, and all explain knows of routes.
	FileRoutes []lookup.Route
}

// Compile builds the plan of cfg. linkIndex resolves a tunnel's dev to its
// ifindex (netsetup.LinkIndex in the daemon); nil takes every dev as unbound
// (explain, offline, has no interfaces to resolve). It fails on a dev that
// does not resolve and on what the tunnel table refuses.
func Compile(cfg *config.Config, linkIndex func(dev string) (int, error)) (*Plan, error) {
	routes := 0
	for _, t := range cfg.Tunnels {
		routes += len(t.Routes)
	}
	p := &Plan{Tunnels: make([]Tunnel, len(cfg.Tunnels)), FileRoutes: make([]lookup.Route, 0, routes)}
	lt := make([]lookup.Tunnel, len(cfg.Tunnels))
	for i, t := range cfg.Tunnels {
		link := 0
		if t.Dev != "" && linkIndex != nil {
			var err error
			if link, err = linkIndex(t.Dev); err != nil {
				return nil, fmt.Errorf("%s:%d: tunnel %q: dev: %w", cfg.Path, t.Line, t.Name, err)
			}
		}
		lt[i] = lookup.Tunnel{Name: t.Name, Local: t.Local, Remote: t.Remote, Link: link, Mode: header.ProtocolIPIP, Down: t.Down}
		ecn := encap.ECNKernel
		if t.ECN == config.ECNRFC6040 {
			ecn = encap.ECNNormal
		}
		p.Tunnels[i] = Tunnel{
			Config: t,
			Lookup: lt[i],
			Encap:  encap.NewTunnel(encap.Params{Local: t.Local, TTL: t.TTL, TOS: t.TOS, InheritTOS: t.TOSInherit, PMTUDisc: t.PMTUDisc, ECN: ecn}),
		}
		for _, r := range t.Routes {
			p.FileRoutes = append(p.FileRoutes, lookup.Route{To: r.To, Via: RouteVia(t.Remote, r), Tunnel: i})
		}
	}
	table, err := lookup.NewTunnelTable(lt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	p.Table = table
	return p, nil
}

// RouteVia is the gateway a file route is installed with, as the kernel's
// ipip would send to it: the route's via, or remote, the tunnel's, when
// unicast, or none (the inner destination itself). It takes the remote,
// not the tunnel: a reload asks it of 100 000 routes.
func RouteVia(remote netip.Addr, r config.Route) (via netip.Addr) {
	if r.Via.IsValid() {
		return r.Via
	}
	if remote.IsValid() && !remote.IsMulticast() {
		return remote
	}
	return via
}

// OuterDestination is ip_tunnel_xmit's choice of outer destination for an
// inner packet read from tunnel's device: the tunnel's remote when it has
// one; else the gateway of the route the packet took (rt_nexthop), one
// next hop per flow when the route has several; else the inner destination
// itself. found is false when routes holds no route through the tunnel for
// the packet: the caller may ask the kernel, whose route it took.
func OuterDestination(routes *lookup.RouteTable, tunnel int, remote uint32, inner header.IPv4) (dst uint32, found bool) {
	if remote != 0 {
		return remote, true
	}
	// The flow is the address pair: the kernel's default multipath hash
	// (fib_multipath_hash_policy 0) is L3 too, though not the same function.
	flow := inner.Src()*0x9e3779b1 ^ inner.Dst()
	if dst, ok := routes.NextHop(inner.DstAddr(), tunnel, flow^flow>>16); ok {
		return dst, true
	}
	return inner.Dst(), false
}
