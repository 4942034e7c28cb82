package packetsock_test

import (
	"bytes"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/packetsock"
	"github.com/ipipd/ipipd/internal/rawsock"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// Senders that share a PathFinder each add one descriptor, their packet
// socket, where a Sender with a finder of its own opens netlink sockets and
// subscriptions too; they all go direct from the one resolver, and a
// neighbour change the kernel announces reaches every one of them.
func TestSendersShareAFinder(t *testing.T) {
	l := newLink(t, true) // its own Sender: for the comparison of descriptors
	var finder *packetsock.PathFinder
	var raw *rawsock.Sender
	senders := make([]*packetsock.Sender, 9)
	direct := make([]atomic.Uint64, len(senders))
	var before, withOne, withAll, ownAfter int
	err := l.a.Do(func() (err error) {
		if raw, err = rawsock.NewSender(rawsock.SenderOptions{}); err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		before = openFDs(t)
		if finder, err = packetsock.NewPathFinder(packetsock.FinderOptions{}); err != nil {
			return err
		}
		t.Cleanup(func() { finder.Close() })
		for i := range senders {
			if senders[i], err = packetsock.NewSender(packetsock.Options{Finder: finder, Fallback: raw, Direct: &direct[i]}); err != nil {
				return err
			}
			t.Cleanup(func() { senders[i].Close() })
			if i == 0 {
				withOne = openFDs(t)
			}
		}
		withAll = openFDs(t)
		own, err := packetsock.NewSender(packetsock.Options{Fallback: raw})
		if err != nil {
			return err
		}
		ownAfter = openFDs(t)
		return own.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if per := float64(withAll-withOne) / float64(len(senders)-1); per != 1 {
		t.Errorf("each Sender sharing a finder opened %.2f descriptors, want 1 (finder and first Sender: %d)", per, withOne-before)
	}
	if own := ownAfter - withAll; own <= 1 {
		t.Errorf("a Sender with its own finder opened %d descriptors; the comparison is void", own)
	} else {
		t.Logf("descriptors: %d for a finder and its first Sender, 1 for each more; %d for a Sender with its own finder", withOne-before, own)
	}

	// Every Sender goes direct, each from its own cache.
	sendUntilDirect := func(i int) {
		t.Helper()
		before := direct[i].Load()
		for n := 0; direct[i].Load() == before; n++ {
			if n > 200 {
				t.Fatalf("sender %d: nothing went out on the packet socket", i)
			}
			if _, err := senders[i].Write([][]byte{packet(addrA, uint16(n))}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range senders {
		sendUntilDirect(i)
	}
	drain(t, l)

	// A failover: b's MAC changes, a's entry is replaced. Every Sender
	// must address the new MAC before its next refresh.
	const newMAC = "02:00:00:00:00:99"
	l.b.Run(t, "ip", "link", "set", "dev", "vb", "address", newMAC)
	l.a.Run(t, "ip", "neigh", "replace", addrB.String(), "lladdr", newMAC, "nud", "reachable", "dev", "va")
	time.Sleep(50 * time.Millisecond) // the notification's way to the caches
	senders[0].Close()                // one Sender leaves; the others keep the finder
	for i, s := range senders[1:] {
		pkt := packet(addrA, uint16(900+i))
		if _, err := s.Write([][]byte{pkt}); err != nil {
			t.Fatal(err)
		}
		if got := l.receive(t, 1); !bytes.Equal(got[0], pkt) {
			t.Fatalf("sender %d after the failover: b received %x, want %x", i+1, got[0], pkt)
		}
	}
}

// drain reads whatever b has received so far.
func drain(t *testing.T, l *link) {
	t.Helper()
	l.r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		if _, err := l.r.Read(l.batch); err != nil {
			return
		}
	}
}
