// Package mmsg makes the sendmmsg(2) and recvmmsg(2) system calls for the
// batched sockets (internal/rawsock, internal/packetsock). Those that wait
// through the Go runtime's poller call these from inside a syscall.RawConn
// Read or Write callback, which returns false to wait for the socket when
// ready is false; a blocking socket (rawsock's Sender) gets ready false
// only when its send timeout expired.
package mmsg

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Send sends the messages of hdrs on fd with one sendmmsg(2), retrying an
// interrupted call. It returns how many went out, or the error of the
// first message (sendmmsg fails only when its first message does); ready
// is false when the socket would block, and nothing was sent.
func Send(fd uintptr, hdrs []unix.Mmsghdr) (n int, errno syscall.Errno, ready bool) {
	return call(unix.SYS_SENDMMSG, fd, hdrs)
}

// Receive fills the messages of hdrs from fd with one recvmmsg(2): as many
// as are queued on the non-blocking socket, up to len(hdrs), retrying an
// interrupted call. ready is false when nothing is queued.
func Receive(fd uintptr, hdrs []unix.Mmsghdr) (n int, errno syscall.Errno, ready bool) {
	return call(unix.SYS_RECVMMSG, fd, hdrs)
}

func call(trap, fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno, bool) {
	for {
		n, _, errno := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(hdrs))), uintptr(len(hdrs)), 0, 0, 0)
		switch errno {
		case 0:
			return int(n), 0, true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0, false
		default:
			return 0, errno, true
		}
	}
}
