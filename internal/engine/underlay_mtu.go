package engine

import (
	"net/netip"
	"time"

	"github.com/ipipd/ipipd/internal/header"
)

// underlayMTUs is a transmit loop's cache of the underlay MTU toward each
// outer destination: what dst_mtu of the outer route is to the kernel's
// tnl_update_pmtu, per packet. A fallback tunnel sends to many peers whose
// routes may leave by devices of different MTUs; a fixed figure would send
// DF packets the raw socket then refuses (EMSGSIZE) with no ICMP to the
// inner sender: a PMTU black hole.
//
// An entry is looked up (a netlink route query) on the first packet to a
// destination, forgotten when a send to it fails with EMSGSIZE and when the
// engine publishes a new state (a reload), and the cache starts afresh past
// maxUnderlayMTUs entries. It belongs to one loop: no locks.
type underlayMTUs struct {
	mtus map[uint32]int
	// devices caches the ifindex each outer destination is routed out of,
	// for the loop guard, on the same terms.
	devices map[uint32]int
	// gateways caches the kernel's gateway for inner destinations that the
	// route table did not hold yet, on the same terms (0: none).
	gateways map[uint32]uint32
	// asked and askedSince bound the gateway queries to maxGatewayQueries
	// a second: misses are not always transient (a route in a table the
	// tunnel does not follow, reached by a policy rule), and each is a
	// netlink round trip on the transmit loop.
	asked      int
	askedSince int64
	state      *state // the state the entries were learned under
}

const maxUnderlayMTUs = 4096

// maxGatewayQueries bounds each transmit loop's questions to the kernel
// about routes its table lacks.
const maxGatewayQueries = 100

// get returns the underlay MTU toward dst for tunnel ts, looking it up on
// a miss with lookup (netsetup.UnderlayMTU in the daemon).
func (c *underlayMTUs) get(st *state, ts *tunnelState, dst uint32, lookup func(netip.Addr, string) int) int {
	c.renew(st)
	if mtu, ok := c.mtus[dst]; ok {
		return mtu
	}
	if len(c.mtus) >= maxUnderlayMTUs {
		clear(c.mtus)
	}
	mtu := lookup(header.AddrFrom32(dst), ts.config.Dev)
	c.mtus[dst] = mtu
	return mtu
}

// forget drops dst, after a send to it was refused as too big.
func (c *underlayMTUs) forget(dst uint32) { delete(c.mtus, dst) }

// renew starts afresh when the engine published a new state: a reload or a
// change of the kernel's routes may have moved any destination.
func (c *underlayMTUs) renew(st *state) {
	if c.state != st {
		clear(c.mtus)
		clear(c.devices)
		clear(c.gateways)
		c.state = st
	}
}

// device returns the ifindex the kernel routes dst out of, looking it up on
// a miss with lookup (netsetup.OuterDevice in the daemon).
func (c *underlayMTUs) device(st *state, ts *tunnelState, dst uint32, lookup func(netip.Addr, string) int) int {
	c.renew(st)
	if index, ok := c.devices[dst]; ok {
		return index
	}
	if c.devices == nil || len(c.devices) >= maxUnderlayMTUs {
		c.devices = map[uint32]int{}
	}
	index := lookup(header.AddrFrom32(dst), ts.config.Dev)
	c.devices[dst] = index
	return index
}

// gateway returns the gateway the kernel's route to the inner destination
// dst through device oif has (0 for none), looking it up on a miss with
// lookup (netsetup.RouteGateway in the daemon).
func (c *underlayMTUs) gateway(st *state, dst uint32, oif int, lookup func(netip.Addr, int) netip.Addr) uint32 {
	c.renew(st)
	if gw, ok := c.gateways[dst]; ok {
		return gw
	}
	if now := time.Now().UnixNano(); now-c.askedSince >= int64(time.Second) {
		c.asked, c.askedSince = 0, now
	}
	if c.asked >= maxGatewayQueries {
		return 0 // the inner destination, as with no gateway, until next second
	}
	c.asked++
	if c.gateways == nil || len(c.gateways) >= maxUnderlayMTUs {
		c.gateways = map[uint32]uint32{}
	}
	var gw uint32
	if a := lookup(header.AddrFrom32(dst), oif); a.Is4() {
		gw = header.Addr4(a)
	}
	c.gateways[dst] = gw
	return gw
}

// pathMTUNow is what show prints as a tunnel's path MTU: the underlay MTU
// toward its remote as the kernel has it now (a route or device MTU may
// have changed since the tunnel was set up), lowered by what ICMP errors
// taught and has not expired. A tunnel without remote has one per
// destination; show gives its underlay default.
func (e *Engine) pathMTUNow(ts *tunnelState) int {
	underlay := ts.pathMTU
	if e.underlayMTU != nil && ts.remote != 0 {
		underlay = e.underlayMTU(ts.config.Remote, ts.config.Dev)
	}
	if ts.remote == 0 {
		return underlay
	}
	return pathMTU(underlay, e.netns().pmtu.Load(), ts.remote, time.Now().UnixNano()).MTU
}
