package engine

import (
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/kernelview"
)

// localTable is what ipipd needs of the kernel's local routing table
// (table 255, `ip route show table local`), as the kernel view follows it:
// the addresses whose routes there have type broadcast, one per address of every interface with a
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

// localTableOf keeps what the engine needs of the View's local table.
func localTableOf(v *kernelview.View) *localTable {
	t := &localTable{broadcast: make(map[uint32]struct{}, len(v.Broadcast)), local: make(map[uint32]struct{}, len(v.Local))}
	for a := range v.Broadcast {
		t.broadcast[header.Addr4(a)] = struct{}{}
	}
	for a := range v.Local {
		t.local[header.Addr4(a)] = struct{}{}
	}
	return t
}
