package netsetup

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"

	"github.com/ipipd/ipipd/internal/nldump"
	"golang.org/x/sys/unix"
)

// One device's routes and addresses, read with the kernel doing the
// filtering (package nldump). A reload checks what the kernel still holds of each tunnel it
// changes; the library's dumps ask for every address and every route (the
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
	for attempt := 0; ; attempt++ {
		held := map[Route]bool{}
		err := nldump.Dump(fd, nldump.Request(unix.RTM_GETROUTE, nldump.RoutesThrough(index, table, RouteProtocol)), func(m *syscall.NetlinkMessage) {
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				return
			}
			d := m.Data
			if d[0] != unix.AF_INET || d[3] != 0 || d[5] != RouteProtocol {
				return
			}
			rtTable, oif, metric := int(d[4]), 0, 0
			var dst, gw netip.Addr
			nldump.Attributes(d[unix.SizeofRtMsg:], func(typ uint16, v []byte) {
				switch {
				case typ == unix.RTA_TABLE && len(v) == 4:
					rtTable = int(binary.NativeEndian.Uint32(v))
				case typ == unix.RTA_OIF && len(v) == 4:
					oif = int(binary.NativeEndian.Uint32(v))
				case typ == unix.RTA_PRIORITY && len(v) == 4:
					metric = int(binary.NativeEndian.Uint32(v))
				case typ == unix.RTA_DST && len(v) == 4:
					dst = netip.AddrFrom4([4]byte(v))
				case typ == unix.RTA_GATEWAY && len(v) == 4:
					gw = netip.AddrFrom4([4]byte(v))
				}
			})
			if rtTable != table || oif != index || metric != 0 {
				return
			}
			if !dst.IsValid() {
				dst = netip.IPv4Unspecified() // a default route has no RTA_DST
			}
			held[Route{To: netip.PrefixFrom(dst, int(d[1])), Via: gw}] = true
		})
		if errors.Is(err, nldump.ErrInterrupted) && attempt < 10 {
			continue
		}
		return held, err
	}
}

// heldAddresses is the IPv4 addresses of device index, as `ip addr add`
// gave them (the local address with its prefix length).
func heldAddresses(index int) (map[netip.Prefix]bool, error) {
	fd, err := nldump.Open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	for attempt := 0; ; attempt++ {
		held := map[netip.Prefix]bool{}
		err := nldump.Dump(fd, nldump.Request(unix.RTM_GETADDR, nldump.AddressesOf(index)), func(m *syscall.NetlinkMessage) {
			d := m.Data
			if m.Header.Type != unix.RTM_NEWADDR || len(d) < unix.SizeofIfAddrmsg || d[0] != unix.AF_INET ||
				int(binary.NativeEndian.Uint32(d[4:8])) != index {
				return
			}
			var local, address netip.Addr
			nldump.Attributes(d[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
				switch {
				case typ == unix.IFA_LOCAL && len(v) == 4:
					local = netip.AddrFrom4([4]byte(v))
				case typ == unix.IFA_ADDRESS && len(v) == 4:
					address = netip.AddrFrom4([4]byte(v))
				}
			})
			// IFA_LOCAL is the address itself; IFA_ADDRESS, the peer's on
			// a point-to-point device. The library reads them so too.
			if local.IsValid() {
				address = local
			}
			if address.IsValid() {
				held[netip.PrefixFrom(address, int(d[1]))] = true
			}
		})
		if errors.Is(err, nldump.ErrInterrupted) && attempt < 10 {
			continue
		}
		return held, err
	}
}
