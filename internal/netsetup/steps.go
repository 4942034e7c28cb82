package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The netlink steps. Each returns an error that names the step and the
// object, e.g. "add route 192.168.42.0/24 dev tunl0: file exists", and wraps
// the kernel's errno so callers can test it with errors.Is.

// setMTU sets the device MTU.
//
// Equivalent to: `ip link set dev $name mtu $mtu`
func setMTU(link netlink.Link, name string, mtu int) error {
	if err := rtnl().LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("set mtu %d dev %s: %w", mtu, name, err)
	}
	return nil
}

// setUp brings the device up.
//
// Equivalent to: `ip link set dev $name up`
func setUp(link netlink.Link, name string) error {
	if err := rtnl().LinkSetUp(link); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	return nil
}

// setDown takes the device down.
//
// Equivalent to: `ip link set dev $name down`
func setDown(link netlink.Link, name string) error {
	if err := rtnl().LinkSetDown(link); err != nil {
		return fmt.Errorf("set link %s down: %w", name, err)
	}
	return nil
}

// addAddress adds an IPv4 address with its prefix length.
//
// Equivalent to: `ip addr add $prefix dev $name`
func addAddress(link netlink.Link, name string, p netip.Prefix) error {
	if err := rtnl().AddrAdd(link, netlinkAddr(p)); err != nil {
		return fmt.Errorf("add address %s dev %s: %w", p, name, err)
	}
	return nil
}

// deleteAddress deletes an address; one that is already gone counts as
// deleted.
//
// Equivalent to: `ip addr del $prefix dev $name`
func deleteAddress(link netlink.Link, name string, p netip.Prefix) error {
	err := rtnl().AddrDel(link, netlinkAddr(p))
	if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("delete address %s dev %s: %w", p, name, err)
	}
	return nil
}

// netlinkAddr converts an address prefix for netlink. The broadcast address
// IPv4zero tells netlink to send none, as `ip addr add` without `brd`; left
// nil, netlink would compute one and the kernel would add a broadcast route.
func netlinkAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{
		IPNet:     &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)},
		Broadcast: net.IPv4zero,
	}
}
