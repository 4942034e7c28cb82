package engine

import (
	"slices"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/internal/header"
)

// The peer filter (a tunnel's accept_from) admits only some outer sources:
// its remote and its routes' next hops ("known"), or listed prefixes.
// The kernel has none; operators write it as a firewall rule on protocol 4
// (README). ipipd checks it once the tunnel is selected and before
// anything of the packet is decapsulated, where ipip_rcv runs its
// xfrm4_policy_check, so a filtered packet moves no tunnel counter but its
// drop reason (and the multicast, ECN and inner-header counters never see
// it).
//
// Each tunnel's filter is a small immutable set, built when the receive
// loop first meets a new state; a lookup allocates nothing.

// peerFilter is one tunnel's admitted outer sources.
type peerFilter struct {
	on       bool
	addrs    []uint32 // sorted, for a binary search
	prefixes []prefix4
}

// prefix4 is an IPv4 prefix as a masked address and its mask.
type prefix4 struct{ addr, mask uint32 }

// admits reports whether src may send through the tunnel.
func (f *peerFilter) admits(src uint32) bool {
	if !f.on {
		return true
	}
	if _, found := slices.BinarySearch(f.addrs, src); found {
		return true
	}
	for _, p := range f.prefixes {
		if src&p.mask == p.addr {
			return true
		}
	}
	return false
}

// newPeerFilter builds the filter of ts from its config and what the
// kernel holds through its device: the remote, each route's next hop, and,
// for a route without one on a tunnel without a remote, the route's
// destination (the outer destination is then the inner one, as in
// ip_tunnel_xmit).
func newPeerFilter(ts *tunnelState) peerFilter {
	a := ts.config.AcceptFrom
	f := peerFilter{on: a.On()}
	if !f.on {
		return f
	}
	for _, p := range a.Prefixes {
		f.prefixes = append(f.prefixes, newPrefix4(header.Addr4(p.Addr()), p.Bits()))
	}
	if a.Known {
		if r := ts.config.Remote; r.IsValid() && !r.IsMulticast() {
			f.addrs = append(f.addrs, header.Addr4(r))
		}
		for _, r := range ts.routes {
			switch {
			case r.Via.IsValid():
				f.addrs = append(f.addrs, header.Addr4(r.Via))
			case !ts.config.Remote.IsValid():
				f.prefixes = append(f.prefixes, newPrefix4(header.Addr4(r.To.Addr()), r.To.Bits()))
			}
		}
	}
	slices.Sort(f.addrs)
	f.addrs = slices.Compact(f.addrs)
	return f
}

func newPrefix4(addr uint32, bits int) prefix4 {
	mask := uint32(0)
	if bits > 0 {
		mask = ^uint32(0) << (32 - bits)
	}
	return prefix4{addr: addr & mask, mask: mask}
}

// peerFilters holds the filters of one state, by tunnel index. The receive
// loop keeps one and rebuilds it when the state it was built for is no
// longer the current one: a reload or a change of the kernel's routes,
// never per packet.
type peerFilters struct {
	built   *state
	filters []peerFilter
	any     bool // some tunnel of the state filters: else nothing to check
}

// refuses reports whether the peer filter of r's tunnel drops pkt. A mode
// mismatch is not its business: ipip_rcv drops that before its policy
// check. It takes r by pointer and answers a bool, and returns at once when
// no tunnel filters (the default): the receive loop asks for every packet,
// and returning a whole decap.Result cost 16 ns a packet (BenchmarkReceiveBatch).
func (p *peerFilters) refuses(st *state, r *decap.Result, pkt []byte) bool {
	if p.built != st {
		p.build(st)
	}
	if !p.any || r.Tunnel < 0 || r.Tunnel >= len(p.filters) || r.Reason == decap.ModeMismatch {
		return false
	}
	return !p.filters[r.Tunnel].admits(header.IPv4(pkt).Src())
}

func (p *peerFilters) build(st *state) {
	p.built = st
	p.filters = make([]peerFilter, len(st.tunnels))
	p.any = false
	for i := range st.tunnels {
		p.filters[i] = newPeerFilter(&st.tunnels[i])
		p.any = p.any || p.filters[i].on
	}
}
