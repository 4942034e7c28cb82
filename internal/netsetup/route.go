package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Route is one route ipipd installs into a tunnel's device: To through the
// device, by gateway Via when it is valid.
type Route struct {
	To  netip.Prefix
	Via netip.Addr // the zero Addr: no gateway (the inner destination is the outer one)
}

func (r Route) String() string {
	if r.Via.IsValid() {
		return fmt.Sprintf("%s via %s", r.To, r.Via)
	}
	return r.To.String()
}

// RouteProtocol marks the routes ipipd installs (rtm_protocol), so that ip
// route shows whose they are and ipipd removes only its own: `proto 70`, or
// `proto ipipd` with the line "70 ipipd" in /etc/iproute2/rt_protos.d/.
// Values below 20 are the kernel's and iproute2's; 70 is unassigned in
// iproute2's rt_protos, as BIRD's 12 and the 186-192 of FRR's daemons are
// assigned.
const RouteProtocol = 70

// MainTable is the kernel's main routing table (RT_TABLE_MAIN).
const MainTable = unix.RT_TABLE_MAIN

// kernelRoute is the route as ipipd installs it: with a gateway,
// `ip route add To via Via dev NAME onlink proto 70 table T`, since the
// gateway is a tunnel peer that no interface prefix covers (the seed's
// onlink); without one, `ip route add To dev NAME scope link proto 70`.
func kernelRoute(index, table int, r Route) *netlink.Route {
	m := r.To.Masked()
	kr := &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: net.IP(m.Addr().AsSlice()), Mask: net.CIDRMask(m.Bits(), 32)},
		Protocol:  RouteProtocol,
		Table:     table,
		Scope:     netlink.SCOPE_LINK,
	}
	if r.Via.IsValid() {
		kr.Gw = net.IP(r.Via.AsSlice())
		kr.Flags = int(netlink.FLAG_ONLINK)
		kr.Scope = netlink.SCOPE_UNIVERSE
	}
	return kr
}

// addRouteMessage is kernelRoute(index, table, r) added as one netlink
// message, `ip route add` with NLM_F_CREATE|NLM_F_EXCL as RouteAdd sends
// it, for a batch (netlinkBatch).
func addRouteMessage(index, table int, r Route) []byte {
	return routeMessage(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, nl.NewRtMsg(), kernelRoute(index, table, r))
}

// routeMessage encodes r, an IPv4 route through one device, as one
// rtnetlink request of type cmd asking for an acknowledgement, over msg
// (nl.NewRtMsg's defaults for an addition, nl.NewRtDelMsg's for a
// deletion) as the library's RouteAdd and RouteDel encode the fields ipipd
// sets: destination, gateway, device, table, metric, protocol, type, scope
// and flags.
func routeMessage(cmd, flags int, msg *nl.RtMsg, r *netlink.Route) []byte {
	req := nl.NewNetlinkRequest(cmd, flags|unix.NLM_F_ACK)
	bits, _ := r.Dst.Mask.Size()
	msg.Family = unix.AF_INET
	msg.Dst_len = uint8(bits)
	msg.Table = unix.RT_TABLE_UNSPEC // RTA_TABLE below says it
	if r.Table < 256 {
		msg.Table = uint8(r.Table)
	}
	if r.Protocol > 0 {
		msg.Protocol = uint8(r.Protocol)
	}
	if r.Type > 0 {
		msg.Type = uint8(r.Type)
	}
	msg.Scope = uint8(r.Scope)
	msg.Flags = uint32(r.Flags)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, r.Dst.IP.To4()))
	if r.Gw != nil {
		req.AddData(nl.NewRtAttr(unix.RTA_GATEWAY, r.Gw.To4()))
	}
	req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(r.LinkIndex))))
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(r.Table))))
	if r.Priority > 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(r.Priority))))
	}
	return req.Serialize()
}

// addRoute installs r. If the kernel already holds a route for the prefix
// (same table, metric 0), ipipd's own is replaced (a new via), and anyone
// else's is left as it is: installed reports false, and the error is nil.
//
// Equivalent to: `ip route add $to via $via dev $name onlink proto 70`
func addRoute(link netlink.Link, name string, table int, r Route) (installed bool, warning string, err error) {
	kr := kernelRoute(link.Attrs().Index, table, r)
	err = rtnl().RouteAdd(kr)
	if err == nil {
		return true, "", nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, "", fmt.Errorf("add route %s dev %s: %w", r, name, err)
	}
	existing, ok := routeAt(table, r.To)
	if ok && existing.Protocol == RouteProtocol {
		if err := rtnl().RouteReplace(kr); err != nil {
			return false, "", fmt.Errorf("replace route %s dev %s: %w", r, name, err)
		}
		return true, "", nil
	}
	return false, fmt.Sprintf("route %s is already in the kernel (%s); ipipd leaves it as it is and does not install its own for the same prefix", r.To, describe(existing, ok)), nil
}

// deleteRoute deletes ipipd's route for r.To through the device; one that is
// already gone (or was replaced by someone else's) counts as deleted.
//
// Equivalent to: `ip route del $to dev $name proto 70`
func deleteRoute(link netlink.Link, name string, table int, r Route) error {
	kr := kernelRoute(link.Attrs().Index, table, r)
	kr.Gw, kr.Flags, kr.Scope = nil, 0, netlink.SCOPE_NOWHERE // match any gateway and scope: only ipipd's protocol
	err := rtnl().RouteDel(kr)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete route %s dev %s: %w", r, name, err)
	}
	return nil
}

// routeAt is the metric-0 route for prefix in table, if the kernel holds one.
//
// Equivalent to: `ip route show table $table exact $prefix metric 0`
func routeAt(table int, prefix netip.Prefix) (netlink.Route, bool) {
	m := prefix.Masked()
	filter := &netlink.Route{Table: table, Dst: &net.IPNet{IP: net.IP(m.Addr().AsSlice()), Mask: net.CIDRMask(m.Bits(), 32)}}
	routes, err := rtnl().RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
	if err != nil {
		return netlink.Route{}, false
	}
	for _, r := range routes {
		if r.Priority == 0 && r.Tos == 0 {
			return r, true
		}
	}
	return netlink.Route{}, false
}

// describe says what an existing route is, for a warning.
func describe(r netlink.Route, ok bool) string {
	if !ok {
		return "with another metric or TOS"
	}
	s := fmt.Sprintf("proto %s", r.Protocol)
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	if l, err := rtnl().LinkByIndex(r.LinkIndex); err == nil {
		s += " dev " + l.Attrs().Name
	}
	return s
}
