package hexfile

import (
	"bytes"
	"os"
	"path/filepath"
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

func TestGlob(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"b.hex": "# b\n02", "a.hex": "01 # a"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Glob(filepath.Join(dir, "*.hex"))
	if err != nil || len(files) != 2 || files[0].Name != "a.hex" || files[0].Bytes[0] != 1 || files[1].Bytes[0] != 2 {
		t.Fatalf("Glob = %+v, %v", files, err)
	}
	if _, err := Glob(filepath.Join(dir, "*.none")); err == nil {
		t.Fatal("no match must be an error")
	}
	os.WriteFile(filepath.Join(dir, "c.hex"), []byte("zz"), 0o644)
	if _, err := Glob(filepath.Join(dir, "*.hex")); err == nil || !strings.Contains(err.Error(), "c.hex") {
		t.Fatalf("a bad file must be named: %v", err)
	}
}
