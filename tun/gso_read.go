package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
)

// GSOReader reads an offload device with TCP super-packets whole: where the
// device's Read hands over the segments wireguard cuts a GSO packet into,
// a GSOReader hands over the packet itself, up to 64 KiB, with its segment
// size from the virtio-net header, so that a sender that can pass it to
// the kernel whole (ipipd run --transmit packet-gso) crosses the kernel
// once per super-packet instead of once per segment.
//
// Only TCP/IPv4 comes whole. NewGSOReader turns off the device's UDP
// segmentation offload (USO), so the kernel segments UDP GSO packets before
// they reach the TUN (validate_xmit_skb on the TUN's transmit), and every
// other packet comes with a whole checksum, as from Read.
//
// A GSOReader belongs to one goroutine. Read it instead of the device's
// Read, not beside it: both take packets from the same queue.
type GSOReader struct {
	dev  *offloadDevice
	conn syscall.RawConn
	// read is readFrames bound once, so that Read hands RawConn.Read a
	// func value without allocating a closure per call.
	read func(fd uintptr) bool
	// The Read in progress, for readFrames: its buffers, offset and
	// sizes (the frames' lengths, virtio-net header included, until Read
	// makes them the packets'), the frames read, and the error that ended
	// the reading.
	bufs   [][]byte
	sizes  []int
	offset int
	n      int
	err    error
}

// The struct virtio_net_hdr fields a read carries (include/uapi/linux/virtio_net.h).
const (
	virtioNetHdrLen     = 10
	virtioNetHdrGSONone = 0 // VIRTIO_NET_HDR_GSO_NONE
)

// NewGSOReader returns a reader of dev, which must be an offload device
// (OpenOffload), and sets the device's offloads to checksum and TSO only.
//
// Equivalent to: ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6).
func NewGSOReader(dev Device) (*GSOReader, error) {
	d, ok := dev.(*offloadDevice)
	if !ok {
		return nil, fmt.Errorf("TUN device %s: whole super-packets need the offload backend, not %T", dev.Name(), dev)
	}
	r := &GSOReader{dev: d, conn: d.readiness.conn}
	if err := d.setOffloads(unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6); err != nil {
		return nil, fmt.Errorf("TUN device %s: setting its offloads to TSO only: %w", d.name, err)
	}
	r.read = r.readFrames
	return r, nil
}

// Read reads the packets the device holds, up to len(bufs) of them, into
// bufs[i][offset:] and their lengths into sizes[i], and returns how many
// and, when the last is a TCP/IPv4 super-packet of more than one segment,
// its segment size (gso_size: the TCP payload of every segment but maybe
// the last). It stops after a super-packet, so that only the last packet
// of a read can be one. The TCP checksum field of a super-packet holds the
// pseudo-header sum over its whole TCP length, not complemented, for the
// kernel to finish per segment (CHECKSUM_PARTIAL); every other packet has
// whole checksums. It blocks, in the Go runtime's poller, until there is a
// packet, and then takes what is queued without waiting again: a UDP
// sender's datagrams come one per frame, and a read each, each sent on its
// own, cost a poll, a read and a send per datagram.
//
// The virtio-net header is read into bufs[i][offset-10:offset], so offset
// must be at least 10, and every buffer needs OffloadReadRoom bytes after
// offset. A packet the reader cannot hand over (a GSO type other than
// TCPv4, an inconsistent header) is dropped: Read returns the others with
// an error that is not a closed one; keep reading. After Close, or once
// the device is deleted, Read returns an error for which IsClosed is true.
func (r *GSOReader) Read(bufs [][]byte, sizes []int, offset int) (n, mss int, err error) {
	d := r.dev
	if d.closed.Load() {
		return 0, 0, d.closedError("read")
	}
	if len(bufs) == 0 || len(sizes) < len(bufs) || offset < virtioNetHdrLen {
		return 0, 0, fmt.Errorf("read %s: want buffers with %d bytes of headroom, and a size for each", d.name, virtioNetHdrLen)
	}
	for i := range bufs {
		if len(bufs[i])-offset < OffloadReadRoom {
			return 0, 0, fmt.Errorf("read %s: buffer %d has %d bytes after offset %d; want %d", d.name, i, len(bufs[i])-offset, offset, OffloadReadRoom)
		}
	}
	r.bufs, r.sizes, r.offset, r.n, r.err = bufs, sizes, offset, 0, nil
	err = r.conn.Read(r.read)
	frames, readErr := r.n, r.err
	r.bufs, r.sizes = nil, nil
	if err == nil && frames == 0 {
		err = readErr
	}
	if err != nil {
		return 0, 0, d.ioError("read", err)
	}
	var dropped []error
	for i := range frames {
		frame := sizes[i]
		if frame < virtioNetHdrLen+header.MinSize {
			dropped = append(dropped, fmt.Errorf("read %s: a frame of %d bytes, shorter than a virtio-net header and an IPv4 header", d.name, frame))
			continue
		}
		hdr := bufs[i][offset-virtioNetHdrLen : offset]
		pkt := bufs[i][offset : offset+frame-virtioNetHdrLen]
		m, err := packetOf(hdr, pkt)
		if err != nil {
			dropped = append(dropped, fmt.Errorf("read %s: %w", d.name, err))
			continue
		}
		// Packets dropped before this one leave their buffers behind it.
		bufs[n], bufs[i] = bufs[i], bufs[n]
		sizes[n], mss = len(pkt), m
		n++
	}
	return n, mss, errors.Join(dropped...)
}

