package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// Applied is what Apply changed on one device, so that Update can move it to
// a new configuration and Remove can put it back. It records only what this
// package created or changed: an address or route that was already there, or
// a sysctl that already had the wanted value, is never taken away.
//
// An Applied is not safe for concurrent use.
type Applied struct {
	name  string
	index int // the device is found by index, which a rename does not change

	sysctls     []sysctlChange // in the order set
	originalMTU int            // the MTU before Apply, restored by Remove
	mtu         int            // the MTU now set
	broughtUp   bool           // Apply set the link up; Remove sets it down
	addresses   []netip.Prefix // in the order added
	routes      []Route        // in the order added
	table       int            // the routing table of routes
	// wantedAddresses and wantedRoutes are the configuration's, which
	// Reconcile puts back when the kernel lost them.
	wantedAddresses []netip.Prefix
	wantedRoutes    []Route
	down            bool // the link is left down (Link.Down)
	warnings        []string
	removed         bool // Remove was called; Update refuses
}

// Apply configures the device l.Name, which must exist, in this order:
//
//  1. sysctl -w net.ipv6.conf.NAME.disable_ipv6=1 (skipped when the device
//     has no IPv6 settings: a kernel without IPv6, or an MTU below 1280)
//  2. sysctl -w net.ipv4.conf.NAME.accept_local=0
//  3. sysctl -w net.ipv4.conf.NAME.promote_secondaries=1
//  4. ip link set dev NAME mtu MTU
//  5. ip addr add ADDRESS dev NAME, for each address
//  6. ip link set dev NAME up
//  7. ip route add ROUTE via VIA dev NAME onlink proto 70, for each route
//
// rp_filter is left as the operator set it, as for the kernel's tunl0.
//
// With l.Down, 6 and 7 are left out: the device stays down, as modprobe ipip
// leaves tunl0.
//
// (Link says why the sysctls.) IPv6 goes off before the link comes up, so the
// kernel never gives the device a link-local address; routes come last
// because the kernel refuses routes through a device that is down.
//
// If a step fails, Apply undoes the steps done, in reverse order, and returns
// an error naming the step and the object, such as
// "add route 192.168.42.0/24 dev tunl0: file exists".
func Apply(l Link) (*Applied, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	link, err := rtnl().LinkByName(l.Name)
	if err != nil {
		if isLinkNotFound(err) {
			return nil, fmt.Errorf("device %s does not exist in this network namespace; create it (package tun) before configuring it", l.Name)
		}
		return nil, fmt.Errorf("find device %s: %w", l.Name, err)
	}
	a := &Applied{
		name:        l.Name,
		index:       link.Attrs().Index,
		originalMTU: link.Attrs().MTU,
		mtu:         link.Attrs().MTU,
		table:       l.table(),
		down:        l.Down,

		wantedAddresses: slices.Clone(l.Addresses),
		wantedRoutes:    slices.Clone(l.Routes),
	}
	if err := a.apply(link, l); err != nil {
		if undoErr := a.Remove(); undoErr != nil {
			return nil, errors.Join(err, fmt.Errorf("undoing the steps done also failed, so %s is left partly configured: %w", l.Name, undoErr))
		}
		return nil, err
	}
	a.warnings = append(a.warnings, acceptLocalWarnings(l.Name)...)
	return a, nil
}

func (a *Applied) apply(link netlink.Link, l Link) error {
	if err := a.disableIPv6(); err != nil {
		return err
	}
	for _, s := range []struct{ key, value string }{
		{"accept_local", "0"},
		{"promote_secondaries", "1"},
	} {
		if err := a.setSysctl(sysctl{"ipv4", l.Name, s.key}, s.value); err != nil {
			return err
		}
	}
	if err := a.setMTU(link, l.MTU); err != nil {
		return err
	}
	if err := a.addAddresses(link, l.Addresses); err != nil {
		return err
	}
	if l.Down {
		// The kernel refuses routes through a device that is down; the
		// ones ipipd owns are added when it comes up (Reconcile).
		return nil
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := setUp(link, a.name); err != nil {
			return err
		}
		a.broughtUp = true
	}
	return a.addRoutes(link, l.Routes)
}

// Name is the device's name.
func (a *Applied) Name() string { return a.name }

// Warnings are conditions outside the device that Apply found and did not
// change because they are host-wide, each a sentence for the log.
func (a *Applied) Warnings() []string { return slices.Clone(a.warnings) }

// Addresses are the addresses Apply and Update added and have not deleted.
func (a *Applied) Addresses() []netip.Prefix { return slices.Clone(a.addresses) }

// Routes are the routes Apply and Update added and have not deleted.
func (a *Applied) Routes() []Route { return slices.Clone(a.routes) }

// TakeWarnings returns the warnings gathered since the last call and
// forgets them.
func (a *Applied) TakeWarnings() []string {
	w := a.warnings
	a.warnings = nil
	return w
}

// link finds the device by its index, with a plain error if it is gone.
func (a *Applied) link() (netlink.Link, error) {
	link, err := rtnl().LinkByIndex(a.index)
	if err != nil {
		if isLinkNotFound(err) {
			return nil, fmt.Errorf("device %s (index %d) no longer exists: %w", a.name, a.index, err)
		}
		return nil, fmt.Errorf("find device %s (index %d): %w", a.name, a.index, err)
	}
	return link, nil
}

func isLinkNotFound(err error) bool {
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound)
}
