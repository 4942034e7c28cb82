package hexfile

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		err  string
	}{
		{"# a comment\n45 00\n00 54 # trailing\n", []byte{0x45, 0, 0, 0x54}, ""},
		{"4500:0054-abCD", []byte{0x45, 0, 0, 0x54, 0xab, 0xcd}, ""},
		{"\t0x0000:  4500 0054 ad66 4000\n\t0x0008:  4001", []byte{0x45, 0, 0, 0x54, 0xad, 0x66, 0x40, 0, 0x40, 1}, ""},
		{"", nil, ""},
		{"45 0", nil, "line 1: odd number"},
		{"# ok\nzz", nil, `line 2: "zz" is not a hex byte`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%q: % x, %v; want % x", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	b := make([]byte, 77)
	for i := range b {
		b[i] = byte(i * 13)
	}
	got, err := Parse(Format("two\nlines", b))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("round trip: %v", err)
	}
}
