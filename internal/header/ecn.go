package header

// ECN is the two low bits of the TOS byte (RFC 3168).
type ECN uint8

const (
	NotECT ECN = 0b00
	ECT1   ECN = 0b01
	ECT0   ECN = 0b10
	CE     ECN = 0b11

	// ECNMask selects the ECN bits of a TOS byte.
	ECNMask = 0b11
)

var ecnNames = [...]string{"not-ect", "ect1", "ect0", "ce"}

// String gives the names used in testdata/ecn-vectors.json and in traces.
func (e ECN) String() string { return ecnNames[e&ECNMask] }

// ECNOf returns the ECN bits of a TOS byte.
func ECNOf(tos uint8) ECN { return ECN(tos & ECNMask) }

// ParseECN reads a name that String produces.
func ParseECN(s string) (ECN, bool) {
	for i, n := range ecnNames {
		if n == s {
			return ECN(i), true
		}
	}
	return 0, false
}
