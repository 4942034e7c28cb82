package engine

import (
	"time"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/tun"
)

// answerInnerSender writes into the TUN the ICMP the kernel would send to
// an inner sender: 3/4 with mtu for a DF packet too big for the path
// (tnl_update_pmtu → icmp_ndo_send), or 3/1 when mtu is 0, during the soft
// error window (dst_link_failure).
//
// Only 3/1 is rate-limited, by the host-wide limit and the inner sender's,
// as __icmp_send limits it: icmpv4_mask_allow exempts frag needed from
// every ICMP limit ("don't limit PMTU discovery"), as a sender that never
// hears the path MTU keeps sending packets that are dropped.
func (e *Engine) answerInnerSender(rt *runtime, ts *tunnelState, b *transmitBuffers, inner []byte, mtu int) {
	// The source is the inner destination, not one of this node's
	// addresses as icmp_send would pick: the kernel sends its own ICMP
	// through loopback, but ipipd's enters IP input on the TUN, where
	// fib_validate_source drops a local source as a martian now that the
	// device keeps accept_local=0 (netsetup.Link). The inner destination
	// is not local and its route is this device, so the ICMP passes
	// rp_filter too, strict or loose.
	src := header.IPv4(inner).Dst()
	if mtu == 0 {
		now, global := time.Now(), &e.netns().icmp
		if !global.allow(now.UnixNano()) || !b.limiter.allow(header.IPv4(inner).Src(), now) {
			rt.counters.ICMPRateLimited.Add(1)
			return
		}
		global.consume()
	}
	// The ICMP is built behind the headroom a TUN's Write may use.
	out, id := b.icmp[tun.WriteHeadroom:], b.ids.Next(src, header.IPv4(inner).Src())
	var n int
	if mtu > 0 {
		n = encap.BuildFragNeeded(out, inner, mtu, src, id)
	} else {
		n = encap.BuildHostUnreachable(out, inner, src, id)
	}
	if n == 0 {
		return
	}
	b.icmpBatch[0] = b.icmp[:tun.WriteHeadroom+n]
	if _, err := rt.dev.Write(b.icmpBatch, tun.WriteHeadroom); err != nil {
		e.logLimited("writing an ICMP error into the TUN failed", "tunnel", rt.name, "err", err)
		return
	}
	rt.counters.ICMPSent.Add(1)
}
