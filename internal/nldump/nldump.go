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
	"syscall"

	"github.com/vishvananda/netlink/nl"
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

// Dump sends req, a dump request made by RoutesThrough, AddressesOf or
// Links, on fd and calls each for
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

// The requests are built with the library's encoders, as netsetup's
// route requests are; its sequence numbers, one process-wide counter, tell
// an answer left from an abandoned dump apart.

// RoutesThrough is a dump request for the IPv4 routes through device index
// (any of a multipath route's next hops), in table (0: every table), of
// protocol (0: any).
func RoutesThrough(index, table int, protocol uint8) []byte {
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
	msg := &nl.RtMsg{RtMsg: unix.RtMsg{Family: unix.AF_INET, Protocol: protocol}}
	if table < 256 {
		msg.Table = uint8(table)
	}
	req.AddData(msg)
	if table != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(table))))
	}
	req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(index))))
	return req.Serialize()
}

// AddressesOf is a dump request for device index's IPv4 addresses.
func AddressesOf(index int) []byte {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	msg := nl.NewIfAddrmsg(unix.AF_INET)
	msg.Index = uint32(index)
	req.AddData(msg)
	return req.Serialize()
}

// Links is a dump request for every device's link: a strict link dump
// takes no filter by index.
func Links() []byte {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	return req.Serialize()
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
