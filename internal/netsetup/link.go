package netsetup

import (
	"fmt"
	"net/netip"

	"github.com/ipipd/ipipd/tun"
)

// The MTU range of a tunnel device. The kernel's ipip device accepts 68
// (IPV4_MIN_MTU, the least every IPv4 host must forward unfragmented, RFC 791)
// to 65515 (IP_MAX_MTU 65535 minus the 20-byte outer header, so the outer
// packet still fits an IPv4 total length).
const (
	MinMTU = 68
	MaxMTU = 65535 - outerHeaderLen
)

// outerHeaderLen is the IPIP overhead: one IPv4 header without options.
const outerHeaderLen = 20

// Link is the kernel configuration of one tunnel's TUN device.
//
// Besides what the fields say, Apply sets three sysctls on the device:
//   - disable_ipv6=1: an ipip device never carries IPv6, but a TUN gets a
//     link-local address, router and multicast listener solicitations;
//   - accept_local=0, the kernel's default, which tunl0 has: IP input on the
//     device then drops, as a martian (fib_validate_source), every inner
//     packet whose source is one of this node's own addresses, so that no
//     one can send the node its own addresses through the tunnel. The ICMP
//     errors the daemon writes into the TUN carry the inner destination as
//     source, which is not local and is routed through the device, so they
//     pass this check and a strict rp_filter alike;
//   - promote_secondaries=1: so that Update can add a new address in a
//     subnet before it deletes the old one, without the kernel deleting the
//     new (secondary) address together with the old (primary) one.
//
// rp_filter is not touched: it applies to inner sources on the TUN as it
// does on the kernel's tunl0 (the operator's setting, the larger of
// net.ipv4.conf.all.rp_filter and the device's).
type Link struct {
	// Name is the TUN device, already created by package tun.
	Name string
	// MTU is the device MTU, MinMTU..MaxMTU; see DefaultTunnelMTU.
	MTU int
	// Addresses are the device's IPv4 addresses with their prefix length,
	// as in "ip addr add 192.168.41.1/24 dev NAME".
	Addresses []netip.Prefix
	// Routes are IPv4 destinations routed into the device, installed as
	// the kernel's ipip would hold them: "ip route add P via G dev NAME
	// onlink proto 70 table TABLE". The daemon reads them back from the
	// kernel like any other route (package kernelview).
	Routes []Route
	// Table is the routing table of Routes; 0 means main.
	Table int
	// Down leaves the link down, as `modprobe ipip` creates tunl0: the
	// operator brings it up with `ip link set tunl0 up`.
	Down bool
}

// table is l.Table with 0 as main.
func (l Link) table() int {
	if l.Table == 0 {
		return MainTable
	}
	return l.Table
}

// Validate reports the first thing in l that Apply would refuse, saying what
// would be accepted. It checks the values only; whether the device exists or
// a route is already taken is the kernel's to say.
func (l Link) Validate() error {
	if err := tun.CheckName(l.Name); err != nil {
		return err
	}
	if l.MTU < MinMTU || l.MTU > MaxMTU {
		return fmt.Errorf("%s: mtu %d is out of range: must be %d..%d", l.Name, l.MTU, MinMTU, MaxMTU)
	}
	seen := make(map[netip.Prefix]bool, len(l.Addresses))
	for _, p := range l.Addresses {
		if err := checkIPv4Prefix(p); err != nil {
			return fmt.Errorf("%s: address %s: %w", l.Name, p, err)
		}
		if seen[p] {
			return fmt.Errorf("%s: address %s is listed twice", l.Name, p)
		}
		seen[p] = true
	}
	// The kernel adds the subnet route of every address with a prefix
	// shorter than /32 ("proto kernel scope link"); the same route in Routes
	// would then fail with "file exists".
	connected := make(map[netip.Prefix]netip.Prefix, len(l.Addresses))
	for _, p := range l.Addresses {
		if p.Bits() < 32 {
			connected[p.Masked()] = p
		}
	}
	seen = make(map[netip.Prefix]bool, len(l.Routes))
	for _, r := range l.Routes {
		p := r.To
		if r.Via.IsValid() && !r.Via.Is4() {
			return fmt.Errorf("%s: route %s: via %s is not IPv4", l.Name, p, r.Via)
		}
		if err := checkIPv4Prefix(p); err != nil {
			return fmt.Errorf("%s: route %s: %w", l.Name, p, err)
		}
		if p != p.Masked() {
			return fmt.Errorf("%s: route %s has bits set after the prefix length; the kernel accepts only the network address, %s", l.Name, p, p.Masked())
		}
		if seen[p] {
			return fmt.Errorf("%s: route %s is listed twice", l.Name, p)
		}
		seen[p] = true
		if addr, ok := connected[p]; ok {
			return fmt.Errorf("%s: route %s is already the subnet route of address %s, which the kernel adds by itself; leave it out of the routes", l.Name, p, addr)
		}
	}
	return nil
}

func checkIPv4Prefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("not a valid prefix; want an IPv4 address with a prefix length, such as 192.168.41.0/24")
	case !p.Addr().Is4():
		return fmt.Errorf("not IPv4; an IPIP tunnel carries IPv4 only, write it as a.b.c.d/len")
	}
	return nil
}
