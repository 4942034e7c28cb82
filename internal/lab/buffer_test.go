package lab_test

import (
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestLockedBufferKeepsEverythingByDefault(t *testing.T) {
	var b lab.LockedBuffer
	chunk := strings.Repeat("x", 1000)
	for range 100 {
		b.Write([]byte(chunk))
	}
	if got := len(b.String()); got != 100*len(chunk) {
		t.Errorf("held %d bytes, want all %d", got, 100*len(chunk))
	}
}

func TestLockedBufferLimit(t *testing.T) {
	b := lab.LockedBuffer{Limit: 10}
	b.Write([]byte("0123456789")) // at the limit: kept
	b.Write([]byte("a"))
	if got := b.String(); got != "0123456789a" {
		t.Fatalf("after reaching the limit: %q, want everything so far", got)
	}
	b.Write([]byte("b")) // finds 11 > 10 bytes held
	if got := b.String(); got != "[earlier output dropped]\nb" {
		t.Errorf("after passing the limit: %q, want the note and the new write", got)
	}
}
