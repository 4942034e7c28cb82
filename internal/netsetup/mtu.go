package netsetup

import (
	"net/netip"

	"github.com/vishvananda/netlink"
)

// defaultUnderlayMTU is what the kernel assumes when a tunnel has neither a
// route to its remote nor a bound device: ETH_DATA_LEN, in ip_tunnel_bind_dev.
const defaultUnderlayMTU = 1500

// maxIPv4PacketLen is IP_MAX_MTU, the largest IPv4 total length.
const maxIPv4PacketLen = 65535

// DefaultTunnelMTU is the tunnel MTU the kernel would give an ipip device
// over an underlay of that MTU (ip_tunnel_bind_dev): the underlay MTU, at
// most 65535, less the 20-byte outer header, and at least MinMTU.
func DefaultTunnelMTU(underlay int) int {
	mtu := min(underlay, maxIPv4PacketLen) - outerHeaderLen
	return max(mtu, MinMTU)
}

// UnderlayMTU returns the MTU of the device the tunnel's outer packets would
// leave by, as the kernel picks it in ip_tunnel_bind_dev:
//
//  1. when dst (the tunnel's remote) is a valid IPv4 address and the kernel
//     has a route to it, the MTU of that route's device, the route looked up
//     through dev when dev is given (ip route get DST [oif DEV]);
//  2. otherwise, when dev is given and exists, dev's MTU (ip link show DEV);
//  3. otherwise 1500.
//
// Like the kernel's, it uses the device MTU, not a route's mtu metric. It
// returns a number in all cases, because the daemon only needs a default; a
// device or route that is missing just moves on to the next rule. Pass the
// zero netip.Addr for no remote (the fallback tunnel) and "" for no device.
func UnderlayMTU(dst netip.Addr, dev string) int {
	return NewUnderlayMTUs().MTU(dst, dev)
}

// UnderlayMTUs answers UnderlayMTU for many tunnels in a row, asking the
// kernel for each device once: a config of 10 000 tunnels over one underlay
// device asked for that device's link 10 000 times on every reload. The
// answers are those of the moment it was made; make one per config.
type UnderlayMTUs struct {
	devs  map[string][2]int // dev name: index, MTU (0, 0: not found)
	links map[int]int       // ifindex: MTU
}

func NewUnderlayMTUs() *UnderlayMTUs {
	return &UnderlayMTUs{devs: map[string][2]int{}, links: map[int]int{}}
}

// MTU is UnderlayMTU(dst, dev).
func (u *UnderlayMTUs) MTU(dst netip.Addr, dev string) int {
	devIndex, devMTU := 0, 0
	if dev != "" {
		d, ok := u.devs[dev]
		if !ok {
			if link, err := rtnl().LinkByName(dev); err == nil {
				d = [2]int{link.Attrs().Index, link.Attrs().MTU}
			}
			u.devs[dev] = d
		}
		devIndex, devMTU = d[0], d[1]
	}
	dst = dst.Unmap()
	if dst.Is4() && !dst.IsUnspecified() {
		if mtu := u.routeDeviceMTU(dst, devIndex); mtu > 0 {
			return mtu
		}
	}
	if devMTU > 0 {
		return devMTU
	}
	return defaultUnderlayMTU
}

// routeDeviceMTU is the MTU of the device the route to dst goes out of, or 0
// when there is no such route.
//
// Equivalent to: `ip route get $dst [oif $dev]`, then `ip link show` of its
// device
func (u *UnderlayMTUs) routeDeviceMTU(dst netip.Addr, oifIndex int) int {
	routes, err := rtnl().RouteGetWithOptions(dst.AsSlice(), &netlink.RouteGetOptions{OifIndex: oifIndex})
	if err != nil || len(routes) == 0 || routes[0].LinkIndex <= 0 {
		return 0
	}
	index := routes[0].LinkIndex
	mtu, ok := u.links[index]
	if !ok {
		mtu = LinkMTU(index)
		u.links[index] = mtu
	}
	return mtu
}

// OuterDevice returns the ifindex of the device the kernel would send an
// outer packet to dst out of (bound to dev when dev is given), or 0 when it
// has no route. The engine's loop guard compares it with its own devices,
// as ip_tunnel_xmit compares rt->dst.dev with the tunnel's own device.
//
// Equivalent to: `ip route get $dst [oif $dev]`
func OuterDevice(dst netip.Addr, dev string) int {
	oif := 0
	if dev != "" {
		if link, err := rtnl().LinkByName(dev); err == nil {
			oif = link.Attrs().Index
		}
	}
	routes, err := rtnl().RouteGetWithOptions(dst.AsSlice(), &netlink.RouteGetOptions{OifIndex: oif})
	if err != nil || len(routes) == 0 {
		return 0
	}
	return routes[0].LinkIndex
}

// RouteGateway returns the gateway of the kernel's route to dst through
// device oif, the zero Addr when it has none: what ip_tunnel_xmit reads from
// the packet's route (rt_nexthop), asked when ipipd's copy of the routes is
// a moment behind the kernel.
//
// Equivalent to: `ip route get $dst oif $dev`
func RouteGateway(dst netip.Addr, oif int) netip.Addr {
	routes, err := rtnl().RouteGetWithOptions(dst.AsSlice(), &netlink.RouteGetOptions{OifIndex: oif})
	if err != nil || len(routes) == 0 || routes[0].LinkIndex != oif {
		return netip.Addr{}
	}
	gw, _ := netip.AddrFromSlice(routes[0].Gw)
	return gw.Unmap()
}

// LinkMTU is the MTU of device index, 0 when it cannot be read.
//
// Equivalent to: `ip link show` of the device
func LinkMTU(index int) int {
	l, err := rtnl().LinkByIndex(index)
	if err != nil {
		return 0
	}
	return l.Attrs().MTU
}
