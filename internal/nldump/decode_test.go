package nldump

import (
	"encoding/binary"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The route and address decoders take any bytes without a panic, and what
// they accept has a prefix with a mask (net.CIDRMask gives none for a
// length past the address).
func FuzzDecoders(f *testing.F) {
	native := nl.NativeEndian().(binary.AppendByteOrder)
	u32 := func(v uint32) []byte { return native.AppendUint32(nil, v) }
	// A multipath route as the kernel sends it: 192.168.44.0/24 in table
	// 254, one next hop via 10.245.1.3 through ifindex 3 with weight 3.
	route := (&nl.RtMsg{RtMsg: unix.RtMsg{Family: unix.AF_INET, Dst_len: 24, Table: 254, Protocol: 4, Type: unix.RTN_UNICAST}}).Serialize()
	route = append(route, nl.NewRtAttr(unix.RTA_DST, []byte{192, 168, 44, 0}).Serialize()...)
	route = append(route, nl.NewRtAttr(unix.RTA_TABLE, u32(254)).Serialize()...)
	gateway := nl.NewRtAttr(unix.RTA_GATEWAY, []byte{10, 245, 1, 3}).Serialize()
	hop := native.AppendUint16(nil, uint16(unix.SizeofRtNexthop+len(gateway)))
	hop = append(hop, 0, 2) // flags, hops (weight - 1)
	hop = append(append(hop, u32(3)...), gateway...)
	route = append(route, nl.NewRtAttr(unix.RTA_MULTIPATH, hop).Serialize()...)
	f.Add(route)
	f.Add(route[:len(route)-2]) // cut inside the next hop's gateway
	// An address: 10.78.0.1 with peer 10.78.0.2/32 on ifindex 2.
	address := (&nl.IfAddrmsg{IfAddrmsg: unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: 32, Index: 2}}).Serialize()
	address = append(address, nl.NewRtAttr(unix.IFA_LOCAL, []byte{10, 78, 0, 1}).Serialize()...)
	address = append(address, nl.NewRtAttr(unix.IFA_ADDRESS, []byte{10, 78, 0, 2}).Serialize()...)
	f.Add(address)
	f.Add(address[:len(address)-1]) // a last attribute cut short
	// A last attribute of one byte, unpadded: nl.ParseRouteAttr slices
	// past the end for it.
	label := native.AppendUint16(nil, unix.SizeofRtAttr+1)
	label = append(native.AppendUint16(label, unix.IFA_LABEL), 'x')
	f.Add(append(slices.Clone(address), label...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWROUTE}, Data: b}
		if u, err := DecodeRoute(m); err == nil && u.Route.Dst != nil && u.Route.Dst.Mask == nil {
			t.Errorf("route %+v: a destination without a mask", u.Route)
		}
		m.Header.Type = unix.RTM_NEWADDR
		if u, err := DecodeAddress(m); err == nil && u.LinkAddress.Mask == nil {
			t.Errorf("address %+v: no mask", u)
		}
	})
}
