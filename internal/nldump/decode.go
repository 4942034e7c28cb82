package nldump

import (
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// What a message says: the kernel's RTM_NEWLINK/RTM_DELLINK,
// RTM_NEWADDR/RTM_DELADDR and RTM_NEWROUTE/RTM_DELROUTE messages, from a
// notification or a dump, decoded into the values the netlink library's
// own subscriptions and dumps hand out, so that kernelview's follower and
// netsetup read them as they did when the library read them. The
// library decodes links with an exported function; routes and addresses
// with unexported ones (deserializeRoute in route_linux.go, parseAddr in
// addr_linux.go), which these follow for the fields ipipd reads.
// The values share the message's bytes: Receive gives each datagram a
// buffer of its own, never reused.
//
// Attributes are walked in place (splitAttribute) rather than with
// nl.ParseRouteAttr, which allocates a slice per message and slices past
// the end of an unpadded last attribute.

// DecodeLink decodes RTM_NEWLINK and RTM_DELLINK.
func DecodeLink(m *syscall.NetlinkMessage) (netlink.LinkUpdate, error) {
	if len(m.Data) < unix.SizeofIfInfomsg {
		return netlink.LinkUpdate{}, fmt.Errorf("link notification of %d bytes, shorter than an ifinfomsg (%d)", len(m.Data), unix.SizeofIfInfomsg)
	}
	header := unix.NlMsghdr(m.Header)
	link, err := netlink.LinkDeserialize(&header, m.Data)
	if err != nil {
		return netlink.LinkUpdate{}, fmt.Errorf("link notification: %w", err)
	}
	return netlink.LinkUpdate{IfInfomsg: *nl.DeserializeIfInfomsg(m.Data), Header: header, Link: link}, nil
}

// DecodeAddress decodes RTM_NEWADDR and RTM_DELADDR: the address, its
// prefix length, its device and its scope.
func DecodeAddress(m *syscall.NetlinkMessage) (netlink.AddrUpdate, error) {
	if len(m.Data) < unix.SizeofIfAddrmsg {
		return netlink.AddrUpdate{}, fmt.Errorf("address notification of %d bytes, shorter than an ifaddrmsg (%d)", len(m.Data), unix.SizeofIfAddrmsg)
	}
	msg := nl.DeserializeIfAddrmsg(m.Data)
	var local, address []byte
	for b := m.Data[unix.SizeofIfAddrmsg:]; len(b) >= unix.SizeofRtAttr; {
		typ, value, rest, err := splitAttribute(b)
		if err != nil {
			return netlink.AddrUpdate{}, fmt.Errorf("address notification: %w", err)
		}
		switch typ {
		case unix.IFA_LOCAL:
			local = value
		case unix.IFA_ADDRESS:
			address = value
		}
		b = rest
	}
	// IPv4 sends both: IFA_LOCAL is the device's own address, IFA_ADDRESS
	// the peer's on a point-to-point address (`ip addr add L peer P`), else
	// the same. As parseAddr: with a peer the prefix belongs to the peer,
	// and the own address is a /32.
	var ipNet net.IPNet
	switch {
	case local != nil && address != nil && msg.Family == unix.AF_INET && net.IP(local).Equal(address):
		ipNet = net.IPNet{IP: address, Mask: net.CIDRMask(int(msg.Prefixlen), 8*len(address))}
	case local != nil:
		ipNet = net.IPNet{IP: local, Mask: net.CIDRMask(8*len(local), 8*len(local))}
	case address != nil:
		ipNet = net.IPNet{IP: address, Mask: net.CIDRMask(int(msg.Prefixlen), 8*len(address))}
	default:
		return netlink.AddrUpdate{}, fmt.Errorf("address notification for ifindex %d without IFA_LOCAL or IFA_ADDRESS", msg.Index)
	}
	if ipNet.Mask == nil {
		return netlink.AddrUpdate{}, fmt.Errorf("address notification for ifindex %d: prefix length %d does not fit a %d-byte address", msg.Index, msg.Prefixlen, len(ipNet.IP))
	}
	return netlink.AddrUpdate{LinkAddress: ipNet, LinkIndex: int(msg.Index), Scope: int(msg.Scope), NewAddr: m.Header.Type == unix.RTM_NEWADDR}, nil
}

// DecodeRoute decodes RTM_NEWROUTE and RTM_DELROUTE: the rtmsg, and the
// destination, table, output device, gateway, priority and next hops.
func DecodeRoute(m *syscall.NetlinkMessage) (netlink.RouteUpdate, error) {
	if len(m.Data) < unix.SizeofRtMsg {
		return netlink.RouteUpdate{}, fmt.Errorf("route notification of %d bytes, shorter than an rtmsg (%d)", len(m.Data), unix.SizeofRtMsg)
	}
	msg := nl.DeserializeRtMsg(m.Data)
	r := netlink.Route{
		Family:   int(msg.Family),
		Tos:      int(msg.Tos),
		Table:    int(msg.Table), // RTA_TABLE, below, holds tables past 255
		Protocol: netlink.RouteProtocol(msg.Protocol),
		Scope:    netlink.Scope(msg.Scope),
		Type:     int(msg.Type),
		Flags:    int(msg.Flags),
	}
	for b := m.Data[unix.SizeofRtMsg:]; len(b) >= unix.SizeofRtAttr; {
		typ, value, rest, err := splitAttribute(b)
		if err != nil {
			return netlink.RouteUpdate{}, fmt.Errorf("route notification: %w", err)
		}
		b = rest
		switch typ {
		case unix.RTA_DST:
			r.Dst = &net.IPNet{IP: value, Mask: net.CIDRMask(int(msg.Dst_len), 8*len(value))}
			if r.Dst.Mask == nil {
				return netlink.RouteUpdate{}, fmt.Errorf("route notification: prefix length %d does not fit a %d-byte RTA_DST", msg.Dst_len, len(value))
			}
		case unix.RTA_GATEWAY:
			r.Gw = net.IP(value)
		case unix.RTA_TABLE, unix.RTA_OIF, unix.RTA_PRIORITY:
			if len(value) < 4 {
				return netlink.RouteUpdate{}, fmt.Errorf("route notification: attribute %d of %d bytes, want 4", typ, len(value))
			}
			v := int(nl.NativeEndian().Uint32(value))
			switch typ {
			case unix.RTA_TABLE:
				r.Table = v
			case unix.RTA_OIF:
				r.LinkIndex = v
			default:
				r.Priority = v
			}
		case unix.RTA_MULTIPATH:
			if r.MultiPath, err = decodeNexthops(value); err != nil {
				return netlink.RouteUpdate{}, err
			}
		}
	}
	// As deserializeRoute and iproute2: no RTA_DST is the default route.
	if r.Dst == nil && msg.Family == unix.AF_INET {
		r.Dst = &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(int(msg.Dst_len), 8*net.IPv4len)}
		if r.Dst.Mask == nil {
			return netlink.RouteUpdate{}, fmt.Errorf("route notification: IPv4 prefix length %d", msg.Dst_len)
		}
	}
	return netlink.RouteUpdate{
		Type:    m.Header.Type,
		NlFlags: m.Header.Flags & (unix.NLM_F_REPLACE | unix.NLM_F_EXCL | unix.NLM_F_CREATE | unix.NLM_F_APPEND),
		Route:   r,
	}, nil
}

