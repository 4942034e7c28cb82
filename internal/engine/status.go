package engine

import (
	"net/netip"
	"slices"
	"sort"
)

// Status is what `ipipd show` prints: each tunnel's parameters as `ip
// tunnel show` would list them, and its counters.
type Status struct {
	Tunnels []TunnelStatus
	Global  GlobalStats
}

// TunnelStatus is one tunnel.
type TunnelStatus struct {
	Name       string
	Local      string // "any" when unset, as ip tunnel prints it
	Remote     string
	Dev        string
	TTL        uint8 // 0: inherit
	TOS        uint8
	TOSInherit bool
	PMTUDisc   bool
	MTU        int
	PathMTU    int
	Fallback   bool
	// Up is the device's state in the kernel (`ip link set NAME up`); a
	// tunnel that is down takes no packets, as the kernel's.
	Up bool
	// Table is the routing table whose routes drive the tunnel.
	Table int
	// Addresses are the device's IPv4 addresses as the kernel holds them,
	// whoever added them.
	Addresses []string
	// Routes are the kernel's routes through the device that drive the
	// tunnel, whoever added them (ip route, a routing daemon, ipipd from
	// the file: Proto 70).
	Routes []RouteStatus
	Stats  Stats
	// AcceptFrom is the tunnel's peer filter as the file writes it:
	// "known", or prefixes; empty when off (any outer source, as the
	// kernel).
	AcceptFrom []string `json:",omitempty"`
	// Peers are the tunnel's peers by outer address, sorted, each with
	// what it sent and received (peers.go: at most MaxPeers a direction);
	// PeerTables has the rest, the other peers' bucket first.
	Peers      []PeerStats `json:",omitempty"`
	PeerTables PeerTables
}

// RouteStatus is one next hop of a kernel route through a tunnel.
type RouteStatus struct {
	To     string
	Via    string `json:",omitempty"`
	Proto  int    `json:",omitempty"` // rtm_protocol: 3 boot (ip route), 12 bird, 70 ipipd
	Metric int    `json:",omitempty"`
	Weight int    `json:",omitempty"` // of a multipath route's next hop
}

// Status reads the running state and counters.
func (e *Engine) Status() Status {
	st := e.state.Load()
	s := Status{Global: e.global.Stats()}
	if e.outer != nil {
		icmp := e.outer.Errors().Stats()
		s.Global.OuterErrors, s.Global.FragNeededDiscarded = icmp.Events, icmp.Discarded
	}
	for i := range st.tunnels {
		ts := &st.tunnels[i]
		c := &ts.config
		t := TunnelStatus{
			Name: c.Name, Local: anyAddr(c.Local), Remote: anyAddr(c.Remote), Dev: c.Dev,
			TTL: c.TTL, TOS: c.TOS, TOSInherit: c.TOSInherit, PMTUDisc: c.PMTUDisc || c.TTL != 0,
			MTU: ts.tunMTU, PathMTU: e.pathMTUNow(ts), Fallback: c.IsFallback(), Up: !ts.down, Table: ts.table(),
			Stats: ts.rt.counters.Stats(), AcceptFrom: c.AcceptFrom.Words(),
		}
		t.Peers, t.PeerTables = ts.rt.counters.peers()
		for _, a := range ts.addresses {
			t.Addresses = append(t.Addresses, a.String())
		}
		for _, r := range ts.routes {
			rs := RouteStatus{To: r.To.String(), Proto: r.Protocol, Metric: r.Metric}
			if r.Via.IsValid() {
				rs.Via = r.Via.String()
			}
			if r.Weight > 1 {
				rs.Weight = r.Weight
			}
			t.Routes = append(t.Routes, rs)
		}
		s.Tunnels = append(s.Tunnels, t)
	}
	sort.SliceStable(s.Tunnels, func(a, b int) bool { return s.Tunnels[a].Name < s.Tunnels[b].Name })
	return s
}

// TunnelNames returns the running tunnels' names, sorted: what a summary
// needs, without the counters, routes and peers Status gathers for each
// (at 10 000 tunnels and 100 000 routes, seconds of work).
func (e *Engine) TunnelNames() []string {
	st := e.state.Load()
	if st == nil {
		return nil
	}
	names := make([]string, len(st.tunnels))
	for i := range st.tunnels {
		names[i] = st.tunnels[i].config.Name
	}
	slices.Sort(names)
	return names
}

func anyAddr(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return "any"
	}
	return a.String()
}
