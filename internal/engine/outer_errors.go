package engine

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/icmperr"
	"github.com/ipipd/ipipd/lookup"
)

// The kernel's ipip_err, for ICMP errors about the outer packets ipipd
// sent (net/ipv4/ipip.c):
//
//  1. find the tunnel as for a received packet, with the quoted outer
//     destination as remote and the quoted source as local;
//  2. frag-needed lowers the path MTU toward that remote (a PMTU exception
//     on the outer route, 10 minutes), for every kind of tunnel; the path
//     MTU is the destination's, so every tunnel sending there uses it;
//  3. other destination-unreachable codes (but source-route failed) and
//     TTL exceeded (unless the tunnel inherits the TTL) start or extend a
//     30-second soft-error window on tunnels with a remote;
//  4. while the window is open, each transmitted packet spends one error to
//     answer its inner sender with ICMP host unreachable (dst_link_failure),
//     and is still sent.

// OuterError is one ICMP error about an outer packet.
type OuterError struct {
	Type, Code    uint8
	MTU           int        // next-hop MTU of a frag-needed; 0 when the router gave none
	Local, Remote netip.Addr // the quoted outer source and destination
	Link          int        // ifindex the ICMP arrived on
}

const (
	// softErrorWindow is IPTUNNEL_ERR_TIMEO.
	softErrorWindow = 30 * time.Second
	// pmtuExpires is net.ipv4.route.mtu_expires.
	pmtuExpires = 10 * time.Minute
	// minPMTU is net.ipv4.route.min_pmtu: a smaller advertised MTU is raised
	// to it, as __ip_rt_update_pmtu does.
	minPMTU = 552
)

// softErrors is a tunnel's err_count and err_time. The error loop writes
// them, the transmit loop spends them; both are atomics, never locks.
type softErrors struct {
	count atomic.Int32
	since atomic.Int64 // unix nanoseconds of the last error
}

// pmtuTable maps an outer destination to the path MTU learned for it. It is
// replaced whole on each update (rare) and read without locks per batch.
type pmtuTable map[uint32]pmtuEntry

type pmtuEntry struct {
	mtu int
	// locked: learned below minPMTU and held at it, as __ip_rt_update_pmtu
	// locks it; outer packets then go without DF, and no later frag
	// needed changes the entry until it expires.
	locked  bool
	expires int64 // unix nanoseconds
}

// HandleOuterError applies ipip_err to one ICMP error.
func (e *Engine) HandleOuterError(ev OuterError, now time.Time) {
	st := e.state.Load()
	remote, local := header.Addr4(ev.Remote), header.Addr4(ev.Local)
	if remote == 0 || local == 0 {
		return
	}
	i := st.tables.Tunnels.Lookup(remote, local, ev.Link)
	if i == lookup.None {
		return
	}
	ts := &st.tunnels[i]
	switch {
	case ev.Type == icmperr.TypeDestUnreach && ev.Code == icmperr.CodeFragNeeded:
		e.learnPMTU(ts.rt.name, remote, ev.MTU, now)
		return
	case ev.Type == icmperr.TypeDestUnreach && ev.Code != icmperr.CodeSRFailed:
	case ev.Type == icmperr.TypeTimeExceeded && ev.Code == 0:
		if ts.config.TTL == 0 {
			return // the inner TTL ran out, not ours
		}
	default:
		return // redirects are the outer route's business; the rest is ignored
	}
	if ts.remote == 0 {
		return // NBMA tunnels keep no soft state
	}
	// since is stored before count: a transmit that sees the new count
	// must also see the new window, or it would reset the count to 0.
	se := &ts.rt.softErrors
	open := now.UnixNano() < se.since.Load()+int64(softErrorWindow)
	se.since.Store(now.UnixNano())
	if open {
		se.count.Add(1)
	} else {
		se.count.Store(1)
	}
}

// learnPMTU records the path MTU toward remote as __ip_rt_update_pmtu
// does: never raising a value already learned, and a value below minPMTU
// (0 included: a router that gave none, or ip_no_pmtu_disc = 1) becomes
// minPMTU, locked; a locked entry is kept as it is until it expires. The
// entry is the engine's (ipv4_update_pmtu: an exception on the outer route
// to remote), read by every tunnel's transmit loop; tunnel names only the
// one whose lookup matched, for the log. The error loop is the only writer.
func (e *Engine) learnPMTU(tunnel string, remote uint32, mtu int, now time.Time) {
	paths := &e.netns().pmtu
	old := paths.Load()
	if prev, ok := (*old)[remote]; ok && prev.locked && prev.expires > now.UnixNano() {
		return
	}
	locked := mtu < minPMTU
	if locked {
		mtu = minPMTU
	}
	next := make(pmtuTable, len(*old)+1)
	for dst, entry := range *old {
		if entry.expires > now.UnixNano() {
			next[dst] = entry
		}
	}
	if prev, ok := next[remote]; ok && prev.mtu < mtu {
		mtu = prev.mtu
	}
	next[remote] = pmtuEntry{mtu: mtu, locked: locked, expires: now.Add(pmtuExpires).UnixNano()}
	paths.Store(&next)
	e.log.Info("path MTU lowered by ICMP frag needed", "tunnel", tunnel, "remote", header.AddrFrom32(remote), "mtu", mtu, "locked", locked)
}

// pathMTU is the path toward dst: the underlay's MTU, or a lower one
// learned from ICMP and not yet expired, with its lock.
func pathMTU(underlay int, table *pmtuTable, dst uint32, now int64) encap.Path {
	if len(*table) == 0 {
		return encap.Path{MTU: underlay}
	}
	entry, ok := (*table)[dst]
	switch {
	case !ok || entry.expires <= now:
	case entry.locked:
		// The kernel locks min(route MTU, min_pmtu): on an underlay below
		// 552 the lock holds at the underlay's MTU.
		return encap.Path{MTU: min(entry.mtu, underlay), Locked: true}
	case entry.mtu < underlay:
		return encap.Path{MTU: entry.mtu}
	}
	return encap.Path{MTU: underlay}
}

// spendSoftError reports whether a transmitted packet must answer its inner
// sender with host unreachable (ip_tunnel_xmit's err_count check).
func (se *softErrors) spend(now int64) bool {
	if se.count.Load() <= 0 {
		return false
	}
	if now >= se.since.Load()+int64(softErrorWindow) {
		se.count.Store(0)
		return false
	}
	return se.count.Add(-1) >= 0
}

// readOuterErrors feeds ICMP errors about outer packets to HandleOuterError
// until the reader is closed.
func (e *Engine) readOuterErrors(r *icmperr.Reader) {
	events := make([]icmperr.Event, 16)
	for {
		n, err := r.Read(events)
		now := time.Now()
		for _, ev := range events[:n] {
			e.HandleOuterError(OuterError{Type: ev.Type, Code: ev.Code, MTU: ev.MTU, Local: ev.Local, Remote: ev.Remote, Link: ev.Link}, now)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.logLimited("reading ICMP errors failed", "err", err)
		}
	}
}
