package engine

import (
	"encoding/binary"
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// localTable is what ipipd needs of the kernel's local routing table
// (table 255, `ip route show table local`): the addresses whose routes
// there have type broadcast, one per address of every interface with a
// broadcast address (fib_add_ifaddr adds them, fib_del_ifaddr removes
// them). IP input marks a packet to one of them RTCF_BROADCAST
// (ip_route_input_slow: RTN_BROADCAST → brd_input) and still delivers it
// to protocol 4, but icmp_send answers no such packet.
type localTable struct {
	broadcast map[uint32]struct{}
	// local holds the addresses of type local: this host's own, whose
	// packets through a tunnel are "locally generated" to the kernel.
	local map[uint32]struct{}
}

// isLocal reports whether addr is one of this host's addresses (a local
// route of the local table, as inet_addr_type would answer RTN_LOCAL).
func (ns *netns) isLocal(addr uint32) bool {
	if t := ns.local.Load(); t != nil {
		_, ok := t.local[addr]
		return ok
	}
	return false
}

// isBroadcast reports whether icmp_send would refuse to answer a packet
// sent to dst for its RTCF_BROADCAST: the limited broadcast address
// (ipv4_is_lbcast), or a broadcast route of the local table. Only the
// no-tunnel path asks, once per unmatched packet: a map look-up.
func (ns *netns) isBroadcast(dst uint32) bool {
	if dst == 0xffffffff {
		return true
	}
	if t := ns.local.Load(); t != nil {
		_, ok := t.broadcast[dst]
		return ok
	}
	return false
}

// watchLocalTable reads the local table now and again after each change
// the kernel announces in it (addresses added or removed, devices up or
// down), until stop is called. It opens its netlink sockets in the calling
// thread's network namespace. Should it fail, only 255.255.255.255 counts
// as broadcast, and the log says why.
func (e *Engine) watchLocalTable() (stop func()) {
	done := make(chan struct{})
	stop = func() { close(done) }
	handle, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		e.log.Warn("reading the local routing table failed; ICMP port unreachable may answer packets to broadcast addresses", "err", err)
		return stop
	}
	updates := make(chan netlink.RouteUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(updates, done, netlink.RouteSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case <-done: // closing the socket to stop fails its receive: not news
			default:
				e.logLimited("following the local routing table failed", "err", err)
			}
		},
	}); err != nil {
		handle.Close()
		e.log.Warn("following the local routing table failed; its broadcast addresses are read once", "err", err)
		updates = nil
	}
	ns := e.netns()
	refresh := func() {
		t, err := readLocalTable(handle)
		if err != nil {
			e.logLimited("reading the local routing table failed", "err", err)
			return
		}
		ns.local.Store(t)
	}
	refresh() // subscribed first: no change falls between the two
	if updates == nil {
		handle.Close()
		return stop
	}
	go func() {
		defer handle.Close()
		for u := range updates { // closed once done is
			if u.Table != unix.RT_TABLE_LOCAL {
				continue
			}
			// An address brings several routes at once: read the table
			// once for all that are queued.
			for drained := false; !drained; {
				select {
				case _, ok := <-updates:
					drained = !ok
				default:
					drained = true
				}
			}
			refresh()
		}
	}()
	return stop
}

// readLocalTable reads the broadcast routes of the local table, again
// when a change interrupted the dump.
//
// Equivalent to: `ip route show table local`
func readLocalTable(h *netlink.Handle) (*localTable, error) {
	var err error
	for range 3 {
		var t *localTable
		if t, err = dumpLocalTable(h); err == nil {
			return t, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return nil, err
}

func dumpLocalTable(h *netlink.Handle) (*localTable, error) {
	t := &localTable{broadcast: map[uint32]struct{}{}, local: map[uint32]struct{}{}}
	err := h.RouteListFilteredIter(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_LOCAL},
		netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
			if r.Dst == nil {
				return true
			}
			ip := r.Dst.IP.To4()
			if ip == nil {
				return true
			}
			switch r.Type {
			case unix.RTN_BROADCAST:
				t.broadcast[binary.BigEndian.Uint32(ip)] = struct{}{}
			case unix.RTN_LOCAL:
				if ones, _ := r.Dst.Mask.Size(); ones == 32 {
					t.local[binary.BigEndian.Uint32(ip)] = struct{}{}
				}
			}
			return true
		})
	if err != nil {
		return nil, err
	}
	return t, nil
}
