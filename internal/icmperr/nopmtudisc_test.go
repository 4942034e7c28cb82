package icmperr

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

func TestApplyNoPMTUDisc(t *testing.T) {
	frag := Event{Type: TypeDestUnreach, Code: CodeFragNeeded, MTU: 1380}
	hostUnreach := Event{Type: TypeDestUnreach, Code: 1}
	for _, c := range []struct {
		mode    int
		ev      Event
		wantMTU int
		kept    bool
	}{
		{0, frag, 1380, true},
		{1, frag, 0, true}, // the path MTU code raises 0 to min_pmtu
		{2, frag, 0, false},
		{3, frag, 0, false}, // tunnel4 has no strict tag validation
		{7, frag, 0, true},  // icmp_unreach's default case is mode 1's
		{-1, frag, 0, true},
		{2, hostUnreach, 0, true}, // only frag-needed is the sysctl's business
		{3, hostUnreach, 0, true},
	} {
		got, kept := ApplyNoPMTUDisc(c.ev, c.mode)
		if kept != c.kept || (kept && got.MTU != c.wantMTU) {
			t.Errorf("mode %d, %v: %v kept %v; want MTU %d kept %v", c.mode, c.ev, got, kept, c.wantMTU, c.kept)
		}
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int{"0\n": 0, "2\n": 2, " 3 ": 3, "-1\n": -1, "2147483647\n": 2147483647} {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "\n", "-", "1x", "99999999999", "0x1"} {
		if got, ok := parseInt([]byte(in)); ok {
			t.Errorf("%q: accepted as %d", in, got)
		}
	}
}

// The Reader applies its own namespace's ip_no_pmtu_disc, read when a
// frag-needed arrives: a's setting changes between errors, and the host's
// (which the test does not touch) plays no part.
func TestReaderAppliesNoPMTUDisc(t *testing.T) {
	p := newPair(t)
	events := make([]Event, 4)
	send := func(mtu uint16) {
		t.Helper()
		if err := p.s.WritePacket(packettest.Unreachable(router, local, CodeFragNeeded, mtu, ipipPacket(local, remote, 1400))); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (Event, bool) {
		t.Helper()
		p.r.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := p.r.Read(events)
		if err != nil || n == 0 {
			return Event{}, false
		}
		return events[0], true
	}
	steps := []struct {
		mode    string
		mtu     uint16
		wantMTU int
		kept    bool
	}{
		{"1", 1300, 0, true},
		{"2", 1301, 0, false},
		{"3", 1302, 0, false},
		{"0", 1303, 1303, true},
	}
	discarded := 0
	for _, s := range steps {
		p.a.Run(t, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc="+s.mode)
		send(s.mtu)
		ev, ok := read()
		if ok != s.kept || (ok && ev.MTU != s.wantMTU) {
			t.Errorf("ip_no_pmtu_disc=%s, frag-needed mtu %d: got %v (read %v); want MTU %d, kept %v", s.mode, s.mtu, ev, ok, s.wantMTU, s.kept)
		}
		if !s.kept {
			discarded++
		}
	}
	if st := p.r.Stats(); st.Discarded != uint64(discarded) {
		t.Errorf("Stats.Discarded %d, want %d", st.Discarded, discarded)
	}
	// Other errors pass whatever the setting.
	p.a.Run(t, "sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=2")
	if err := p.s.WritePacket(packettest.Unreachable(router, local, header.CodeHostUnreachable, 0, ipipPacket(local, remote, 1400))); err != nil {
		t.Fatal(err)
	}
	if ev, ok := read(); !ok || ev.Code != header.CodeHostUnreachable {
		t.Errorf("host unreachable under ip_no_pmtu_disc=2: %v, read %v; want it passed", ev, ok)
	}
}
