package tun

import (
	"encoding/binary"
	"fmt"
)

// GSOWriter is a Device that can take a TCP/IPv4 super-packet whole and
// have the kernel treat it as the segments it stands for: the offload
// backend, through the virtio-net header.
type GSOWriter interface {
	// WriteTCPv4GSO writes buf[offset:], one IPv4 packet carrying TCP of
	// any length up to 65535, as a GSO packet of mss-byte segments. Its TCP
	// checksum field must hold the pseudo-header sum over the whole TCP
	// length, not complemented (a partial checksum, as GRO leaves it): the
	// kernel completes it. offset must be at least OffloadWriteHeadroom;
	// the bytes in front of the packet are overwritten.
	WriteTCPv4GSO(buf []byte, offset, mss int) error
}

var _ GSOWriter = (*offloadDevice)(nil)

// The fields of struct virtio_net_hdr this writes (include/uapi/linux/virtio_net.h).
const (
	virtioNetHdrFNeedsCsum = 1    // VIRTIO_NET_HDR_F_NEEDS_CSUM
	virtioNetHdrGSOTCPv4   = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	virtioNetHdrGSOECN     = 0x80 // VIRTIO_NET_HDR_GSO_ECN: CWR set, as tcp_gro_complete marks SKB_GSO_TCP_ECN
	tcpChecksumOffset      = 16
	tcpFlagCWR             = 0x80
)

// WriteTCPv4GSO implements GSOWriter. The header is in the byte order of
// the host, as the TUN device expects without TUNSETVNETBE/LE, and as
// wireguard writes its own.
func (d *offloadDevice) WriteTCPv4GSO(buf []byte, offset, mss int) error {
	if d.closed.Load() {
		return d.closedError("write")
	}
	if offset < OffloadWriteHeadroom || offset > len(buf) {
		return fmt.Errorf("write %s: offset %d in a %d-byte buffer; a GSO write needs %d <= offset <= buffer length", d.name, offset, len(buf), OffloadWriteHeadroom)
	}
	pkt := buf[offset:]
	if len(pkt) < 40 || pkt[0]>>4 != 4 || pkt[9] != 6 {
		return fmt.Errorf("write %s: a GSO write takes a TCP/IPv4 packet; got %d bytes, version %d, protocol %d", d.name, len(pkt), pkt[0]>>4, protocolOf(pkt))
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+20 {
		return fmt.Errorf("write %s: the IPv4 header length %d leaves no room for a TCP header in %d bytes", d.name, ihl, len(pkt))
	}
	hdrs := ihl + int(pkt[ihl+12]>>4)*4
	if hdrs < ihl+20 || hdrs > len(pkt) || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
		return fmt.Errorf("write %s: TCP/IPv4 headers of %d bytes and total length %d do not fit the %d-byte packet", d.name, hdrs, binary.BigEndian.Uint16(pkt[2:]), len(pkt))
	}
	// 65535 is GSO_BY_FRAGS to the kernel, not a size.
	if mss < 1 || mss > 65534 {
		return fmt.Errorf("write %s: segment size %d: want 1 to 65534", d.name, mss)
	}
	gsoType := uint8(virtioNetHdrGSOTCPv4)
	if pkt[ihl+13]&tcpFlagCWR != 0 {
		gsoType |= virtioNetHdrGSOECN
	}
	h := buf[offset-OffloadWriteHeadroom : offset]
	h[0], h[1] = virtioNetHdrFNeedsCsum, gsoType
	binary.NativeEndian.PutUint16(h[2:], uint16(hdrs))              // hdr_len
	binary.NativeEndian.PutUint16(h[4:], uint16(mss))               // gso_size
	binary.NativeEndian.PutUint16(h[6:], uint16(ihl))               // csum_start
	binary.NativeEndian.PutUint16(h[8:], uint16(tcpChecksumOffset)) // csum_offset

	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if _, err := d.file.Write(buf[offset-OffloadWriteHeadroom:]); err != nil {
		return d.ioError("write", err)
	}
	return nil
}

func protocolOf(pkt []byte) int {
	if len(pkt) < 10 {
		return -1
	}
	return int(pkt[9])
}
