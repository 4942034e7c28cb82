package netsetup

import "fmt"

// acceptLocalWarnings says when the host-wide accept_local undoes the
// device's accept_local=0. The kernel accepts a local source when either is
// 1 (IN_DEV_ORCONF): an inner packet that claims one of this node's own
// addresses as source is then delivered, as it would be through the
// kernel's tunl0 on the same host. Apply does not change the host-wide
// setting; it only says so.
func acceptLocalWarnings(device string) []string {
	all := sysctl{"ipv4", "all", "accept_local"}
	value, err := readSysctl(all)
	if err != nil || value == "0" {
		return nil
	}
	return []string{fmt.Sprintf("%s=%s overrides accept_local=0 on %s: inner packets arriving through %s with one of this node's own addresses as source will be delivered; set %s to 0", all, value, device, device, all)}
}
