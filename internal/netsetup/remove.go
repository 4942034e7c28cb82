package netsetup

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// Remove undoes Apply and every Update, in the reverse order of Apply:
// deletes the routes and addresses it added, sets the link down if Apply set
// it up, and puts back the MTU and the sysctls it changed. If the device is
// gone (its TUN descriptor was closed), so is everything on it, and Remove
// has nothing to do.
//
// Remove carries on past a failed step and returns all failures; what it
// could not undo stays recorded, so calling Remove again retries it. Once it
// has succeeded, further calls do nothing and return nil. After Remove,
// Update refuses to run: Apply again instead.
func (a *Applied) Remove() error {
	a.removed = true
	link, err := a.link()
	if isLinkNotFound(err) {
		a.Forget()
		return nil
	}
	if err != nil {
		return err
	}
	errs := a.deleteRoutesExcept(link, nil)
	if a.broughtUp {
		if err := setDown(link, a.name); err != nil {
			errs = errors.Join(errs, err)
		} else {
			a.broughtUp = false
		}
	}
	errs = errors.Join(errs, a.deleteAddressesExcept(link, nil))
	errs = errors.Join(errs, a.setMTU(link, a.originalMTU))
	for i := len(a.sysctls) - 1; i >= 0; i-- {
		change := a.sysctls[i]
		err := writeSysctl(change.setting, change.old)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = errors.Join(errs, fmt.Errorf("restore: %w", err))
			continue
		}
		a.sysctls = slices.Delete(a.sysctls, i, i+1)
	}
	return errs
}

// Forget drops every record, for a device that has gone with all of them
// (deleted from outside): Remove then has nothing to undo.
func (a *Applied) Forget() {
	a.sysctls, a.addresses, a.routes = nil, nil, nil
	a.broughtUp = false
	a.mtu = a.originalMTU
}
