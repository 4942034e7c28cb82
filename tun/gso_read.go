package tun

import (
	"encoding/binary"
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
	// read is readFrame bound once, so that Read hands RawConn.Read a
	// func value without allocating a closure per call.
	read func(fd uintptr) bool
	buf  []byte
	n    int
	err  error
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
	r.read = r.readFrame
	return r, nil
}

// Read reads one packet into bufs[0][offset:], its length into sizes[0],
// and returns 1 and, for a TCP/IPv4 super-packet of more than one segment,
// its segment size (gso_size: the TCP payload of every segment but maybe
// the last). The TCP checksum field of a super-packet holds the
// pseudo-header sum over its whole TCP length, not complemented, for the
// kernel to finish per segment (CHECKSUM_PARTIAL); any packet returned with
// mss 0 has whole checksums. It blocks, in the Go runtime's poller, until
// there is a packet.
//
// The virtio-net header is read into bufs[0][offset-10:offset], so offset
// must be at least 10, and bufs[0] needs OffloadReadRoom bytes after
// offset. A packet the reader cannot hand over (a GSO type other than
// TCPv4, an inconsistent header) is dropped: Read returns 0 and an error
// that is not a closed one; keep reading. After Close, or once the device
// is deleted, Read returns an error for which IsClosed is true.
func (r *GSOReader) Read(bufs [][]byte, sizes []int, offset int) (n, mss int, err error) {
	d := r.dev
	if d.closed.Load() {
		return 0, 0, d.closedError("read")
	}
	if len(bufs) == 0 || len(sizes) == 0 || offset < virtioNetHdrLen || len(bufs[0])-offset < OffloadReadRoom {
		return 0, 0, fmt.Errorf("read %s: want a buffer with %d bytes of headroom and %d after it", d.name, virtioNetHdrLen, OffloadReadRoom)
	}
	r.buf = bufs[0][offset-virtioNetHdrLen:]
	err = r.conn.Read(r.read)
	r.buf = nil
	if err == nil {
		err = r.err
	}
	if err != nil {
		return 0, 0, d.ioError("read", err)
	}
	if r.n < virtioNetHdrLen+header.MinSize {
		return 0, 0, fmt.Errorf("read %s: a frame of %d bytes, shorter than a virtio-net header and an IPv4 header", d.name, r.n)
	}
	hdr := bufs[0][offset-virtioNetHdrLen : offset]
	pkt := bufs[0][offset : offset+r.n-virtioNetHdrLen]
	mss, err = packetOf(hdr, pkt)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", d.name, err)
	}
	sizes[0] = len(pkt)
	return 1, mss, nil
}

// readFrame is called by RawConn.Read with the device's descriptor: one
// read(2) of one frame. It returns false to wait in the poller.
func (r *GSOReader) readFrame(fd uintptr) bool {
	for {
		n, err := unix.Read(int(fd), r.buf)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.err = n, nil
		if err != nil {
			r.n, r.err = 0, err
		}
		return true
	}
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
