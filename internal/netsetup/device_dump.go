package netsetup

import (
	"net/netip"
	"syscall"

	"github.com/ipipd/ipipd/internal/nldump"
	"golang.org/x/sys/unix"
)

// One device's routes and addresses, read with the kernel doing the
// filtering and decoded as the library decodes them (package nldump). A
// reload checks what the kernel still holds of each tunnel it changes;
// the library's dumps ask for every address and every route (the
// kernel sends them all without NETLINK_GET_STRICT_CHK, and its address
// dump request is one the kernel refuses with it), and at 10 000 tunnels
// with 100 000 routes the two took 60-90 ms per tunnel.

// heldRoutes is every route of ipipd's the kernel holds through device
// index in table, as ipipd installs them (no metric, no TOS), by prefix and
// gateway.
func heldRoutes(index, table int) (map[Route]bool, error) {
	fd, err := nldump.Open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	held := map[Route]bool{}
	err = nldump.Whole(func() error {
		clear(held)
		return nldump.Dump(fd, nldump.RoutesThrough(index, table, RouteProtocol), func(m *syscall.NetlinkMessage) {
			if m.Header.Type != unix.RTM_NEWROUTE {
				return
			}
			u, err := nldump.DecodeRoute(m)
			r := &u.Route
			if err != nil || r.Family != unix.AF_INET || r.Tos != 0 || r.Protocol != RouteProtocol ||
				r.Table != table || r.LinkIndex != index || r.Priority != 0 {
				return
			}
			if to, ok := prefixOf(r.Dst); ok { // DecodeRoute gives a default route its 0.0.0.0/0
				gw, _ := netip.AddrFromSlice(r.Gw)
				held[Route{To: to, Via: gw.Unmap()}] = true
			}
		})
	})
	return held, err
}

// heldAddresses is the IPv4 addresses of device index, as the library
// reads them: the own address with its prefix length, or alone (/32) when
// it has a peer.
func heldAddresses(index int) (map[netip.Prefix]bool, error) {
	fd, err := nldump.Open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	held := map[netip.Prefix]bool{}
	err = nldump.Whole(func() error {
		clear(held)
		return nldump.Dump(fd, nldump.AddressesOf(index), func(m *syscall.NetlinkMessage) {
			if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg || m.Data[0] != unix.AF_INET {
				return
			}
			if u, err := nldump.DecodeAddress(m); err == nil && u.LinkIndex == index {
				if p, ok := prefixOf(&u.LinkAddress); ok {
					held[p] = true
				}
			}
		})
	})
	return held, err
}
