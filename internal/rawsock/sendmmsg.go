package rawsock

import (
	"unsafe"

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

// sendmmsg is called by RawConn.Write with the socket's descriptor. It
// returns false to wait for room in the send buffer.
func (s *Sender) sendmmsg(fd uintptr) bool {
	n, errno, ready := mmsg.Send(fd, s.hdrs[:s.count])
	s.n, s.errno = n, errno
	return ready
}
