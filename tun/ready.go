package tun

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Waiter is what a Device can offer a loop that lends out its buffers while
// the device is idle: whether a Read would return at once, and a wait for
// that moment that holds no buffer. A daemon of many tunnels, most of them
// idle, then needs batch buffers per busy loop, not per device. Both
// backends implement it.
type Waiter interface {
	// Readable reports whether a packet is waiting (or the device has
	// failed), so that a Read returns without blocking.
	Readable() bool
	// WaitReadable blocks, parked in the Go runtime's poller like a Read,
	// until Readable would be true. After Close it returns an error for
	// which IsClosed is true.
	WaitReadable() error
}

var (
	_ Waiter = (*offloadDevice)(nil)
	_ Waiter = (*waterDevice)(nil)
)

// readiness answers Waiter for a descriptor under the Go runtime's poller.
type readiness struct {
	conn syscall.RawConn
	name string
}

func newReadiness(f any, name string) (readiness, error) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return readiness{}, fmt.Errorf("TUN device %s: its descriptor is a %T, which has no SyscallConn", name, f)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return readiness{}, fmt.Errorf("TUN device %s: %w", name, err)
	}
	return readiness{conn: rc, name: name}, nil
}

// pollIn asks the kernel, without waiting, whether fd has something to
// read (or an error to report, which the next Read returns).
func pollIn(fd uintptr) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds[:], 0)
	return err != nil || (n > 0 && fds[0].Revents != 0)
}

func (r readiness) Readable() bool {
	ready := true // a closed descriptor: let Read say so
	r.conn.Control(func(fd uintptr) { ready = pollIn(fd) })
	return ready
}

// WaitReadable asks first, then waits: the poller is edge-triggered, so a
// packet that arrived before the wait began must be seen by the question,
// and one that arrives after it wakes the wait.
//
// A deleted device wakes the wait too (the TUN answers a poll with POLLERR
// alone once its device is gone): that is reported as closed, so that a
// loop does not take buffers to read an error. When ipipd deletes 10 000
// devices at once, each loop otherwise drew a batch set from the pool on
// its way out, and the pool kept the 34 MiB it made for them.
func (r readiness) WaitReadable() error {
	if err := r.conn.Read(pollIn); err != nil {
		return fmt.Errorf("wait for %s: %w", r.name, os.ErrClosed)
	}
	gone := false
	r.conn.Control(func(fd uintptr) { gone = pollErrOnly(fd) })
	if gone {
		return fmt.Errorf("wait for %s: the device was deleted: %w", r.name, os.ErrClosed)
	}
	return nil
}

// pollErrOnly reports whether fd answers a poll with an error and nothing
// to read: a TUN descriptor whose device was deleted (tun_chr_poll).
func pollErrOnly(fd uintptr) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds[:], 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0 && fds[0].Revents&unix.POLLIN == 0
}
