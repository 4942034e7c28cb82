package main

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An AF_XDP socket written against the kernel's ABI
// (include/uapi/linux/if_xdp.h, Documentation/networking/af_xdp.rst):
// a UMEM of fixed frames registered with XDP_UMEM_REG, four
// single-producer/single-consumer rings mapped from the socket (fill and
// completion for the UMEM, rx and tx for the socket), and bind to one
// queue of one device.

const frameSize = 4096

// ring is one mapped ring: the producer and consumer indices, the flags
// word (XDP_RING_NEED_WAKEUP) and the descriptors. local is this side's
// own index (the producer's for fill and tx, the consumer's for rx and
// completion), kept in userspace and published with a store.
type ring struct {
	mem   []byte
	prod  *uint32
	cons  *uint32
	flags *uint32
	descs unsafe.Pointer
	mask  uint32
	size  uint32
	local uint32
}

func mapRing(fd int, off unix.XDPRingOffset, n uint32, pgoff int64, descSize uint64) (*ring, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc+uint64(n)*descSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap ring at %#x: %w", pgoff, err)
	}
	r := &ring{mem: mem, mask: n - 1, size: n,
		prod:  (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		cons:  (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags: (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		descs: unsafe.Pointer(&mem[off.Desc])}
	return r, nil
}

func (r *ring) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

func (r *ring) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// Socket is one AF_XDP socket with its own UMEM.
type Socket struct {
	FD                 int
	umem               []byte
	fill, comp, rx, tx *ring
	free               []uint64 // frames owned by userspace (tx side)
}

// SocketOptions configure OpenSocket.
type SocketOptions struct {
	Ifindex    int
	Queue      uint32
	Frames     uint32 // UMEM frames of frameSize bytes
	RxSize     uint32 // 0: no rx ring
	TxSize     uint32 // 0: no tx ring
	FillSize   uint32
	CompSize   uint32
	BindFlags  uint16 // unix.XDP_COPY, unix.XDP_ZEROCOPY, | unix.XDP_USE_NEED_WAKEUP
	FillFrames uint32 // how many frames go on the fill ring at once (rx)
	TxBudget   int    // >0: XDP_MAX_TX_SKB_BUDGET (frames per sendto in copy mode)
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

// OpenSocket creates the socket, registers the UMEM, maps the rings and
// binds; the error says which step failed and its errno.
func OpenSocket(o SocketOptions) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_XDP): %w", err)
	}
	s := &Socket{FD: fd}
	fail := func(step string, err error) (*Socket, error) {
		s.Close()
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	s.umem, err = unix.Mmap(-1, 0, int(o.Frames)*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fail("mmap UMEM", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))), Len: uint64(len(s.umem)), Size: frameSize}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fail("XDP_UMEM_REG", err)
	}
	for _, r := range []struct {
		opt  int
		size uint32
	}{{unix.XDP_UMEM_FILL_RING, o.FillSize}, {unix.XDP_UMEM_COMPLETION_RING, o.CompSize}, {unix.XDP_RX_RING, o.RxSize}, {unix.XDP_TX_RING, o.TxSize}} {
		if r.size == 0 {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, r.opt, int(r.size)); err != nil {
			return fail(fmt.Sprintf("ring option %d", r.opt), err)
		}
	}
	var off unix.XDPMmapOffsets
	n := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		return fail("XDP_MMAP_OFFSETS", e)
	}
	if s.fill, err = mapRing(fd, off.Fr, o.FillSize, unix.XDP_UMEM_PGOFF_FILL_RING, 8); err != nil {
		return fail("fill ring", err)
	}
	if s.comp, err = mapRing(fd, off.Cr, o.CompSize, unix.XDP_UMEM_PGOFF_COMPLETION_RING, 8); err != nil {
		return fail("completion ring", err)
	}
	if o.RxSize > 0 {
		if s.rx, err = mapRing(fd, off.Rx, o.RxSize, unix.XDP_PGOFF_RX_RING, 16); err != nil {
			return fail("rx ring", err)
		}
	}
	if o.TxSize > 0 {
		if s.tx, err = mapRing(fd, off.Tx, o.TxSize, unix.XDP_PGOFF_TX_RING, 16); err != nil {
			return fail("tx ring", err)
		}
	}
	if o.TxBudget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, o.TxBudget); err != nil {
			return fail("XDP_MAX_TX_SKB_BUDGET", err)
		}
	}
	// Frames 0..FillFrames-1 go to the kernel for receiving; the rest
	// stay with userspace for transmitting.
	for i := uint32(0); i < o.Frames; i++ {
		if i < o.FillFrames {
			*s.fill.addr(s.fill.local) = uint64(i) * frameSize
			s.fill.local++
		} else {
			s.free = append(s.free, uint64(i)*frameSize)
		}
	}
	atomic.StoreUint32(s.fill.prod, s.fill.local)
	if err := unix.Bind(fd, &unix.SockaddrXDP{Flags: o.BindFlags, Ifindex: uint32(o.Ifindex), QueueID: o.Queue}); err != nil {
		return fail("bind", err)
	}
	return s, nil
}

