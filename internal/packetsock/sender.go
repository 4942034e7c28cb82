package packetsock

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/mmsg"
)

// Fallback sends what the packet socket cannot address; rawsock.Sender is
// the real one, with the same Write contract.
type Fallback interface {
	Write(pkts [][]byte) (sent int, err error)
}

// Options configure NewSender.
type Options struct {
	// Finder resolves the Sender's destinations; Senders of one engine
	// share one. Nil: the Sender opens its own with Dev and Resolver, and
	// closes it with itself.
	Finder *PathFinder
	// Dev, if set, is the device route lookups are bound to (`ip route get
	// DST oif DEV`), as the raw socket is bound to it. Only without Finder.
	Dev string
	// Fallback takes every packet the Sender cannot address. Required.
	Fallback Fallback
	// WriteBuffer is the socket send buffer in bytes; 0 means 4 MiB.
	WriteBuffer int
	// Direct and Fallen, if set, count the packets that went out on the
	// packet socket and through the fallback.
	Direct, Fallen *atomic.Uint64
	// Resolver replaces the kernel's answers, for tests. Only without
	// Finder.
	Resolver Resolver
}

// batchSize is the most frames one sendmmsg carries.
const batchSize = 256

// Sender sends outer IPv4 packets as frames on an AF_PACKET socket, to the
// MAC address of each destination's next hop, and the packets it cannot
// address yet through its Fallback. Order is kept. Write may be called from
// several goroutines; they take turns.
type Sender struct {
	mu sync.Mutex // serialises Write and Close
	// fd is a blocking socket outside Go's poller, with a one-second send
	// timeout: registered there, every frame the kernel freed after sending
	// woke an idle poller thread for nothing (internal/rawsock's Sender,
	// measured 1.39x on a veth).
	fd       int
	fallback Fallback
	finder   *PathFinder
	ownsIt   bool // the finder is the Sender's own, closed with it
	paths    *paths
	clock    func() int64
	direct   *atomic.Uint64
	fallen   *atomic.Uint64
	closed   atomic.Bool

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	addrs []unix.RawSockaddrLinklayer
	// syscall is mmsg.Send; tests replace it.
	syscall func(fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno, bool)
}

// NewSender opens the packet socket in the calling thread's network
// namespace (it needs CAP_NET_RAW) and, without Options.Finder, its own
// PathFinder there.
//
// Equivalent to: socket(AF_PACKET, SOCK_DGRAM, 0) with SO_SNDBUFFORCE,
// and `ip route get` / `ip neigh get` per destination.
func NewSender(opts Options) (*Sender, error) {
	if opts.Fallback == nil {
		return nil, errors.New("packetsock: a fallback sender is required")
	}
	if opts.WriteBuffer == 0 {
		opts.WriteBuffer = 4 << 20
	}
	s := &Sender{
		fallback: opts.Fallback,
		finder:   opts.Finder,
		direct:   opts.Direct,
		fallen:   opts.Fallen,
		hdrs:     make([]unix.Mmsghdr, batchSize),
		iovs:     make([]unix.Iovec, batchSize),
		addrs:    make([]unix.RawSockaddrLinklayer, batchSize),
		syscall:  mmsg.Send,
	}
	if s.direct == nil {
		s.direct = new(atomic.Uint64)
	}
	if s.fallen == nil {
		s.fallen = new(atomic.Uint64)
	}
	if s.finder == nil {
		f, err := NewPathFinder(FinderOptions{Dev: opts.Dev, Resolver: opts.Resolver})
		if err != nil {
			return nil, err
		}
		s.finder, s.ownsIt = f, true
	}
	s.clock = s.finder.clock
	s.paths = s.finder.newCache()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		s.releaseFinder()
		return nil, fmt.Errorf("packetsock: opening an AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opts.WriteBuffer); err != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.WriteBuffer) // without CAP_NET_ADMIN: up to wmem_max
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		unix.Close(fd)
		s.releaseFinder()
		return nil, fmt.Errorf("packetsock: %w", err)
	}
	s.fd = fd
	for i := range s.hdrs {
		s.addrs[i].Family = unix.AF_PACKET
		s.addrs[i].Protocol = htons(unix.ETH_P_IP)
		s.addrs[i].Halen = 6
		h := &s.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.addrs[i]))
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	return s, nil
}