// readFrames is called by RawConn.Read with the device's descriptor: one
// read(2) per frame, while the device has frames and the batch has room,
// stopping after a GSO frame. It returns false, to wait in the poller,
// only while it has read nothing.
//
// A super-packet read last that cannot leave whole is cut into the
// buffers after the batch's (engine's transmitWhole): the caller passes
// only what may be filled, leaving out those the tunnel MTU's segments may
// need (the engine's readRoom).
func (r *GSOReader) readFrames(fd uintptr) bool {
	for r.n < len(r.bufs) {
		buf := r.bufs[r.n][r.offset-virtioNetHdrLen:]
		k, err := unix.Read(int(fd), buf)
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return r.n > 0
		default:
			// Reported now if nothing was read, else by the next Read.
			if r.n == 0 {
				r.err = err
			}
			return true
		}
		r.sizes[r.n] = k
		r.n++
		if k > 1 && buf[1] != virtioNetHdrGSONone {
			return true
		}
	}
	return true
}

// packetOf reads the virtio-net header hdr (in the host's byte order, as a
// TUN without TUNSETVNETLE/BE writes it) of pkt: the segment size of a
// TCP/IPv4 super-packet of two or more segments, or 0 for any other packet
// after finishing a partial checksum, as the kernel's skb_checksum_help
// would have (wireguard's gsoNoneChecksum does the same).
func packetOf(hdr, pkt []byte) (mss int, err error) {
	flags, gsoType := hdr[0], hdr[1]
	gsoSize := int(binary.NativeEndian.Uint16(hdr[4:]))
	csumStart := int(binary.NativeEndian.Uint16(hdr[6:]))
	csumOffset := int(binary.NativeEndian.Uint16(hdr[8:]))
	switch gsoType {
	case virtioNetHdrGSONone:
	case virtioNetHdrGSOTCPv4:
		ip := header.IPv4(pkt)
		ihl := int(pkt[0]&0x0f) * 4
		if pkt[0]>>4 != 4 || ip.Protocol() != header.ProtocolTCP || csumStart != ihl || csumOffset != tcpChecksumOffset ||
			len(pkt) < ihl+20 || flags&virtioNetHdrFNeedsCsum == 0 || gsoSize == 0 {
			return 0, fmt.Errorf("a TCPv4 GSO packet whose headers disagree with its virtio-net header (flags %#x, gso_size %d, csum_start %d, csum_offset %d)", flags, gsoSize, csumStart, csumOffset)
		}
		if len(pkt)-ihl-int(pkt[ihl+12]>>4)*4 > gsoSize {
			return gsoSize, nil
		}
		// One segment: an ordinary packet once its checksum is whole.
	default:
		return 0, fmt.Errorf("a GSO packet of virtio-net type %#x, which only TCPv4 may be here", gsoType)
	}
	if flags&virtioNetHdrFNeedsCsum != 0 {
		at := csumStart + csumOffset
		if at+2 > len(pkt) {
			return 0, fmt.Errorf("a partial checksum at %d+%d in a %d-byte packet", csumStart, csumOffset, len(pkt))
		}
		// The field holds the pseudo-header sum: sum the rest over it.
		initial := binary.BigEndian.Uint16(pkt[at:])
		pkt[at], pkt[at+1] = 0, 0
		binary.BigEndian.PutUint16(pkt[at:], ^header.Checksum(pkt[csumStart:], initial))
	}
	return 0, nil
}
