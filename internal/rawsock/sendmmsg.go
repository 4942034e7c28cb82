package rawsock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// pack points the first messages at pkts and their headers' destinations,
// stopping at the batch size or before a packet too short for a header.
func (s *Sender) pack(pkts [][]byte) int {
	n := min(len(pkts), len(s.hdrs))
	for i, pkt := range pkts[:n] {
		if len(pkt) < ipv4HeaderLen {
			return i
		}
		s.addrs[i].Addr = [4]byte(pkt[16:20])
		s.iovs[i].Base = unsafe.SliceData(pkt)
		s.iovs[i].SetLen(len(pkt))
	}
	return n
}

// sendmmsg is called by RawConn.Write with the socket's descriptor. It
// returns false to wait for room in the send buffer.
func (s *Sender) sendmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(s.hdrs))), uintptr(s.count), 0, 0, 0)
		switch errno {
		case 0:
			s.n, s.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.n, s.errno = 0, errno
			return true
		}
	}
}