// Write sends pkts in order, each a whole IPv4 packet, and returns how many
// went out, with the contract of rawsock.Sender.Write: if sent <
// len(pkts), pkts[sent] did not go out and err says why (a syscall.Errno is
// about that packet alone; the caller may skip it and go on), and later
// packets were not tried. A packet with source address 0.0.0.0 that goes
// out on the packet socket gets the route's preferred source and a new
// header checksum, as IP output would give it. Write allocates nothing once
// every destination has been seen.
func (s *Sender) Write(pkts [][]byte) (sent int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, fmt.Errorf("packetsock: write: %w", os.ErrClosed)
	}
	s.paths.apply()
	now := s.clock()
	for sent < len(pkts) {
		if n := s.pack(pkts[sent:], now); n > 0 {
			k, err := s.writeFrames(n)
			s.direct.Add(uint64(k))
			sent += k
			if err != nil {
				if deviceGone(err) {
					s.paths.forget(header.IPv4(pkts[sent]).Dst()) // ask the kernel again
				}
				return sent, err
			}
			continue
		}
		n := s.fallbackRun(pkts[sent:], now)
		k, err := s.fallback.Write(pkts[sent : sent+n])
		s.fallen.Add(uint64(k))
		sent += k
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// pack fills the message headers with the longest run of packets at the
// start of pkts that can go out on the packet socket, and returns its
// length (0: the first packet goes through the fallback).
func (s *Sender) pack(pkts [][]byte, now int64) int {
	n := 0
	for _, pkt := range pkts[:min(len(pkts), batchSize)] {
		if len(pkt) < header.MinSize {
			break
		}
		ip := header.IPv4(pkt)
		path, ok := s.directPath(ip, now)
		if !ok {
			break
		}
		if ip.Src() == 0 {
			ip.SetSrc(path.Src)
			ip.SetHeaderChecksum()
		}
		s.addrs[n].Ifindex = int32(path.Ifindex)
		s.addrs[n].Addr = [8]byte{path.MAC[0], path.MAC[1], path.MAC[2], path.MAC[3], path.MAC[4], path.MAC[5]}
		s.iovs[n].Base = unsafe.SliceData(pkt)
		s.iovs[n].SetLen(len(pkt))
		n++
	}
	return n
}

// directPath returns the path a packet goes out on the packet socket by,
// and false when it goes through the fallback: the path is not usable now,
// or the packet has no source address and the route offers none.
func (s *Sender) directPath(ip header.IPv4, now int64) (Path, bool) {
	path, ok := s.paths.lookup(ip.Dst(), now)
	return path, ok && (ip.Src() != 0 || path.Src != 0)
}

// fallbackRun returns the length of the run of packets at the start of
// pkts that go through the fallback (at least 1), and marks each one's
// destination as having had a packet through it.
func (s *Sender) fallbackRun(pkts [][]byte, now int64) int {
	n := 0
	for n < len(pkts) {
		if len(pkts[n]) >= header.MinSize {
			ip := header.IPv4(pkts[n])
			if _, ok := s.directPath(ip, now); ok && n > 0 {
				break
			}
			s.paths.fellBack(ip.Dst())
		}
		n++
	}
	return n
}

// deviceGone reports whether the packet socket refused a frame because its
// device is gone or down; the path is then asked for again. Other errors
// (ENOBUFS from a full queue, EMSGSIZE) say nothing about the path.
func deviceGone(err error) bool {
	return errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENETDOWN)
}

// writeFrames sends the first n packed frames, waiting for room in the
// send buffer (a second at most: then EAGAIN), and returns how many went
// out before an error.
func (s *Sender) writeFrames(n int) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("packetsock: write: %w", os.ErrClosed)
	}
	done := 0
	for done < n {
		m, errno, ready := s.syscall(uintptr(s.fd), s.hdrs[done:n])
		if !ready {
			errno = unix.EAGAIN // the send timeout (SO_SNDTIMEO)
		}
		if errno != 0 {
			return done, errno
		}
		done += m
	}
	return done, nil
}

// Close closes the socket, once a Write under way has returned, and leaves
// the PathFinder, closing it if it is the Sender's own; later Writes fail
// with an error wrapping os.ErrClosed. The fallback is the caller's to
// close.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	err := unix.Close(s.fd)
	s.releaseFinder()
	return err
}

// releaseFinder stops the finder's invalidations to this Sender's cache,
// and closes the finder if it is the Sender's own.
func (s *Sender) releaseFinder() {
	s.finder.dropCache(s.paths)
	if s.ownsIt {
		s.finder.Close()
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
