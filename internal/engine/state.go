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
	tables  *lookup.Snapshot
	tunnels []tunnelState
}

// compile checks what only the running system can check (dev names, the
// offload TUN's smallest MTU) and builds the tables through package plan,
// as explain does; it changes nothing. Its route table holds the file's
// routes: what the datapath reads until the kernel shows the devices'.
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
	p := &compiled{tunnels: make([]tunnelState, len(cfg.Tunnels))}
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
	routes, err := lookup.NewRouteTable(pl.FileRoutes, tunnelsOf(pl))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	p.tables = &lookup.Snapshot{Tunnels: pl.Table, Routes: routes}
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
		routes[j] = netsetup.Route{To: r.To, Via: plan.RouteVia(t.config, r)}
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
