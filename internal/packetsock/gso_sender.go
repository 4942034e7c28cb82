package packetsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/tcxmark"
)

// GSOSender is a Sender that can also hand the kernel an IPIP super-packet
// whole (ipipd run --transmit packet-gso): an outer IPv4 header in front
// of a TCP/IPv4 packet of up to 64 KiB, sent as one frame on an AF_PACKET
// socket with PACKET_VNET_HDR, whose virtio-net header says "TCPv4 segments
// of mss bytes, checksum partial at the inner TCP header". With the tcx
// program of internal/tcxmark on the egress device, the kernel carries the
// frame whole over a device with tx-ipxip4-segmentation (veth, NICs with
// IPIP TSO) and segments it in software before any other: one kernel
// crossing and one skb for up to 45 segments, where the packet socket pays
// for each (docs/performance.md, "Outer I/O designs measured").
//
// Ordinary packets go through the embedded Sender, the --transmit packet
// way, and what it cannot address through its fallback. Both sockets hand
// their frames to the device's queue inside the send call
// (packet_snd → dev_queue_xmit), so packets keep the order of the calls.
type GSOSender struct {
	*Sender
	marker Marker
	// devices holds, per egress device, its MAC address once the tcx
	// program is on it, or the error of the attempt; under Sender.mu.
	// An entry is learnt again after the kernel announced a change of a
	// device (events.go): a new MAC address, a device down, gone or made
	// again; and a failed one also markRetryAfter after it failed.
	devices     map[int]egress
	onMarkError func(ifindex int, err error)
	// ifreq is hardwareAddr's, made once: learning a device again
	// allocates nothing.
	ifreq *unix.Ifreq

	// fd is blocking, outside the Go runtime's poller: registered there,
	// every skb the kernel frees after sending (sock_wfree) woke an idle
	// thread in the poller for nothing (internal/rawsock's Sender, measured
	// 1.39× on the raw socket). A full send buffer makes a write wait, at
	// most SO_SNDTIMEO.
	fd   int
	msg  unix.Msghdr
	iov  [2]unix.Iovec
	addr unix.RawSockaddrLinklayer
	// head is the virtio-net header and the Ethernet header of the frame
	// being sent: PACKET_VNET_HDR is for SOCK_RAW sockets only
	// (packet_setsockopt), so the frame carries its own MAC header.
	head [virtioNetHdrLen + ethHeaderLen]byte
}

// egress is what a GSOSender knows of a device its paths go out of.
type egress struct {
	mac [6]byte
	err error // the marker's or the address lookup's: super-packets do not go whole through it
	// learnt is when mac and err were found, on the Sender's clock, and
	// devices the Sender's count of device changes then.
	learnt  int64
	devices uint64
}

// markRetryAfter is how long a device the program could not be put on (or
// whose address could not be read) is left before the next super-packet
// through it tries again: a failure may pass without any notification (a
// device being made again, a busy kernel), and trying once a second costs
// a few system calls a second, not one per packet.
const markRetryAfter = int64(1e9)

// Marker puts the tcx program that marks IPIP super-packets on a device's
// egress (tcxmark.Marker). Mark is called again for a device after the
// kernel announced a change of a device, and must then put the program
// back if the device was made again.
type Marker interface {
	Mark(ifindex int) error
	Forget(ifindex int)
}

// GSOOptions configure NewGSOSender.
type GSOOptions struct {
	Options
	// Marker marks the egress devices the Sender's paths go out of.
	// Required.
	Marker Marker
	// OnMarkError, if set, is told when the program cannot be attached to
	// a device, once until an attempt succeeds again; super-packets
	// through it are refused by WriteWhole meanwhile, for the caller to
	// segment. The attempt is made again a second later, or at once when
	// the kernel announces a change of a device.
	OnMarkError func(ifindex int, err error)
}

// The struct virtio_net_hdr values a whole frame carries
// (include/uapi/linux/virtio_net.h).
const (
	virtioNetHdrLen        = 10
	virtioNetHdrFNeedsCsum = 1    // VIRTIO_NET_HDR_F_NEEDS_CSUM
	virtioNetHdrGSOTCPv4   = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	virtioNetHdrGSOECN     = 0x80 // VIRTIO_NET_HDR_GSO_ECN: CWR set, as tcp_gso_segment expects SKB_GSO_TCP_ECN
	ethHeaderLen           = 14   // ETH_HLEN: what dev_hard_header puts in front, and csum_start counts from
	tcpChecksumOffset      = 16
	tcpFlagCWR             = 0x80
)

