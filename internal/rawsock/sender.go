package rawsock

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SenderOptions configure NewSender. The zero value is usable.
type SenderOptions struct {
	// Dev, if set, binds the socket to this interface (SO_BINDTODEVICE):
	// packets are routed out of it only.
	Dev string
	// WriteBuffer is the socket send buffer in bytes; 0 means
	// DefaultSocketBuffer. When it is full, Write waits.
	WriteBuffer int
	// BatchSize is the most packets one sendmmsg call carries; 0 means
	// DefaultBatchSize. Write accepts any number and splits them.
	BatchSize int
}

// ipv4HeaderLen is the length of an IPv4 header without options.
const ipv4HeaderLen = 20

// Sender sends complete IPv4 packets, header included, in batches. It
// serves any protocol: tunnel packets (protocol 4) as well as ICMP errors
// the daemon owes (WritePacket). A Sender is safe for concurrent use, but
// calls take turns, so give each busy worker its own.
//
// The kernel sends the caller's header as written, except (raw_send_hdrinc
// in net/ipv4/raw.c, and raw(7)):
//   - Total Length is always overwritten with the length written;
//   - Header Checksum is always recomputed, whatever the caller put there
//     (a checksum computed in userspace matters only to other readers of
//     the bytes; transport and ICMP checksums stay the caller's job);
//   - a zero Source Address becomes the route's preferred source;
//   - a zero Identification is filled by ip_select_ident, which gives a
//     packet with DF set ID 0 (no connected socket to take an ID from):
//     the caller must choose IDs itself, as the kernel's tunnel does.
//
// TestKernelFillsHeader checks these facts against the running kernel.
// A packet goes to the destination address in its own header (bytes 16-20).
type Sender struct {
	// fd is a blocking socket, deliberately outside the Go runtime's
	// poller: registered there, every skb the kernel frees after sending
	// (sock_wfree) woke an idle thread in the poller for nothing. Measured
	// on a veth (bench/cmd/outergso -cases raw,raw-blocking): 1.39× the
	// throughput at 0.70× the CPU per GB, 40k → 22k wakeups a second.
	fd     int
	closed bool // under mu

	mu    sync.Mutex // serialises the scratch below and Close
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	addrs []unix.RawSockaddrInet4
	one   [1][]byte // WritePacket's batch of one
	count int       // messages in hdrs for this call
	n     int       // messages the kernel took
	errno syscall.Errno
}

// NewSender opens a header-included raw socket in the calling thread's
// network namespace. It needs CAP_NET_RAW.
//
// Equivalent to: socket(AF_INET, SOCK_RAW, IPPROTO_RAW) (which implies
// IP_HDRINCL) with SO_BINDTODEVICE and SO_SNDBUFFORCE (or SO_SNDBUF) set.
func NewSender(opts SenderOptions) (*Sender, error) {
	if opts.WriteBuffer == 0 {
		opts.WriteBuffer = DefaultSocketBuffer
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("rawsock: opening IPPROTO_RAW send socket: %w", err)
	}
	err = bindToDevice(fd, opts.Dev)
	if err == nil {
		_, err = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, opts.WriteBuffer)
	}
	if err == nil {
		// A full send buffer blocks a Write; this bounds the wait, so a
		// queue that never drains (a device stuck) cannot hold the
		// transmit loop, or Close, for ever: the batch fails with EAGAIN.
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 1})
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	s := &Sender{
		fd:    fd,
		hdrs:  make([]unix.Mmsghdr, opts.BatchSize),
		iovs:  make([]unix.Iovec, opts.BatchSize),
		addrs: make([]unix.RawSockaddrInet4, opts.BatchSize),
	}
	for i := range s.hdrs {
		s.addrs[i].Family = unix.AF_INET
		h := &s.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.addrs[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	return s, nil
}

// Write sends pkts in order, each a whole IPv4 packet. It returns how many
// went out. If that is less than len(pkts), packets [0, sent) went out,
// pkts[sent] did not, and err says why; packets after it were not tried.
//
// An err of type syscall.Errno is about pkts[sent] alone, and the caller may
// count it, skip the packet and call Write again with pkts[sent+1:]:
//   - EMSGSIZE: longer than the outgoing device's MTU (raw_send_hdrinc
//     refuses these with or without DF: a header-included packet is never
//     fragmented beyond the device MTU), or DF set and longer than the
//     route's path MTU, or longer than 65535;
//   - EINVAL: shorter than 20 bytes, or its IHL points past its end;
//   - ENETUNREACH, EHOSTUNREACH, EACCES, EPERM (netfilter), ENOBUFS: no
//     route, broadcast, dropped by policy or by a full queue.
//
// EAGAIN means the send buffer stayed full for a second: the packet was
// not sent. Any other error (wrapping net.ErrClosed after Close) means the
// socket is unusable. Write allocates nothing, refused packets included
// (TestWriteErrorNoAllocs); it reads pkts only during the call, and it
// blocks while the send buffer is full.
func (s *Sender) Write(pkts [][]byte) (sent int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(pkts)
}

// WritePacket sends one packet, for example an ICMP error the daemon
// crafted. Its error means what Write's does for pkts[0].
func (s *Sender) WritePacket(pkt []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.one[0] = pkt
	_, err := s.write(s.one[:])
	return err
}

// write is Write with s.mu held.
func (s *Sender) write(pkts [][]byte) (sent int, err error) {
	if s.closed {
		return 0, errClosed
	}
	for sent < len(pkts) {
		s.count = s.pack(pkts[sent:])
		if s.count == 0 {
			return sent, unix.EINVAL // pkts[sent] has no room for an IPv4 header
		}
		s.sendmmsg()
		if s.errno != 0 {
			// sendmmsg fails only when the first message of the call does;
			// after a partial send the next loop starts at the failed one.
			return sent, s.errno
		}
		sent += s.n
	}
	return sent, nil
}

// errClosed is what a Write after Close returns.
var errClosed = fmt.Errorf("rawsock: send socket: %w", net.ErrClosed)

// Close closes the socket, once a Write under way has returned; later
// Writes fail with an error wrapping net.ErrClosed.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.closed = true
	return unix.Close(s.fd)
}
