package icmperr

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// batchSize is the most datagrams one recvmmsg takes. ICMP errors that
	// pass the filter are rare next to data packets, so a small batch
	// suffices to drain a burst (one per oversize packet) in a few calls.
	batchSize = 16
	// bufSize holds any ICMP error a conforming router sends: icmp_send
	// and RFC 1812 4.3.2.3 cap the datagram at 576 bytes. A longer one is
	// truncated, fails Parse's total-length and checksum checks, and is
	// counted in Stats.Truncated.
	bufSize = 2048
	// oobSize is room for IP_PKTINFO (CMSG_SPACE(12) = 32 bytes on 64-bit),
	// doubled as in internal/rawsock.
	oobSize = 64
)

// batch is the reusable state of one recvmmsg call, allocated once by
// NewReader: rawsock.Batch's approach, sized for ICMP errors.
type batch struct {
	bufs [batchSize][bufSize]byte
	oob  [batchSize][oobSize]byte
	hdrs [batchSize]unix.Mmsghdr
	iovs [batchSize]unix.Iovec

	// recv is b.recvmmsg bound once, so RawConn.Read gets a func value
	// without a closure allocated per call.
	recv  func(fd uintptr) bool
	vlen  int // messages asked for by this call
	n     int // messages the kernel filled
	errno syscall.Errno
}

func newBatch() *batch {
	b := &batch{}
	b.recv = b.recvmmsg
	return b
}

// prepare points the first vlen message headers at their buffers and resets
// the lengths the kernel overwrites.
func (b *batch) prepare(vlen int) {
	b.vlen = vlen
	for i := range vlen {
		iov := &b.iovs[i]
		iov.Base = &b.bufs[i][0]
		iov.SetLen(bufSize)
		h := &b.hdrs[i].Hdr
		h.Iov = iov
		h.SetIovlen(1)
		h.Control = &b.oob[i][0]
		h.SetControllen(oobSize)
		h.Flags = 0
		b.hdrs[i].Len = 0
	}
}

// recvmmsg runs inside RawConn.Read with the socket's descriptor; false
// means "nothing queued, wait for readability".
func (b *batch) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.vlen), 0, 0, 0)
		switch errno {
		case 0:
			b.n, b.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			b.n, b.errno = 0, errno
			return true
		}
	}
}

// packet returns datagram i (i < b.n), its ingress ifindex and whether the
// kernel cut it to fit the buffer.
func (b *batch) packet(i int) (pkt []byte, link int, truncated bool) {
	h := &b.hdrs[i]
	size := min(int(h.Len), bufSize)
	oob := b.oob[i][:min(int(h.Hdr.Controllen), oobSize)]
	return b.bufs[i][:size], ingressIfindex(oob), h.Hdr.Flags&unix.MSG_TRUNC != 0
}
