package netsetup

import (
	"errors"
	"fmt"
	"net"
	"slices"
)

// Update moves the device from the applied configuration to l, for a
// reload, adding before it deletes so that traffic never loses its route:
//
//  1. ip link set dev NAME mtu MTU, if the MTU changed
//  2. ip addr add ADDRESS dev NAME, for each new address
//  3. ip route add ROUTE via VIA dev NAME onlink proto 70, for each new
//     route (or one the kernel lost), unless the device is down
//  4. ip route del ROUTE dev NAME proto 70, for each route gone
//  5. ip addr del ADDRESS dev NAME, for each address gone
//
// A route or address in both configurations is left alone.
//
// If a step of 1-3 fails, Update undoes this update's steps, so the applied
// configuration stays whole as it was, and returns the error. If a deletion
// of 4-5 fails, the new configuration is in place; what could not be deleted
// stays recorded for Remove, and Update returns the error.
//
// The device cannot change: l.Name must be the applied name.
func (a *Applied) Update(l Link) error { return a.update(l, true) }

// UpdateHeld is Update for a caller that has just seen the kernel hold
// everything of the applied configuration (the engine's View, behind a
// barrier): it does not read the device's routes and addresses back first,
// a dump in which the kernel walks every route of the table (10 ms at
// 100 000 routes).
func (a *Applied) UpdateHeld(l Link) error { return a.update(l, false) }

func (a *Applied) update(l Link, readBack bool) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.Name != a.name {
		return fmt.Errorf("update %s: the new configuration is for device %s; Update cannot move to another device, Remove this one and Apply the other", a.name, l.Name)
	}
	if a.removed {
		return fmt.Errorf("update %s: its configuration was removed; Apply it again instead", a.name)
	}
	link, err := a.link()
	if err != nil {
		return fmt.Errorf("update %s: %w", a.name, err)
	}
	// What the record holds and the kernel lost (a flush by a down and up,
	// an operator's delete) is added again below: a reload never reports
	// success for routes that are not there.
	if readBack {
		a.forgetMissing(link)
	}
	oldMTU := a.mtu
	oldAddresses := slices.Clone(a.addresses)
	oldRoutes := slices.Clone(a.routes)
	oldWantedAddresses, oldWantedRoutes := a.wantedAddresses, a.wantedRoutes
	a.wantedAddresses, a.wantedRoutes = slices.Clone(l.Addresses), slices.Clone(l.Routes)

	err = a.setMTU(link, l.MTU)
	if err == nil {
		err = a.addAddresses(link, l.Addresses)
	}
	if err == nil && link.Attrs().Flags&net.FlagUp != 0 {
		// A device that is down takes no routes; Reconcile adds them when
		// it comes up.
		err = a.addRoutes(link, l.Routes)
	}
	if err != nil {
		a.wantedAddresses, a.wantedRoutes = oldWantedAddresses, oldWantedRoutes
		undoErr := errors.Join(
			a.deleteRoutesExcept(link, oldRoutes),
			a.deleteAddressesExcept(link, oldAddresses),
			a.setMTU(link, oldMTU),
		)
		if undoErr != nil {
			return errors.Join(err, fmt.Errorf("undoing the update also failed, so %s has parts of both configurations: %w", a.name, undoErr))
		}
		return err
	}

	had := len(a.addresses)
	err = errors.Join(
		a.deleteRoutesExcept(link, l.Routes),
		a.deleteAddressesExcept(link, l.Addresses),
	)
	if len(a.addresses) < had && link.Attrs().Flags&net.FlagUp != 0 {
		// With a device's last IPv4 address the kernel flushes every
		// route through it, and says nothing (fib_disable_ip): read them
		// back, and put back what the file still asks for.
		a.forgetMissing(link)
		err = errors.Join(err, a.addRoutes(link, l.Routes))
	}
	return err
}
