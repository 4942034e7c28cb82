package rawsock

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultSocketBuffer is the receive and send buffer size used when the
// options leave it 0: 4 MiB.
//
// Why: the usual default (net.core.rmem_default, 208 KiB) holds about 90
// full-size packets, since each queued skb is charged its truesize (about
// 2.3 KiB for a 1500-byte packet). A reader that is descheduled or paused by
// the GC for 100 µs at 1 Mpps would drop packets. 4 MiB (which the kernel
// doubles to 8 MiB of accounting space, see socket(7)) rides out pauses of a
// couple of milliseconds, and equals a common net.core.rmem_max, so even the
// SO_RCVBUF fallback without CAP_NET_ADMIN often gets all of it.
const DefaultSocketBuffer = 4 << 20

// setBuffer sets a socket buffer (SO_RCVBUF or SO_SNDBUF) to size bytes. It
// first tries the FORCE variant, which ignores net.core.rmem_max/wmem_max
// but needs CAP_NET_ADMIN, then falls back to the plain option, which the
// kernel silently caps at that sysctl. It returns the size the kernel
// reports back (twice the granted request).
func setBuffer(fd int, force, plain, size int) (int, error) {
	err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size)
	if errors.Is(err, unix.EPERM) {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
	if err != nil {
		return 0, fmt.Errorf("setting socket buffer to %d bytes: %w", size, err)
	}
	return unix.GetsockoptInt(fd, unix.SOL_SOCKET, plain)
}

// bindToDevice restricts the socket to one interface (SO_BINDTODEVICE):
// a receiver then only sees packets that arrived on it, a sender routes out
// of it only. An empty name leaves the socket unbound.
func bindToDevice(fd int, dev string) error {
	if dev == "" {
		return nil
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
		return fmt.Errorf("binding to device %q: %w", dev, err)
	}
	return nil
}

// control runs fn with the socket's descriptor, for syscall.RawConn.Control
// and net.ListenConfig.Control, joining both possible errors.
func control(c syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
