package outer

import (
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestOpenRefusesAnUnknownMode(t *testing.T) {
	_, err := Open(Options{Transmit: "xdp"})
	if err == nil || !strings.Contains(err.Error(), `transmit "xdp": want "raw", "packet" or "packet-gso"`) {
		t.Fatalf("err = %v, want the modes named", err)
	}
}

// A loop's Sender is closed whatever it is; the shared ICMP socket lent
// when a tunnel's own cannot be opened survives that.
func TestSenderOfEveryModeCloses(t *testing.T) {
	lab.EnterFresh(t)
	for _, mode := range []string{Raw, Packet} {
		b, err := Open(Options{Transmit: mode})
		if err != nil {
			t.Fatal(err)
		}
		s := b.Sender("t", "", Counts{})
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", mode, err)
		}
		if s := b.Sender("t", "nosuchdev", Counts{}); s.Close() != nil {
			t.Errorf("%s: closing the lent ICMP socket failed", mode)
		}
		if _, err := b.ICMP().Write([][]byte{make([]byte, 20)}); err != nil && strings.Contains(err.Error(), "closed") {
			t.Errorf("%s: the shared ICMP socket was closed by a loop's Close", mode)
		}
		b.StopReceiving()
		if err := b.Close(); err != nil {
			t.Errorf("%s: Bind.Close: %v", mode, err)
		}
		if len(b.finders) != 0 {
			t.Errorf("%s: %d resolvers left", mode, len(b.finders))
		}
	}
}
