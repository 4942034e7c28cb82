package packetsock

import (
	"encoding/binary"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// usableNeighbour is the set of neighbour states whose address the kernel
// itself would send to (neigh_output: connected, or stale/delay/probe,
// which it sends to while it re-checks).
const usableNeighbour = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE |
	unix.NUD_PERMANENT | unix.NUD_NOARP

// netlinkResolver is the kernel's answer: `ip route get DST [oif DEV]`,
// then the neighbour table of the route's device for its gateway or, on
// link, the destination itself.
type netlinkResolver struct {
	h   *netlink.Handle
	oif int // the tunnel's dev, 0 for none
}

func (r *netlinkResolver) Resolve(dst uint32) Path {
	ip := net.IPv4(byte(dst>>24), byte(dst>>16), byte(dst>>8), byte(dst)).To4()
	routes, err := r.h.RouteGetWithOptions(ip, &netlink.RouteGetOptions{OifIndex: r.oif})
	if err != nil || len(routes) == 0 {
		return Path{}
	}
	route := routes[0]
	if route.Type != unix.RTN_UNICAST || route.LinkIndex <= 0 {
		return Path{} // local, broadcast, multicast, unreachable…: the raw socket's business
	}
	link, err := r.h.LinkByIndex(route.LinkIndex)
	if err != nil {
		return Path{}
	}
	attrs := link.Attrs()
	if attrs.EncapType != "ether" || len(attrs.HardwareAddr) != 6 || attrs.Flags&net.FlagUp == 0 {
		return Path{}
	}
	hop := route.Gw.To4()
	if hop == nil {
		hop = ip
	}
	// An unusable path still names its next hop: the notification that
	// the neighbour became usable voids it, and the next packet asks again
	// at once rather than after refreshAfter.
	p := Path{Ifindex: route.LinkIndex, NextHop: binary.BigEndian.Uint32(hop)}
	neighbours, err := r.h.NeighList(route.LinkIndex, netlink.FAMILY_V4)
	if err != nil {
		return p
	}
	for _, n := range neighbours {
		if !n.IP.Equal(hop) || n.State&usableNeighbour == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		p.Usable, p.Stale = true, n.State&unix.NUD_STALE != 0
		copy(p.MAC[:], n.HardwareAddr)
		if src := route.Src.To4(); src != nil {
			p.Src = binary.BigEndian.Uint32(src)
		}
		return p
	}
	return p // not resolved yet: the fallback's packets make the kernel ask
}
