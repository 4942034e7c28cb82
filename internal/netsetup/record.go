package netsetup

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The steps of Apply, Update and Remove, each recorded in the Applied as it
// succeeds, so that what is recorded is always what is in the kernel.

// setSysctl sets one of the device's sysctls and records the old value, the
// first time only, so that Remove puts back the value from before Apply.
func (a *Applied) setSysctl(s sysctl, value string) error {
	change, err := setSysctl(s, value)
	if err != nil || change == nil {
		return err
	}
	recorded := slices.ContainsFunc(a.sysctls, func(c sysctlChange) bool { return c.setting == s })
	if !recorded {
		a.sysctls = append(a.sysctls, *change)
	}
	return nil
}

// disableIPv6 turns IPv6 off on the device. A device without IPv6 settings
// has no IPv6 to turn off: the kernel was built or booted without IPv6, or
// the device MTU is below 1280, the IPv6 minimum, for which the kernel takes
// IPv6 off the device altogether.
func (a *Applied) disableIPv6() error {
	err := a.setSysctl(sysctl{"ipv6", a.name, "disable_ipv6"}, "1")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// setMTU sets the MTU if it differs and records it.
//
// Raising the MTU from below 1280 to 1280 or more makes the kernel give the
// device IPv6 again, with the default settings (addrconf_notify,
// NETDEV_CHANGEMTU), so setMTU turns IPv6 off again afterwards.
func (a *Applied) setMTU(link netlink.Link, mtu int) error {
	if mtu == a.mtu {
		return nil
	}
	if err := setMTU(link, a.name, mtu); err != nil {
		return err
	}
	a.mtu = mtu
	return a.disableIPv6()
}

// addAddresses adds those of want not yet recorded, recording each.
func (a *Applied) addAddresses(link netlink.Link, want []netip.Prefix) error {
	for _, p := range want {
		if slices.Contains(a.addresses, p) {
			continue
		}
		if err := addAddress(link, a.name, p); err != nil {
			return err
		}
		a.addresses = append(a.addresses, p)
	}
	return nil
}

// addRoutes adds those of want not yet recorded, recording each. A route
// the kernel already holds for someone else is left to them, not recorded,
// and said in a warning.
//
// The routes go to the kernel many to a system call (netlinkBatch); one the
// kernel already holds goes again alone, through addRoute, which decides
// between replacing ipipd's own and leaving another's. On an error the
// routes installed are recorded all the same, so that Remove undoes them.
func (a *Applied) addRoutes(link netlink.Link, want []Route) error {
	var todo []Route
	for _, r := range want {
		if !slices.Contains(a.routes, r) && !slices.Contains(todo, r) {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	msgs := make([][]byte, len(todo))
	for i, r := range todo {
		msgs[i] = addRouteMessage(link.Attrs().Index, a.table, r)
	}
	// An error of the socket itself leaves answers AnswerLost or
	// AnswerNotSent, which go again one by one below: the batch is only
	// the fast way.
	answers, _ := netlinkBatch(msgs)
	var firstErr error
	for i, r := range todo {
		switch answers[i] {
		case 0:
		case unix.EEXIST, AnswerLost, AnswerNotSent:
			// Held already (maybe by the lost request itself): the old
			// path decides between replacing ipipd's own, and leaving
			// another's.
			installed, warning, err := addRoute(link, a.name, a.table, r)
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			if warning != "" {
				a.warnings = append(a.warnings, warning)
			}
			if !installed {
				continue
			}
		default:
			firstErr = cmp.Or(firstErr, fmt.Errorf("add route %s dev %s: %w", r, a.name, answers[i]))
			continue
		}
		// A new via for a recorded prefix replaced the old route.
		a.routes = slices.DeleteFunc(a.routes, func(old Route) bool { return old.To == r.To })
		a.routes = append(a.routes, r)
	}
	return firstErr
}

// deleteRoutesExcept deletes the recorded routes not in keep, newest first,
// and carries on past failures, which stay recorded.
func (a *Applied) deleteRoutesExcept(link netlink.Link, keep []Route) error {
	var errs error
	for i := len(a.routes) - 1; i >= 0; i-- {
		if slices.Contains(keep, a.routes[i]) {
			continue
		}
		if slices.ContainsFunc(keep, func(r Route) bool { return r.To == a.routes[i].To }) {
			// Replaced by the kept route's new via: nothing to delete.
			a.routes = slices.Delete(a.routes, i, i+1)
			continue
		}
		if err := deleteRoute(link, a.name, a.table, a.routes[i]); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		a.routes = slices.Delete(a.routes, i, i+1)
	}
	return errs
}

// deleteAddressesExcept deletes the recorded addresses not in keep, newest
// first, and carries on past failures, which stay recorded.
func (a *Applied) deleteAddressesExcept(link netlink.Link, keep []netip.Prefix) error {
	var errs error
	for i := len(a.addresses) - 1; i >= 0; i-- {
		if slices.Contains(keep, a.addresses[i]) {
			continue
		}
		if err := deleteAddress(link, a.name, a.addresses[i]); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		a.addresses = slices.Delete(a.addresses, i, i+1)
	}
	return errs
}
