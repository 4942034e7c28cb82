package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is an IPv4 header and whatever follows it (RFC 791):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv4 []byte

// Field offsets inside the header.
const (
	versionIHL  = 0
	tos         = 1
	totalLength = 2
	id          = 4
	flagsFrag   = 6
	ttl         = 8
	protocol    = 9
	checksum    = 10
	srcAddr     = 12
	dstAddr     = 16
)

const (
	// MinSize is the size of a header without options, the only size ipipd writes.
	MinSize = 20
	// MaxTotalLength is the largest IPv4 datagram.
	MaxTotalLength = 65535

	// ProtocolICMP, ProtocolIPIP and ProtocolTCP are the IP protocol
	// numbers ipipd uses (TCP: to recognise outer packets merged by GRO).
	ProtocolICMP = 1
	ProtocolIPIP = 4
	ProtocolTCP  = 6

	// FlagDF (don't fragment) and FlagMF (more fragments) in the flags/offset word.
	FlagDF = 0x4000
	FlagMF = 0x2000
	// fragOffsetMask selects the fragment offset, in units of 8 bytes.
	fragOffsetMask = 0x1fff
)

// Validity says why a header cannot be read, or Valid.
type Validity uint8

const (
	Valid          Validity = iota
	TooShort                // fewer than 20 bytes
	NotVersion4             // version nibble is not 4
	BadIHL                  // IHL below 5 or beyond the bytes at hand
	BadTotalLength          // total length below the header or beyond the bytes at hand
)

var validityNames = [...]string{"valid", "too short", "not version 4", "bad header length", "bad total length"}

func (v Validity) String() string { return validityNames[v] }

// Check is the one gate before any accessor: the header fits in pktSize bytes
// of b, its version is 4, and its IHL and total length agree with pktSize.
// A total length smaller than pktSize is valid (trailing padding, as from an
// Ethernet minimum frame); Payload and Packet then end at the total length.
func (b IPv4) Check(pktSize int) Validity {
	if pktSize > len(b) {
		pktSize = len(b)
	}
	if pktSize < MinSize {
		return TooShort
	}
	if b[versionIHL]>>4 != 4 {
		return NotVersion4
	}
	hlen := b.HeaderLength()
	if hlen < MinSize || hlen > pktSize {
		return BadIHL
	}
	total := int(b.TotalLength())
	if total < hlen || total > pktSize {
		return BadTotalLength
	}
	return Valid
}

// IsValid reports whether Check finds nothing wrong.
func (b IPv4) IsValid(pktSize int) bool { return b.Check(pktSize) == Valid }

// HeaderLength is IHL in bytes.
func (b IPv4) HeaderLength() int { return int(b[versionIHL]&0x0f) * 4 }

// TOS is the whole type-of-service byte: DSCP and ECN.
func (b IPv4) TOS() uint8 { return b[tos] }

// TotalLength is the length of header plus payload.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[totalLength:]) }

// ID is the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[id:]) }

// FlagsFragmentOffset is the raw flags and fragment offset word.
func (b IPv4) FlagsFragmentOffset() uint16 { return binary.BigEndian.Uint16(b[flagsFrag:]) }

// DontFragment reports the DF flag.
func (b IPv4) DontFragment() bool { return b.FlagsFragmentOffset()&FlagDF != 0 }

// IsFragment reports a fragment: MF set or a non-zero offset.
func (b IPv4) IsFragment() bool { return b.FlagsFragmentOffset()&(FlagMF|fragOffsetMask) != 0 }

// TTL is the time to live.
func (b IPv4) TTL() uint8 { return b[ttl] }

// Protocol is the payload's IP protocol number.
func (b IPv4) Protocol() uint8 { return b[protocol] }

// Checksum is the header checksum as stored.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[checksum:]) }

// Src and Dst are the addresses as 32-bit big-endian numbers, the form the
// tunnel table hashes.
func (b IPv4) Src() uint32 { return binary.BigEndian.Uint32(b[srcAddr:]) }
func (b IPv4) Dst() uint32 { return binary.BigEndian.Uint32(b[dstAddr:]) }

// SrcAddr and DstAddr are the addresses as netip values.
func (b IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4([4]byte(b[srcAddr : srcAddr+4])) }
func (b IPv4) DstAddr() netip.Addr { return netip.AddrFrom4([4]byte(b[dstAddr : dstAddr+4])) }

// Payload is what follows the header, up to the total length.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// Packet is the header and payload, without trailing padding.
func (b IPv4) Packet() []byte { return b[:b.TotalLength()] }

// HeaderChecksumValid reports whether the stored checksum matches the header.
func (b IPv4) HeaderChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// SetTOS and SetTotalLength etc. write fields without fixing the checksum;
// callers either rewrite it with SetChecksum or update it incrementally.
func (b IPv4) SetTOS(v uint8)          { b[tos] = v }
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[totalLength:], v) }
func (b IPv4) SetID(v uint16)          { binary.BigEndian.PutUint16(b[id:], v) }
func (b IPv4) SetFlagsFragmentOffset(v uint16) {
	binary.BigEndian.PutUint16(b[flagsFrag:], v)
}
func (b IPv4) SetTTL(v uint8)       { b[ttl] = v }
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[checksum:], v) }
func (b IPv4) SetSrc(v uint32)      { binary.BigEndian.PutUint32(b[srcAddr:], v) }
func (b IPv4) SetDst(v uint32)      { binary.BigEndian.PutUint32(b[dstAddr:], v) }

// SetHeaderChecksum computes and stores the header checksum.
func (b IPv4) SetHeaderChecksum() {
	b.SetChecksum(0)
	b.SetChecksum(^Checksum(b[:b.HeaderLength()], 0))
}

// Fields are the values Encode writes into a 20-byte header.
type Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // FlagDF and/or FlagMF with the fragment offset
	TTL         uint8
	Protocol    uint8
	Src, Dst    uint32
}

// Encode writes a 20-byte header with a correct checksum into b[:20].
func (b IPv4) Encode(f *Fields) {
	_ = b[MinSize-1]
	b[versionIHL] = 0x45
	b[tos] = f.TOS
	b.SetTotalLength(f.TotalLength)
	b.SetID(f.ID)
	b.SetFlagsFragmentOffset(f.Flags)
	b[ttl] = f.TTL
	b[protocol] = f.Protocol
	b.SetSrc(f.Src)
	b.SetDst(f.Dst)
	b.SetHeaderChecksum()
}

// Addr4 turns an IPv4 netip.Addr into the 32-bit form the header stores; the
// zero Addr (meaning "any") becomes 0.
func Addr4(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// AddrFrom32 is the inverse of Addr4.
func AddrFrom32(v uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// IsMulticast reports a 224.0.0.0/4 address in the 32-bit form.
func IsMulticast(v uint32) bool { return v>>28 == 0xe }
