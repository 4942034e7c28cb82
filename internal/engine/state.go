package engine

import (
	"fmt"
	"net/netip"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
	"github.com/ipipd/ipipd/internal/plan"
	"github.com/ipipd/ipipd/lookup"
)

// state is one generation of everything the datapath reads: the lookup
// tables and, at the same index as the tables' tunnels, what transmit
// needs of each tunnel. It is never changed after it is published.
type state struct {
	tables  *lookup.Snapshot
	tunnels []tunnelState
	index   map[*runtime]int
	// devices maps the ifindex of each of ipipd's TUN devices to its
	// tunnel: an outer packet routed into one of them is a loop.
	devices map[int]int
	// routesBuilt: the route table was built from the tunnels' routes
	// (build), so the next build may update it rather than start again.
	routesBuilt bool
}

// tunnelState is one tunnel as the datapath sees it in one generation.
type tunnelState struct {
	config config.Tunnel
	rt     *runtime
	encap  *encap.Tunnel
	// remote is the outer destination of a point-to-point tunnel; 0 for
	// NBMA tunnels, whose destination comes from the route table.
	remote uint32
	// pathMTU is the underlay MTU toward the remote (or of dev, or 1500):
	// tnl_update_pmtu's dst_mtu of the outer route.
	pathMTU int
	// tunMTU is the TUN device's MTU: the config's, then the kernel's
	// (`ip link set NAME mtu M` is the tunnel's MTU, as for the kernel's).
	tunMTU int
	// addresses and routes are what the kernel holds on the device (the
	// config's until the first View shows it), for status.
	addresses []netip.Prefix
	routes    []kernelview.Route
	// fileMTU is the MTU the config asks for (or its default): what
	// netsetup sets, so that a reload changes the kernel's MTU only when
	// the file's changed, and an operator's `ip link set mtu` stays.
	fileMTU int
	// down: the device is down (`ip link set NAME down`); lookup skips the
	// tunnel, as ip_tunnel_lookup skips tunnels without IFF_UP.
	down bool
}

// minOffloadMTU is the smallest tunnel MTU for tun: offload: a 64 KiB TCP
// super-packet then splits into at most 128 segments.
const minOffloadMTU = 576

// compiled is a config compiled and checked, before any device is touched.
type compiled struct {
	plan    *plan.Plan
	tunnels []tunnelState
}

// fileTables is the lookup tables of the config alone, its file routes as
// the route table: what the datapath reads before the kernel shows any
// device. Apply does not need it (it builds the tables from the kernel's
// View), and at 100 000 routes it cost 0.1 s of every reload.
func (p *compiled) fileTables() (*lookup.Snapshot, error) {
	routes, err := lookup.NewRouteTable(p.plan.FileRoutes, tunnelsOf(p.plan))
	if err != nil {
		return nil, err
	}
	return &lookup.Snapshot{Tunnels: p.plan.Table, Routes: routes}, nil
}

// compile checks what only the running system can check (dev names, the
// offload TUN's smallest MTU) and builds the tunnel table through package
// plan, as explain does; it changes nothing.
//
// known, when not nil, gives the underlay MTU a running tunnel was set up
// with, when its remote and dev are unchanged: the kernel works it out when
// a tunnel is made or changed (ip_tunnel_bind_dev), not on every reload,
// and asking the kernel for each of 10 000 tunnels took 0.4-0.5 s of a
// reload.
func compile(cfg *config.Config, known func(config.Tunnel) (int, bool)) (*compiled, error) {
	pl, err := plan.Compile(cfg, netsetup.LinkIndex)
	if err != nil {
		return nil, err
	}
	p := &compiled{plan: pl, tunnels: make([]tunnelState, len(cfg.Tunnels))}
	underlays := netsetup.NewUnderlayMTUs()
	for i, pt := range pl.Tunnels {
		t := pt.Config
		underlay, ok := 0, false
		if known != nil {
			underlay, ok = known(t)
		}
		if !ok {
			underlay = underlays.MTU(t.Remote, t.Dev)
		}
		tunMTU := t.MTU
		if tunMTU == 0 {
			tunMTU = netsetup.DefaultTunnelMTU(underlay)
		}
		if t.TUN == config.TUNOffload && tunMTU < minOffloadMTU {
			// One read returns a GSO super-packet's segments, at most 128
			// of them (wireguard-go's batch): below this MTU a 64 KiB
			// packet needs more, and the rest would be lost.
			return nil, fmt.Errorf("%s:%d: tunnel %q: mtu %d is below %d, the smallest the offload TUN handles; set tun: water, or a larger mtu", cfg.Path, t.Line, t.Name, tunMTU, minOffloadMTU)
		}
		p.tunnels[i] = tunnelState{
			config:  t,
			encap:   pt.Encap,
			remote:  header.Addr4(t.Remote),
			pathMTU: underlay,
			tunMTU:  tunMTU,
			fileMTU: tunMTU,
		}
	}
	return p, nil
}

func tunnelsOf(pl *plan.Plan) []lookup.Tunnel {
	out := make([]lookup.Tunnel, len(pl.Tunnels))
	for i, t := range pl.Tunnels {
		out[i] = t.Lookup
	}
	return out
}

// link is the kernel set-up of a tunnel: its TUN's MTU, addresses and
// routes. A route's via is what the kernel's ipip would send to: the given
// via, or the tunnel's unicast remote, or none (the inner destination).
func (t *tunnelState) link() netsetup.Link {
	routes := make([]netsetup.Route, len(t.config.Routes))
	for j, r := range t.config.Routes {
		routes[j] = netsetup.Route{To: r.To, Via: plan.RouteVia(t.config.Remote, r)}
	}
	return netsetup.Link{Name: t.config.Name, MTU: t.fileMTU, Addresses: t.config.Addresses, Routes: routes,
		Table: t.config.Table, Down: t.config.Down}
}

// common keeps of l only the addresses and routes that want also has: the
// step of a reload that gives up what moves elsewhere before anything is
// added, so a route or address can move between tunnels.
func common(l, want netsetup.Link) netsetup.Link {
	l.Addresses = kept(l.Addresses, want.Addresses)
	l.Routes = kept(l.Routes, want.Routes)
	return l
}

// kept is have without what want lacks, in have's order; a set, since a
// tunnel may carry a routing daemon's thousands of routes.
func kept[T comparable](have, want []T) []T {
	set := make(map[T]struct{}, len(want))
	for _, w := range want {
		set[w] = struct{}{}
	}
	var out []T
	for _, h := range have {
		if _, ok := set[h]; ok {
			out = append(out, h)
		}
	}
	return out
}

// table is the tunnel's routing table, main unless the config names one.
func (t *tunnelState) table() int {
	if t.config.Table == 0 {
		return netsetup.MainTable
	}
	return t.config.Table
}