// NewGSOSender opens the Sender of opts.Options and the socket for whole
// frames, in the calling thread's network namespace (CAP_NET_RAW).
//
// Equivalent to: socket(AF_PACKET, SOCK_RAW, 0) with PACKET_VNET_HDR,
// SO_SNDBUFFORCE and SO_SNDTIMEO, beside NewSender's.
func NewGSOSender(opts GSOOptions) (*GSOSender, error) {
	if opts.Marker == nil {
		return nil, errors.New("packetsock: a GSO sender needs a marker")
	}
	s, err := NewSender(opts.Options)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
		if err == nil {
			if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
				unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
			}
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 1})
		}
		if err == nil {
			// The program marks only frames of this mark (tcxmark).
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, tcxmark.SocketMark)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("packetsock: opening an AF_PACKET socket with virtio-net headers: %w", err)
	}
	ifreq, _ := unix.NewIfreq("") // fails only for a name longer than IFNAMSIZ
	g := &GSOSender{Sender: s, marker: opts.Marker, devices: map[int]egress{}, onMarkError: opts.OnMarkError, ifreq: ifreq, fd: fd}
	g.addr.Family = unix.AF_PACKET
	g.addr.Protocol = htons(unix.ETH_P_IP)
	g.msg.Name = (*byte)(unsafe.Pointer(&g.addr))
	g.msg.Namelen = unix.SizeofSockaddrLinklayer
	g.iov[0].Base = &g.head[0]
	g.iov[0].SetLen(len(g.head))
	binary.BigEndian.PutUint16(g.head[virtioNetHdrLen+12:], unix.ETH_P_IP)
	g.msg.Iov = &g.iov[0]
	g.msg.SetIovlen(len(g.iov))
	return g, nil
}

// WriteWhole sends pkt, an outer IPv4 header (20 bytes, no options) in
// front of a TCP/IPv4 super-packet whose TCP checksum field holds the
// pseudo-header sum, as one frame for the kernel to cut into segments of
// mss payload bytes; every segment must fit the path (encap.EncapGSO
// decides that). It returns false, having sent nothing, when pkt cannot go
// whole now: its destination is not addressed on the packet socket yet
// (the fallback would have to take it, and cannot take it whole), or the
// egress device could not be marked. The caller then segments it and
// sends the segments with Write.
//
// true with an error means the socket refused the frame, which is lost; a
// syscall.Errno is about this frame alone. Like Write, a packet with
// source address 0.0.0.0 gets the route's preferred source. WriteWhole
// allocates nothing once the destination and its device have been seen.
func (s *GSOSender) WriteWhole(pkt []byte, mss int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return true, fmt.Errorf("packetsock: write: %w", os.ErrClosed)
	}
	if len(pkt) < 2*header.MinSize+20 || pkt[0] != 0x45 || pkt[header.MinSize]>>4 != 4 || mss < 1 || mss > 65534 {
		return false, nil
	}
	ihl := int(pkt[header.MinSize]&0x0f) * 4
	tcp := header.MinSize + ihl // where the inner TCP header starts
	if len(pkt) < tcp+20 {
		return false, nil
	}
	ip := header.IPv4(pkt)
	s.paths.apply()
	now := s.clock()
	path, ok := s.directPath(ip, now)
	if !ok {
		return false, nil
	}
	dev := s.egress(path.Ifindex, now)
	if dev.err != nil {
		return false, nil
	}
	if ip.Src() == 0 {
		ip.SetSrc(path.Src)
		ip.SetHeaderChecksum()
	}
	hdrs := tcp + int(pkt[tcp+12]>>4)*4
	gsoType := uint8(virtioNetHdrGSOTCPv4)
	if pkt[tcp+13]&tcpFlagCWR != 0 {
		gsoType |= virtioNetHdrGSOECN
	}
	// The offsets count from the MAC header, where the frame starts.
	h := s.head[:]
	h[0], h[1] = virtioNetHdrFNeedsCsum, gsoType
	binary.NativeEndian.PutUint16(h[2:], uint16(ethHeaderLen+hdrs)) // hdr_len
	binary.NativeEndian.PutUint16(h[4:], uint16(mss))               // gso_size
	binary.NativeEndian.PutUint16(h[6:], uint16(ethHeaderLen+tcp))  // csum_start
	binary.NativeEndian.PutUint16(h[8:], tcpChecksumOffset)         // csum_offset
	copy(h[virtioNetHdrLen:], path.MAC[:])
	copy(h[virtioNetHdrLen+6:], dev.mac[:])
	s.addr.Ifindex = int32(path.Ifindex)
	s.iov[1].Base = unsafe.SliceData(pkt)
	s.iov[1].SetLen(len(pkt))
	err := s.sendmsg()
	s.iov[1].Base = nil
	switch {
	case err == nil:
		return true, nil
	case deviceGone(err):
		// The device went (the kernel detached the program with it) or
		// went down: ask the kernel for the path again, and attach again
		// when a super-packet next goes through this index. Any other
		// error (a full queue, the send timeout) says nothing about the
		// program, which every tunnel's sender shares: it stays.
		s.paths.forget(ip.Dst())
		s.marker.Forget(path.Ifindex)
		delete(s.devices, path.Ifindex)
	}
	return true, err
}

