package rawsock_test

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipipd/ipipd/internal/packettest"
)

// Addresses of the test link (see newLink) and of the inner packets.
var (
	addrA    = netip.MustParseAddr("10.245.7.1")
	addrB    = netip.MustParseAddr("10.245.7.2")
	innerSrc = netip.MustParseAddr("192.168.41.1")
	innerDst = netip.MustParseAddr("192.168.42.1")
)

// ipipPacket is an outer packet src > dst (ID id, DF if df) around an
// inner UDP packet of innerLen bytes (at least 28) to the discard port.
func ipipPacket(src, dst netip.Addr, id uint16, df bool, innerLen int) []byte {
	inner := packettest.IP{Src: innerSrc, Dst: innerDst, ID: id}.UDP(40000, 9, packettest.Pattern(innerLen-28))
	return packettest.IP{Src: src, Dst: dst, ID: id, DF: df}.IPIP(inner)
}

func packetID(pkt []byte) uint16 { return binary.BigEndian.Uint16(pkt[4:]) }
