package packetsock

import (
	"errors"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
)

// fakeResolver answers every destination with a path; stale names those
// whose neighbour entry it reports stale.
type fakeResolver struct{ stale map[uint32]bool }

func (r fakeResolver) Resolve(dst uint32) Path {
	p := peerPath
	p.Stale = r.stale[dst]
	return p
}

// fakeFallback records the packets handed to it.
type fakeFallback struct{ got [][]byte }

func (f *fakeFallback) Write(pkts [][]byte) (int, error) {
	f.got = append(f.got, pkts...)
	return len(pkts), nil
}

// fakeWire replaces sendmmsg: each call sends at most limits[call] frames
// (all when the list is used up) or fails with errs[call], and records the
// first byte address of every frame sent, in order.
type fakeWire struct {
	limits []int
	errs   []syscall.Errno
	calls  int
	sent   []*byte
}

func (w *fakeWire) sendmmsg(_ uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno, bool) {
	call := w.calls
	w.calls++
	if call < len(w.errs) && w.errs[call] != 0 {
		return 0, w.errs[call], true
	}
	n := len(hdrs)
	if call < len(w.limits) {
		n = min(n, w.limits[call])
	}
	for _, h := range hdrs[:n] {
		w.sent = append(w.sent, h.Hdr.Iov.Base)
	}
	return n, 0, true
}

// newFakeSender is a Sender whose resolver, fallback and sendmmsg are
// fakes; only its packet socket is real (it needs CAP_NET_RAW).
func newFakeSender(t *testing.T, r Resolver) (*Sender, *fakeFallback, *fakeWire) {
	t.Helper()
	lab.Require(t)
	fb := &fakeFallback{}
	s, err := NewSender(Options{Fallback: fb, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &fakeWire{}
	s.syscall = w.sendmmsg
	return s, fb, w
}

func ipip(dst uint32, id uint16) []byte {
	pkt := make([]byte, 40)
	header.IPv4(pkt).Encode(&header.Fields{TotalLength: 40, ID: id, TTL: 64, Protocol: header.ProtocolIPIP, Src: 0x0af50701, Dst: dst})
	return pkt
}

// resolve writes packets to each dst until the fake resolver's answers are
// in, then forgets what the fakes recorded.
func resolve(t *testing.T, s *Sender, fb *fakeFallback, w *fakeWire, dsts ...uint32) {
	t.Helper()
	for _, dst := range dsts {
		deadline := time.Now().Add(2 * time.Second)
		for {
			before := len(w.sent)
			if _, err := s.Write([][]byte{ipip(dst, 0)}); err != nil {
				t.Fatal(err)
			}
			if len(w.sent) > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%#x never resolved", dst)
			}
			time.Sleep(time.Millisecond)
		}
	}
	fb.got, w.sent, w.calls = nil, nil, 0
}

// sendmmsg may send part of a batch; the rest must follow, each frame once
// and in order, however many partial sends come in a row.
func TestWriteAfterPartialSends(t *testing.T) {
	s, fb, w := newFakeSender(t, fakeResolver{})
	const dst = 0x0af50702
	resolve(t, s, fb, w, dst)
	w.limits = []int{2, 1, 3}
	var pkts [][]byte
	for i := range 10 {
		pkts = append(pkts, ipip(dst, uint16(i)))
	}
	if n, err := s.Write(pkts); n != 10 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if len(w.sent) != 10 {
		t.Fatalf("%d frames sent for 10 packets", len(w.sent))
	}
	for i, p := range w.sent {
		if p != unsafe.SliceData(pkts[i]) {
			t.Fatalf("frame %d is not packet %d: lost, repeated or out of order", i, i)
		}
	}
}

// A stale neighbour's confirming packet goes through the fallback even in
// the middle of a batch, after packets to another destination.
func TestStaleConfirmationMidBatch(t *testing.T) {
	const dst1, dst2 = 0x0af50702, 0x0af50703
	s, fb, w := newFakeSender(t, fakeResolver{stale: map[uint32]bool{dst2: true}})
	resolve(t, s, fb, w, dst1)
	// dst2's first answer is stale: its next packet is the confirming one.
	for deadline := time.Now().Add(2 * time.Second); ; {
		s.Write([][]byte{ipip(dst1, 0)})
		s.mu.Lock()
		e := s.paths.entries[dst2]
		s.mu.Unlock()
		if e == nil {
			s.Write([][]byte{ipip(dst2, 0)}) // the first ever: through the fallback, and asks
			continue
		}
		if e.resolvedAt != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dst2 never resolved")
		}
		time.Sleep(time.Millisecond)
	}
	fb.got, w.sent = nil, nil
	batch := [][]byte{ipip(dst1, 1), ipip(dst1, 2), ipip(dst2, 3), ipip(dst2, 4)}
	if n, err := s.Write(batch); n != 4 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if len(fb.got) != 1 || unsafe.SliceData(fb.got[0]) != unsafe.SliceData(batch[2]) {
		t.Fatalf("%d packets through the fallback; want exactly dst2's first", len(fb.got))
	}
	if len(w.sent) != 3 {
		t.Fatalf("%d frames sent direct, want 3", len(w.sent))
	}
}

// A full queue (ENOBUFS) drops the packet and says nothing about the path;
// a device that is gone (ENXIO) makes the Sender ask the kernel again.
func TestWriteErrorsAndThePath(t *testing.T) {
	const dst = 0x0af50702
	for _, tt := range []struct {
		errno  syscall.Errno
		forget bool
	}{{unix.ENOBUFS, false}, {unix.ENXIO, true}, {unix.ENETDOWN, true}} {
		s, fb, w := newFakeSender(t, fakeResolver{})
		resolve(t, s, fb, w, dst)
		w.errs = []syscall.Errno{tt.errno}
		n, err := s.Write([][]byte{ipip(dst, 1), ipip(dst, 2)})
		if n != 0 || !errors.Is(err, tt.errno) {
			t.Fatalf("%v: Write = %d, %v; want 0 and the errno for the first packet", tt.errno, n, err)
		}
		s.Write([][]byte{ipip(dst, 3)})
		if forgot := len(fb.got) == 1; forgot != tt.forget {
			t.Errorf("%v: the next packet went through the fallback: %v, want %v", tt.errno, forgot, tt.forget)
		}
	}
}
