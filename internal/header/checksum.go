package header

import "encoding/binary"

// Checksum returns the 16-bit one's complement sum of b (RFC 1071), added to
// initial, not yet complemented. An odd final byte counts as its high half.
// Folding is deferred to the end so the loop adds 8 bytes at a time.
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		// Sum the two 32-bit halves; carries into bit 32+ are kept and folded later.
		sum += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return Fold(sum)
}

// Fold reduces a wide one's complement sum to 16 bits.
func Fold(sum uint64) uint16 {
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// Combine adds two one's complement sums.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s>>16 + s&0xffff)
}

// UpdateChecksum returns the checksum field after one 16-bit word of the
// covered data changed from old to new, by RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m'). It never yields 0x0000 for a non-zero sum, which
// the older eqn. 2 could.
func UpdateChecksum(field, old, new uint16) uint16 {
	return ^Combine(Combine(^field, ^old), new)
}
