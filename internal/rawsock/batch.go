package rawsock

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/mmsg"
)

// MaxPacketSize is the largest IPv4 datagram (the 16-bit total length). The
// kernel reassembles outer fragments before raw delivery, so a receive
// buffer of this size never truncates.
const MaxPacketSize = 65535

// DefaultBatchSize is a batch size that amortises the syscall well without
// making a Batch of MaxPacketSize buffers (64 × 64 KiB = 4 MiB) too large.
const DefaultBatchSize = 64

// oobSize is the control-message space per packet: room for IP_PKTINFO
// (CMSG_SPACE(12) = 32 bytes on 64-bit), doubled so a cmsg the kernel might
// add later does not truncate it.
const oobSize = 64

// Batch holds the buffers of one batched read. A worker allocates it once
// with NewBatch and reuses it for every Read; the Receiver never keeps a
// reference to it between calls. A Batch must not be used by two Reads at
// the same time.
//
// After Read returns n, packet i (i < n) is Bufs[i][:Sizes[i]], outer IPv4
// header first, and it arrived on the interface with index Links[i].
// Truncated[i] is true if the packet was longer than len(Bufs[i]) and was
// cut to fit (never with buffers of MaxPacketSize). Entries at n and above
// are stale.
type Batch struct {
	Bufs      [][]byte
	Sizes     []int
	Links     []int
	Truncated []bool

	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	oob  []byte

	// recv is b.recvmmsg bound once, so Read passes RawConn.Read a func
	// value without allocating a closure per call.
	recv  func(fd uintptr) bool
	vlen  int // messages asked for by this call
	n     int
	errno syscall.Errno
}

// NewBatch allocates a batch of n ≥ 1 buffers of bufSize bytes each. Use
// MaxPacketSize unless memory matters more than never truncating.
// The caller may replace Bufs[i] with another buffer between Reads, but not
// change len(Bufs); Read fills each buffer up to its len.
func NewBatch(n, bufSize int) *Batch {
	if n < 1 {
		panic("rawsock: NewBatch needs at least one buffer")
	}
	b := &Batch{
		Bufs:      make([][]byte, n),
		Sizes:     make([]int, n),
		Links:     make([]int, n),
		Truncated: make([]bool, n),
		hdrs:      make([]unix.Mmsghdr, n),
		iovs:      make([]unix.Iovec, n),
		oob:       make([]byte, n*oobSize),
	}
	for i := range b.Bufs {
		b.Bufs[i] = make([]byte, bufSize)
	}
	b.recv = b.recvmmsg
	return b
}

// prepare points the first vlen message headers at the current buffers and
// resets the lengths the kernel overwrites.
func (b *Batch) prepare(vlen int) {
	b.vlen = vlen
	for i := range vlen {
		buf := b.Bufs[i]
		iov := &b.iovs[i]
		iov.Base = unsafe.SliceData(buf)
		iov.SetLen(len(buf))
		h := &b.hdrs[i].Hdr
		h.Iov = iov
		h.SetIovlen(1)
		h.Control = &b.oob[i*oobSize]
		h.SetControllen(oobSize)
		h.Flags = 0
		b.hdrs[i].Len = 0
	}
}

// recvmmsg is called by RawConn.Read with the socket's descriptor. It
// returns false to wait for readability when nothing is queued.
func (b *Batch) recvmmsg(fd uintptr) bool {
	n, errno, ready := mmsg.Receive(fd, b.hdrs[:b.vlen])
	b.n, b.errno = n, errno
	return ready
}

// finish copies what the kernel reported for the first n messages into the
// exported fields.
func (b *Batch) finish(n int) {
	for i := range n {
		h := &b.hdrs[i]
		b.Sizes[i] = int(h.Len)
		b.Truncated[i] = h.Hdr.Flags&unix.MSG_TRUNC != 0
		b.Links[i] = ingressIfindex(b.oob[i*oobSize : i*oobSize+int(h.Hdr.Controllen)])
	}
}

// ReadFrom fills b from any raw IPv4 socket with IP_PKTINFO set, at most
// limit packets (and at most len(b.Bufs)), waiting for the first: the
// batched read both the protocol-4 Receiver and the ICMP error reader use.
// It returns n > 0 with a nil error, or 0 with the socket's error.
func (b *Batch) ReadFrom(raw syscall.RawConn, limit int) (int, error) {
	b.prepare(max(1, min(limit, len(b.hdrs))))
	if err := raw.Read(b.recv); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", b.errno)
	}
	b.finish(b.n)
	return b.n, nil
}
