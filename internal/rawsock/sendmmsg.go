package rawsock

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/mmsg"
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

// sendmmsg sends the packed messages on the blocking socket; EAGAIN, which
// mmsg.Send reports as not ready, is the send timeout (SO_SNDTIMEO).
func (s *Sender) sendmmsg() {
	n, errno, ready := mmsg.Send(uintptr(s.fd), s.hdrs[:s.count])
	if !ready {
		errno = unix.EAGAIN
	}
	s.n, s.errno = n, errno
}
