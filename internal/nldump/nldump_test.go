package nldump

import (
	"slices"
	"testing"
)

// Attributes reads what is whole and stops at the first attribute whose
// length does not fit, whatever the input: a kernel message is trusted
// for its framing, not for being whole.
func TestAttributes(t *testing.T) {
	two := AppendU32(AppendU32(nil, 1, 7), 2, 9)
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
	f.Add(AppendU32(AppendU32(nil, 1, 7), 2, 9))
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
