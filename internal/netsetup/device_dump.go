package netsetup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// One device's routes and addresses, read with the kernel doing the
// filtering. A reload checks what the kernel still holds of each tunnel it
// changes; the library's dumps ask for every address and every route (the
// kernel sends them all without NETLINK_GET_STRICT_CHK, and its address
// dump request is one the kernel refuses with it), and at 10 000 tunnels
// with 100 000 routes the two took 60-90 ms per tunnel.

// strictDump sends one dump request on a socket of its own with
// NETLINK_GET_STRICT_CHK, so that the kernel applies the request's filters,
// and calls each for every answer until the dump ends. Where the kernel
// has no strict checking (before 4.20) it sends everything: callers check
// each answer themselves as well.
func strictDump(req []byte, each func(m syscall.NetlinkMessage)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	seq := binary.NativeEndian.Uint32(req[8:12])
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink dump request: %w", err)
	}
	rb := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, rb, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("netlink dump: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rb[:n])
		if err != nil {
			return fmt.Errorf("netlink dump: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data))); errno != 0 {
						return fmt.Errorf("netlink dump: %w", errno)
					}
				}
				return nil
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				return errDumpInterrupted
			}
			each(m)
		}
	}
}

// errDumpInterrupted: the kernel's table changed during the dump, so the
// answers may miss some; the caller reads again.
var errDumpInterrupted = errors.New("netlink dump interrupted by a change; read again")

// dumpSeq numbers the dump requests; any value works on a socket of its own.
const dumpSeq = 1

// dumpRequest is a netlink dump request of type typ with body.
func dumpRequest(typ uint16, body []byte) []byte {
	req := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(req[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], dumpSeq)
	return append(req, body...)
}

// attributeU32 appends one u32 netlink attribute.
func attributeU32(b []byte, typ uint16, v uint32) []byte {
	var a [8]byte
	binary.NativeEndian.PutUint16(a[0:2], 8)
	binary.NativeEndian.PutUint16(a[2:4], typ)
	binary.NativeEndian.PutUint32(a[4:8], v)
	return append(b, a[:]...)
}

// attributes calls each for every attribute of b.
func attributes(b []byte, each func(typ uint16, value []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return
		}
		each(binary.NativeEndian.Uint16(b[2:4])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:l])
		b = b[min(len(b), (l+3)&^3):]
	}
}

// heldRoutes is every route of ipipd's the kernel holds through device
// index in table, as ipipd installs them (no metric, no TOS), by prefix and
// gateway.
func heldRoutes(index, table int) (map[Route]bool, error) {
	// rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type,
	// flags. The kernel filters a strict dump by table, protocol and
	// output device (ip_valid_fib_dump_req).
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = unix.AF_INET
	if table < 256 {
		body[4] = byte(table)
	}
	body[5] = RouteProtocol
	body = attributeU32(body, unix.RTA_TABLE, uint32(table))
	body = attributeU32(body, unix.RTA_OIF, uint32(index))
	for attempt := 0; ; attempt++ {
		held := map[Route]bool{}
		err := strictDump(dumpRequest(unix.RTM_GETROUTE, body), func(m syscall.NetlinkMessage) {
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				return
			}
			d := m.Data
			if d[0] != unix.AF_INET || d[3] != 0 || d[5] != RouteProtocol {
				return
			}
			rtTable, oif, metric := int(d[4]), 0, 0
			var dst, gw netip.Addr
			attributes(d[unix.SizeofRtMsg:], func(typ uint16, v []byte) {
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
		if errors.Is(err, errDumpInterrupted) && attempt < 10 {
			continue
		}
		return held, err
	}
}

// heldAddresses is the IPv4 addresses of device index, as `ip addr add`
// gave them (the local address with its prefix length).
func heldAddresses(index int) (map[netip.Prefix]bool, error) {
	// ifaddrmsg: family, prefixlen, flags, scope, index; the kernel
	// filters a strict dump by index (inet_valid_dump_ifaddr_req).
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(body[4:8], uint32(index))
	for attempt := 0; ; attempt++ {
		held := map[netip.Prefix]bool{}
		err := strictDump(dumpRequest(unix.RTM_GETADDR, body), func(m syscall.NetlinkMessage) {
			d := m.Data
			if m.Header.Type != unix.RTM_NEWADDR || len(d) < unix.SizeofIfAddrmsg || d[0] != unix.AF_INET ||
				int(binary.NativeEndian.Uint32(d[4:8])) != index {
				return
			}
			var local, address netip.Addr
			attributes(d[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
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
		if errors.Is(err, errDumpInterrupted) && attempt < 10 {
			continue
		}
		return held, err
	}
}