// egress returns what the sender knows of device ifindex at now, learning
// it on the device's first super-packet, again on the first after the
// kernel announced a change of a device, and, after a failure, again on
// the first markRetryAfter later: the device's MAC address is read and the
// tcx program attached (the marker's Mark, which does nothing on a device
// that has it), by ioctls on the socket, so in its network namespace
// whatever thread calls. Between those, it costs an atomic load and a map
// look-up.
//
// Equivalent to: ip link show DEV; bpftool net attach tcx_egress … dev DEV.
func (s *GSOSender) egress(ifindex int, now int64) egress {
	changes := s.paths.void.devices.Load() // before the reading, so a change during it is seen next time
	dev, seen := s.devices[ifindex]
	if seen && dev.devices == changes && (dev.err == nil || now-dev.learnt < markRetryAfter) {
		return dev
	}
	failing := seen && dev.err != nil
	dev = egress{learnt: now, devices: changes}
	dev.mac, dev.err = hardwareAddr(s.fd, s.ifreq, ifindex)
	if dev.err == nil {
		dev.err = s.marker.Mark(ifindex)
	}
	s.devices[ifindex] = dev
	if dev.err != nil && !failing && s.onMarkError != nil {
		s.onMarkError(ifindex, dev.err)
	}
	return dev
}

// hardwareAddr reads the MAC address of device ifindex in the namespace of
// the socket fd (SIOCGIFNAME, then SIOCGIFHWADDR), with ifr as the request.
func hardwareAddr(fd int, ifr *unix.Ifreq, ifindex int) (mac [6]byte, err error) {
	ifr.SetUint32(uint32(ifindex))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return mac, fmt.Errorf("packetsock: the name of device %d: %w", ifindex, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return mac, fmt.Errorf("packetsock: the address of device %s: %w", ifr.Name(), err)
	}
	// struct ifreq: the name, then ifr_hwaddr, a sockaddr whose sa_data
	// starts with the address.
	raw := (*[unix.IFNAMSIZ + 16]byte)(unsafe.Pointer(ifr))
	copy(mac[:], raw[unix.IFNAMSIZ+2:])
	return mac, nil
}

// sendmsg sends the one frame s.msg describes on the blocking socket.
func (s *GSOSender) sendmsg() error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msg)), 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno // EAGAIN: the send buffer stayed full for SO_SNDTIMEO
	}
}

// Close closes both sockets; the PathFinder and the marker are the
// caller's, as with Sender.Close.
func (s *GSOSender) Close() error {
	s.mu.Lock()
	fd := s.fd
	s.fd = -1
	s.mu.Unlock()
	err := s.Sender.Close()
	if fd >= 0 {
		err = errors.Join(err, unix.Close(fd))
	}
	return err
}
