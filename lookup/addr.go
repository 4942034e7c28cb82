package lookup

import (
	"encoding/binary"
	"net/netip"
)

// addr32 is an IPv4 address as the number the header carries; "any" is 0.
func addr32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func isMulticast(v uint32) bool { return v>>28 == 0xe }

func pairKey(remote, local uint32) uint64 { return uint64(remote)<<32 | uint64(local) }

// AddrFromNumber turns the 32-bit form back into a netip.Addr.
func AddrFromNumber(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
