package netsetup

import "fmt"

// rpFilterWarnings says when the host-wide rp_filter undoes the device's
// rp_filter=0. The kernel uses the larger of net.ipv4.conf.all.rp_filter and
// the device's (IN_DEV_MAXCONF): 2 (loose) still lets a packet with a local
// source in when accept_local=1, but 1 (strict) drops the ICMP errors the
// daemon writes into the TUN with one of this node's addresses as source.
// Apply does not change the host-wide setting; it only says so.
func rpFilterWarnings(device string) []string {
	all := sysctl{"ipv4", "all", "rp_filter"}
	value, err := readSysctl(all)
	if err != nil || value != "1" {
		return nil
	}
	return []string{fmt.Sprintf("%s=1 (strict) overrides rp_filter=0 on %s, because the kernel uses the larger of the two: ICMP errors that ipipd writes into %s with a local source address will be dropped; set %s to 0 or 2 (loose)", all, device, device, all)}
}
