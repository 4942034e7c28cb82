// Package nldump reads rtnetlink dumps that the kernel filters (one
// device's routes or addresses out of 100 000 routes and 10 000 devices),
// and decodes link, address and route messages, from a dump or a
// notification, as the netlink library does (decode.go).
//
// A socket with NETLINK_GET_STRICT_CHK makes the kernel check a dump
// request strictly and apply its filters (ip_valid_fib_dump_req,
// inet_valid_dump_ifaddr_req: a route dump by table, protocol and output
// device; an address dump by device). Without it the kernel sends
// everything, as it does before Linux 4.20, so callers check every answer
// themselves as well. vishvananda/netlink's dumps either ask for
// everything and filter in the process, or, for addresses, send a request
// the kernel refuses on a strict socket.
package nldump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrInterrupted: the kernel's table changed during the dump, so the
// answers may miss some; the caller reads again.
var ErrInterrupted = errors.New("netlink dump interrupted by a change; read again")

// Open opens a netlink route socket in the calling thread's network
// namespace, with strict checking where the kernel has it.
func Open() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	// Refused before 4.20: the kernel then sends everything.
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	return fd, nil
}

// Dump sends req, a dump request made by Request, on fd and calls each for
// every answer until the dump ends. One dump at a time per socket.
func Dump(fd int, req []byte, each func(m *syscall.NetlinkMessage)) error {
	seq := binary.NativeEndian.Uint32(req[8:12])
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink dump request: %w", err)
	}
	rb := make([]byte, 64<<10)
	// An interrupted dump is read to its end all the same: left
	// unfinished, the kernel would answer the socket's next request with
	// the rest of it (or EBUSY).
	interrupted := false
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
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Seq != seq {
				continue // a late answer to an earlier, abandoned dump
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true // the flag may come on NLMSG_DONE alone
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE, unix.NLMSG_ERROR:
				// Both carry an errno: DONE's says the dump failed part-way.
				if len(m.Data) >= 4 {
					if errno := syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data))); errno != 0 {
						return fmt.Errorf("netlink dump: %w", errno)
					}
				}
				if interrupted {
					return ErrInterrupted
				}
				return nil
			}
			if !interrupted {
				each(m)
			}
		}
	}
}

// Whole calls read, which makes one dump, again while the kernel reports
// the dump interrupted by a change, up to 10 times more, and returns the
// last call's error.
func Whole(read func() error) error {
	for attempt := 0; ; attempt++ {
		err := read()
		if !errors.Is(err, ErrInterrupted) || attempt >= 10 {
			return err
		}
	}
}

// seq numbers requests, so that an answer left from an abandoned dump is
// told apart; a process-wide counter is enough.
var seq atomic.Uint32

// Request is a dump request of type typ (RTM_GETROUTE, RTM_GETADDR) with
// body, the family header and its filter attributes.
func Request(typ uint16, body []byte) []byte {
	req := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(req[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(req[4:6], typ)
	binary.NativeEndian.PutUint16(req[6:8], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:12], seq.Add(1))
	return append(req, body...)
}

// AppendU32 appends one u32 attribute.
func AppendU32(b []byte, typ uint16, v uint32) []byte {
	var a [8]byte
	binary.NativeEndian.PutUint16(a[0:2], 8)
	binary.NativeEndian.PutUint16(a[2:4], typ)
	binary.NativeEndian.PutUint32(a[4:8], v)
	return append(b, a[:]...)
}

// RoutesThrough is the body of a route dump request for IPv4 routes
// through device index (any of a multipath route's next hops), in table
// (0: every table), of protocol (0: any).
func RoutesThrough(index, table int, protocol uint8) []byte {
	// rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = unix.AF_INET
	if table < 256 {
		body[4] = byte(table)
	}
	body[5] = protocol
	if table != 0 {
		body = AppendU32(body, unix.RTA_TABLE, uint32(table))
	}
	return AppendU32(body, unix.RTA_OIF, uint32(index))
}

// AddressesOf is the body of an address dump request for device index's
// IPv4 addresses.
func AddressesOf(index int) []byte {
	// ifaddrmsg: family, prefixlen, flags, scope, index.
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0] = unix.AF_INET
	binary.NativeEndian.PutUint32(body[4:8], uint32(index))
	return body
}

// Attributes calls each for every attribute of b, its type without the
// nested and byte-order flags, and stops at the first whose length does
// not fit.
func Attributes(b []byte, each func(typ uint16, value []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		typ, value, rest, err := splitAttribute(b)
		if err != nil {
			return
		}
		each(typ, value)
		b = rest
	}
}
