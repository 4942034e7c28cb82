package engine

import (
	"net/netip"
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
	Addresses  []string
	Routes     []RouteStatus
	Stats      Stats
}

// RouteStatus is one route of a tunnel.
type RouteStatus struct {
	To  string
	Via string `json:",omitempty"`
}

// Status reads the running state and counters.
func (e *Engine) Status() Status {
	st := e.state.Load()
	s := Status{Global: e.global.Stats()}
	if e.errs != nil {
		icmp := e.errs.Stats()
		s.Global.OuterErrors, s.Global.FragNeededDiscarded = icmp.Events, icmp.Discarded
	}
	for i := range st.tunnels {
		ts := &st.tunnels[i]
		c := &ts.config
		t := TunnelStatus{
			Name: c.Name, Local: anyAddr(c.Local), Remote: anyAddr(c.Remote), Dev: c.Dev,
			TTL: c.TTL, TOS: c.TOS, TOSInherit: c.TOSInherit, PMTUDisc: c.PMTUDisc || c.TTL != 0,
			MTU: ts.tunMTU, PathMTU: ts.pathMTU, Fallback: c.IsFallback(),
			Stats: ts.rt.counters.Stats(),
		}
		for _, a := range c.Addresses {
			t.Addresses = append(t.Addresses, a.String())
		}
		for _, r := range c.Routes {
			rs := RouteStatus{To: r.To.String()}
			if r.Via.IsValid() {
				rs.Via = r.Via.String()
			}
			t.Routes = append(t.Routes, rs)
		}
		s.Tunnels = append(s.Tunnels, t)
	}
	sort.SliceStable(s.Tunnels, func(a, b int) bool { return s.Tunnels[a].Name < s.Tunnels[b].Name })
	return s
}

func anyAddr(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return "any"
	}
	return a.String()
}
