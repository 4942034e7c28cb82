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
// Its answers are for the one loop that reads the device: Readable and
// WaitReadable share the state of their last poll.
type readiness struct {
	conn syscall.RawConn
	name string
	poll *pollState
}

// pollState is what a poll of the descriptor found, with the callbacks
// RawConn runs bound to it once, so that asking allocates nothing (a
// closure per call escaped to the heap: two allocations a wake).
type pollState struct {
	ready bool // Readable's answer
	gone  bool // WaitReadable's: the device was deleted
	check func(fd uintptr)
	wait  func(fd uintptr) bool
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
	p := &pollState{}
	p.check = func(fd uintptr) { p.ready, _ = poll(fd) }
	p.wait = func(fd uintptr) bool {
		ready, gone := poll(fd)
		p.gone = gone
		return ready
	}
	return readiness{conn: rc, name: name, poll: p}, nil
}

// poll asks the kernel, without waiting, whether fd has something to read
// (or an error to report, which the next Read returns), and whether it
// answers with an error alone: a TUN whose device was deleted
// (tun_chr_poll).
func poll(fd uintptr) (ready, gone bool) {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds[:], 0)
	if err != nil {
		return true, false
	}
	ev := fds[0].Revents
	return n > 0 && ev != 0, n > 0 && ev&unix.POLLERR != 0 && ev&unix.POLLIN == 0
}

func (r readiness) Readable() bool {
	r.poll.ready = true // a closed descriptor: let Read say so
	r.conn.Control(r.poll.check)
	return r.poll.ready
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
	r.poll.gone = false
	if err := r.conn.Read(r.poll.wait); err != nil {
		return fmt.Errorf("wait for %s: %w", r.name, os.ErrClosed)
	}
	if r.poll.gone {
		return fmt.Errorf("wait for %s: the device was deleted: %w", r.name, os.ErrClosed)
	}
	return nil
}
