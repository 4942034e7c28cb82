package rawsock

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// ingressIfindex returns ipi_ifindex from the IP_PKTINFO control message in
// oob, or 0 if there is none. The kernel sets it in ipv4_pktinfo_prepare
// (called by raw_rcv_skb) to the index of the device the packet arrived on,
// the same index ip_tunnel_lookup compares with a tunnel's link.
//
// It parses the bytes in place instead of using ipv4.ControlMessage or
// unix.ParseSocketControlMessage, both of which allocate.
func ingressIfindex(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo {
			// struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst, ipi_addr; }
			return int(int32(binary.NativeEndian.Uint32(data)))
		}
		oob = rest
	}
	return 0
}
