package icmperr

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// ingressIfindex returns ipi_ifindex from the IP_PKTINFO control message in
// oob, or 0 if there is none: the device the ICMP arrived on, as
// ipv4_pktinfo_prepare (called by raw_rcv_skb) records it, the link that
// ipip_err's tunnel lookup compares with a tunnel's link. Parsed in place
// (unix.ParseSocketControlMessage and ipv4.ControlMessage allocate), as in
// internal/rawsock.
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
