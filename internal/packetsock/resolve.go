package packetsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
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
	h     *netlink.Handle
	dev   string           // the tunnel's dev, "" for none
	oif   int              // its index, 0 for none
	neigh *nl.SocketHandle // for single-entry neighbour requests
	// dumpNeighbours: the kernel refused a single-entry request (before
	// 5.0), so the device's table is dumped instead.
	dumpNeighbours bool
}

func (r *netlinkResolver) Resolve(dst uint32) Path {
	ip := net.IPv4(byte(dst>>24), byte(dst>>16), byte(dst>>8), byte(dst)).To4()
	routes, err := r.h.RouteGetWithOptions(ip, &netlink.RouteGetOptions{OifIndex: r.oif})
	if err != nil && r.dev != "" && r.renumbered() {
		routes, err = r.h.RouteGetWithOptions(ip, &netlink.RouteGetOptions{OifIndex: r.oif})
	}
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
	n, err := r.neighbour(route.LinkIndex, hop)
	if err != nil || n == nil || n.State&usableNeighbour == 0 || len(n.HardwareAddr) != 6 {
		return p // not resolved yet: the fallback's packets make the kernel ask
	}
	p.Usable, p.Stale = true, n.State&unix.NUD_STALE != 0
	copy(p.MAC[:], n.HardwareAddr)
	if src := route.Src.To4(); src != nil {
		p.Src = binary.BigEndian.Uint32(src)
	}
	return p
}

// renumbered looks the dev up again by name and reports whether its index
// changed: a device deleted and made again (a VLAN or bond rebuilt) comes
// back with a new index, which the old one's lookups would never find.
func (r *netlinkResolver) renumbered() bool {
	link, err := r.h.LinkByName(r.dev)
	if err != nil || link.Attrs().Index == r.oif {
		return false
	}
	r.oif = link.Attrs().Index
	return true
}

// neighbour is the kernel's entry for hop on device ifindex (`ip neigh get
// HOP dev DEV`), nil when there is none. It asks for that one entry rather
// than dumping the device's table: the resolver asks for every destination
// each refreshAfter, and a large L2 segment holds thousands of entries.
func (r *netlinkResolver) neighbour(ifindex int, hop net.IP) (*netlink.Neigh, error) {
	if r.dumpNeighbours || r.neigh == nil {
		return r.neighbourFromDump(ifindex, hop)
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, 0)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: r.neigh}
	req.AddData(&netlink.Ndmsg{Family: unix.AF_INET, Index: uint32(ifindex)})
	req.AddData(nl.NewRtAttr(unix.NDA_DST, hop.To4()))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
		r.dumpNeighbours = true // no RTM_GETNEIGH for one entry: a kernel before 5.0
		return r.neighbourFromDump(ifindex, hop)
	case err != nil:
		return nil, err
	case len(msgs) != 1:
		return nil, fmt.Errorf("packetsock: %d answers to a neighbour request, want 1", len(msgs))
	}
	return netlink.NeighDeserialize(msgs[0])
}

// neighbourFromDump finds hop in a dump of the device's neighbours.
func (r *netlinkResolver) neighbourFromDump(ifindex int, hop net.IP) (*netlink.Neigh, error) {
	neighbours, err := r.h.NeighList(ifindex, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for i := range neighbours {
		if neighbours[i].IP.Equal(hop) {
			return &neighbours[i], nil
		}
	}
	return nil, nil
}
