package nldump

import (
	"slices"
	"testing"

	"github.com/vishvananda/netlink/nl"
)

// Attributes reads what is whole and stops at the first attribute whose
// length does not fit, whatever the input: a kernel message is trusted
// for its framing, not for being whole.
func TestAttributes(t *testing.T) {
	two := u32Attrs()
	tests := []struct {
		name string
		in   []byte
		want []uint16
	}{
		{"two", two, []uint16{1, 2}},
		{"the second cut short", two[:12], []uint16{1}},
		{"a length below the header", []byte{2, 0, 1, 0}, nil},
		{"a length past the end", []byte{12, 0, 1, 0, 0, 0, 0, 0}, nil},
		{"the last one unpadded", []byte{8, 0, 1, 0, 7, 0, 0, 0, 5, 0, 3, 0, 1}, []uint16{1, 3}},
		{"nested flag dropped", []byte{4, 0, 5, 0x80}, []uint16{5}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		var got []uint16
		Attributes(tt.in, func(typ uint16, _ []byte) { got = append(got, typ) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: types %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzAttributes(f *testing.F) {
	f.Add(u32Attrs())
	f.Add([]byte{5, 0, 3, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		Attributes(b, func(_ uint16, v []byte) {
			n += 4 + len(v)
		})
		if n > len(b) {
			t.Fatalf("attributes of %d bytes read from %d", n, len(b))
		}
	})
}

// u32Attrs is two u32 attributes, of types 1 and 2, as the library encodes
// them.
func u32Attrs() []byte {
	return append(nl.NewRtAttr(1, nl.Uint32Attr(7)).Serialize(), nl.NewRtAttr(2, nl.Uint32Attr(9)).Serialize()...)
}
