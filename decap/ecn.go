package decap

import "github.com/ipipd/ipipd/internal/header"

// ECNOutcome is what ECN decapsulation did to one packet.
type ECNOutcome uint8

const (
	// ECNUnchanged: the inner field was kept.
	ECNUnchanged ECNOutcome = iota
	// ECNSetCE: outer CE was copied into the inner header.
	ECNSetCE
	// ECNSetECT1: outer ECT(1) turned inner ECT(0) into ECT(1) (kernel ≥ v5.7).
	ECNSetECT1
	// ECNLogged: outer ECT over inner Not-ECT; delivered unchanged, and the
	// kernel logs "non-ECT from %pI4 with TOS=%#x".
	ECNLogged
	// ECNDropped: outer CE over inner Not-ECT; the packet must be dropped.
	ECNDropped
)

var ecnOutcomeNames = [...]string{"unchanged", "set_ce", "set_ect1", "logged", "dropped"}

func (o ECNOutcome) String() string { return ecnOutcomeNames[o] }

// DecapsulateECN applies INET_ECN_decapsulate (include/net/inet_ecn.h) to
// the inner header, given the outer TOS, and fixes the inner checksum
// incrementally (RFC 1624) when it changes the TOS byte. inner must have
// passed IsValid.
func DecapsulateECN(outerTOS uint8, inner header.IPv4) ECNOutcome {
	outer := header.ECNOf(outerTOS)
	tos := inner.TOS()
	in := header.ECNOf(tos)
	var want header.ECN
	switch {
	case in == header.NotECT: // __INET_ECN_decapsulate: rc 0, 1 or 2
		switch outer {
		case header.NotECT:
			return ECNUnchanged
		case header.CE:
			return ECNDropped
		default:
			return ECNLogged
		}
	case outer == header.CE:
		if in == header.CE {
			return ECNUnchanged
		}
		want = header.CE
	case outer == header.ECT1 && in == header.ECT0: // IP_ECN_set_ect1
		want = header.ECT1
	default:
		return ECNUnchanged
	}
	newTOS := tos&^header.ECNMask | uint8(want)
	oldWord := uint16(inner[0])<<8 | uint16(tos)
	newWord := uint16(inner[0])<<8 | uint16(newTOS)
	inner.SetTOS(newTOS)
	inner.SetChecksum(header.UpdateChecksum(inner.Checksum(), oldWord, newWord))
	if want == header.CE {
		return ECNSetCE
	}
	return ECNSetECT1
}
