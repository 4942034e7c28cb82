package outerlab

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// SendSuperPacket writes one 63 420-byte IPIP TCP super-packet (44
// segments of 1440 bytes) from A to B: a packet socket on vA with a
// virtio-net header, and the tcx IPIP mark on vA's egress so that it
// leaves whole as SKB_GSO_IPXIP4, as a GRO-merged packet from a NIC would
// arrive.
func SendSuperPacket(l *Lab) error {
	return In(l.A, func() error {
		idx, err := Ifindex("vA")
		if err != nil {
			return err
		}
		link, err := AttachIPIPMark(idx)
		if err != nil {
			return err
		}
		defer unix.Close(link)
		fd, err := PacketSocket("vA", true)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		bMAC, _ := MAC(l.B, "vB")
		aMAC, _ := MAC(l.A, "vA")
		buf := make([]byte, 70000)
		VnetHdr{Flags: VnetNeedsCsum, GSOType: VnetGSOTCPv4, HdrLen: 74, GSOSize: 1440, CsumStart: 54, CsumOffset: 16}.Put(buf)
		EtherHeader(buf[10:], bMAC, aMAC)
		n := IPIPTCP(buf[24:], netip.MustParseAddr(l.AAddr), netip.MustParseAddr(l.BAddr), 1, 1, 44*1440, true)
		_, err = unix.Write(fd, buf[:24+n])
		return err
	})
}
