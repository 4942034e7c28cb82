package tcxmark

import (
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m) }

// The program passes the kernel's verifier, attaches with tcx once per
// device, and comes off again: in a fresh namespace, on its lo.
func TestLoadMarkClose(t *testing.T) {
	lab.EnterFresh(t)
	m, err := Load()
	if err != nil {
		lab.SkipOrFail(t, "no tcx here: "+err.Error())
	}
	if err := m.Mark(loopback); err != nil {
		t.Fatal(err)
	}
	if err := m.Mark(loopback); err != nil {
		t.Fatalf("a second Mark of the same device: %v", err)
	}
	if len(m.links) != 1 {
		t.Fatalf("%d links after two Marks of one device; want 1", len(m.links))
	}
	m.Forget(loopback)
	if err := m.Mark(loopback); err != nil {
		t.Fatalf("Mark after Forget: %v", err)
	}
	if err := m.Mark(9999); err == nil {
		t.Error("Mark of a device that does not exist succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Mark(loopback); err == nil {
		t.Error("Mark after Close succeeded")
	}
}