// decodeNexthops decodes RTA_MULTIPATH: a run of rtnexthop, each followed
// by its own attributes, of which ipipd reads RTA_GATEWAY.
func decodeNexthops(b []byte) ([]*netlink.NexthopInfo, error) {
	var hops []*netlink.NexthopInfo
	for len(b) > 0 {
		if len(b) < unix.SizeofRtNexthop {
			return nil, fmt.Errorf("route notification: %d bytes left in RTA_MULTIPATH, shorter than an rtnexthop (%d)", len(b), unix.SizeofRtNexthop)
		}
		nh := nl.DeserializeRtNexthop(b)
		size := int(nh.RtNexthop.Len) // not nh.Len(), the size of an rtnexthop to build
		if size < unix.SizeofRtNexthop || size > len(b) {
			return nil, fmt.Errorf("route notification: next hop of length %d in %d bytes of RTA_MULTIPATH", size, len(b))
		}
		hop := &netlink.NexthopInfo{LinkIndex: int(nh.Ifindex), Hops: int(nh.Hops), Flags: int(nh.Flags)}
		for attrs := b[unix.SizeofRtNexthop:size]; len(attrs) >= unix.SizeofRtAttr; {
			typ, value, rest, err := splitAttribute(attrs)
			if err != nil {
				return nil, fmt.Errorf("route notification: next hop: %w", err)
			}
			if typ == unix.RTA_GATEWAY {
				hop.Gw = net.IP(value)
			}
			attrs = rest
		}
		hops = append(hops, hop)
		// rtnh_len covers the attributes, which end aligned (RTNH_ALIGN).
		b = b[min(len(b), (size+unix.RTNH_ALIGNTO-1)&^(unix.RTNH_ALIGNTO-1)):]
	}
	return hops, nil
}

// splitAttribute splits the first attribute (struct rtattr) off b, which
// holds at least its header: its type, its value, and what follows its
// padding (RTA_ALIGN).
func splitAttribute(b []byte) (typ uint16, value, rest []byte, err error) {
	size := int(nl.NativeEndian().Uint16(b[0:2]))
	if size < unix.SizeofRtAttr || size > len(b) {
		return 0, nil, nil, fmt.Errorf("attribute of length %d in %d bytes", size, len(b))
	}
	// Without the flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER) above the type.
	typ = nl.NativeEndian().Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
	return typ, b[unix.SizeofRtAttr:size], b[min(len(b), (size+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):], nil
}
