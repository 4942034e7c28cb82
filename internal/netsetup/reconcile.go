package netsetup

import (
	"errors"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// Reconcile puts back what ipipd installed and the kernel no longer holds,
// comparing with the kernel, not with ipipd's own record: after `ip link
// set NAME down` and `up` the kernel has flushed the device's routes (and
// says nothing about it), and an operator may have deleted an address.
// While the device is down there is nothing to do: the kernel refuses
// routes through it, and Reconcile runs again when it comes up.
//
// Equivalent to: `ip route add …` and `ip addr add …` for each one missing
func (a *Applied) Reconcile() error {
	if a.removed {
		return nil
	}
	link, err := a.link()
	if err != nil {
		return err
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return nil
	}
	a.forgetMissing(link)
	return errors.Join(a.addAddresses(link, a.wantedAddresses), a.addRoutes(link, a.wantedRoutes))
}

// forgetMissing drops from the record what the kernel no longer holds, so
// that adding what is wanted puts it back.
func (a *Applied) forgetMissing(link netlink.Link) {
	if held, err := heldRoutes(link.Attrs().Index, a.table); err == nil {
		a.routes = slices.DeleteFunc(a.routes, func(r Route) bool { return !held[r] })
	}
	present, err := heldAddresses(link.Attrs().Index)
	if err != nil {
		return
	}
	a.addresses = slices.DeleteFunc(a.addresses, func(p netip.Prefix) bool { return !present[p] })
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), bits), true
}