// Receive takes every descriptor the kernel has produced on the rx ring,
// calls fn for each (the frame, valid until Receive returns), and gives
// the frames back on the fill ring. It returns how many it took.
func (s *Socket) Receive(fn func([]byte)) int {
	prod := atomic.LoadUint32(s.rx.prod)
	n := prod - s.rx.local
	if n == 0 {
		return 0
	}
	// The fill ring has room: every frame we hold came off it.
	for i := uint32(0); i < n; i++ {
		d := s.rx.desc(s.rx.local + i)
		if fn != nil {
			fn(s.umem[d.Addr : d.Addr+uint64(d.Len)])
		}
		*s.fill.addr(s.fill.local) = d.Addr
		s.fill.local++
	}
	s.rx.local = prod
	atomic.StoreUint32(s.rx.cons, prod)
	atomic.StoreUint32(s.fill.prod, s.fill.local)
	return int(n)
}

// FillNeedsWakeup says whether the kernel asked to be woken for the fill
// ring (only zero-copy drivers ever set it).
func (s *Socket) FillNeedsWakeup() bool {
	return atomic.LoadUint32(s.fill.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// TxNeedsWakeup says whether a sendto is needed for the kernel to look at
// the tx ring. In copy mode it stays set: the kernel transmits only in
// sendmsg (xsk_generic_xmit), up to XDP_MAX_TX_SKB_BUDGET frames a call.
func (s *Socket) TxNeedsWakeup() bool {
	return atomic.LoadUint32(s.tx.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// Frame returns frame addr's bytes, for writing a packet to transmit.
func (s *Socket) Frame(addr uint64) []byte { return s.umem[addr : addr+frameSize] }

// Complete takes the completion ring's frames back into the free list and
// returns how many.
func (s *Socket) Complete() int {
	prod := atomic.LoadUint32(s.comp.prod)
	n := prod - s.comp.local
	for i := uint32(0); i < n; i++ {
		s.free = append(s.free, *s.comp.addr(s.comp.local + i))
	}
	s.comp.local = prod
	atomic.StoreUint32(s.comp.cons, prod)
	return int(n)
}

// Transmit puts up to max free frames on the tx ring, each length bytes
// long, and returns how many.
func (s *Socket) Transmit(max int, length uint32) int {
	room := s.tx.size - (s.tx.local - atomic.LoadUint32(s.tx.cons))
	n := min(max, len(s.free), int(room))
	for i := 0; i < n; i++ {
		d := s.tx.desc(s.tx.local)
		d.Addr, d.Len, d.Options = s.free[len(s.free)-1], length, 0
		s.free = s.free[:len(s.free)-1]
		s.tx.local++
	}
	if n > 0 {
		atomic.StoreUint32(s.tx.prod, s.tx.local)
	}
	return n
}

// Kick is the sendto(fd, NULL, 0, MSG_DONTWAIT) that makes the kernel
// send what the tx ring holds.
func (s *Socket) Kick() unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.FD), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// Stats reads XDP_STATISTICS.
func (s *Socket) Stats() unix.XDPStatistics {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.FD), unix.SOL_XDP, unix.XDP_STATISTICS, uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	return st
}

// Close unmaps the rings and the UMEM and closes the socket.
func (s *Socket) Close() {
	for _, r := range []*ring{s.fill, s.comp, s.rx, s.tx} {
		if r != nil {
			unix.Munmap(r.mem)
		}
	}
	unix.Close(s.FD)
	if s.umem != nil {
		unix.Munmap(s.umem)
	}
}
