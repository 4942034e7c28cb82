package netsetup

import (
	"fmt"

	"github.com/ipipd/ipipd/tun"
)

// LinkIndex returns the interface index of the underlay device name, for
// binding a tunnel to it (the kernel's "ip tunnel add ... dev NAME"). The
// error says when the device does not exist.
//
// Equivalent to: `ip link show dev $name`
func LinkIndex(name string) (int, error) {
	if err := tun.CheckName(name); err != nil {
		return 0, fmt.Errorf("underlay device: %w", err)
	}
	link, err := rtnl().LinkByName(name)
	if err != nil {
		if isLinkNotFound(err) {
			return 0, fmt.Errorf("underlay device %s does not exist in this network namespace", name)
		}
		return 0, fmt.Errorf("find underlay device %s: %w", name, err)
	}
	return link.Attrs().Index, nil
}
