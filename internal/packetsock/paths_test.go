package packetsock

import "testing"

var peerPath = Path{Ifindex: 3, MAC: [6]byte{2, 0, 0, 0, 0, 2}, Src: 0x0af50701, Usable: true}

// answerNow plays the resolver for one queued request.
func answerNow(t *testing.T, p *paths, path Path, at int64) uint32 {
	t.Helper()
	select {
	case req := <-p.requests:
		p.answers <- answer{request: req, path: path, foundAt: at}
		p.apply()
		return req.dst
	default:
		t.Fatal("no request queued")
		return 0
	}
}

func noRequest(t *testing.T, p *paths) {
	t.Helper()
	select {
	case req := <-p.requests:
		t.Fatalf("unexpected request for %#x", req.dst)
	default:
	}
}

func TestLookupLifecycle(t *testing.T) {
	p := newTestPaths()
	const dst = 0x0af50702
	const s = int64(1e9)

	if _, ok := p.lookup(dst, 1); ok {
		t.Fatal("a destination never resolved is usable")
	}
	if _, ok := p.lookup(dst, 2); ok {
		t.Fatal("usable before the answer")
	}
	answerNow(t, p, peerPath, 3) // one request for both packets
	noRequest(t, p)

	if got, ok := p.lookup(dst, 4); !ok || got != peerPath {
		t.Fatalf("after the answer: %+v %v", got, ok)
	}
	noRequest(t, p)

	// Old: asked again, still used meanwhile.
	if _, ok := p.lookup(dst, 3+s); !ok {
		t.Fatal("a path being refreshed is not used")
	}
	select {
	case <-p.requests:
	default:
		t.Fatal("no refresh requested after refreshAfter")
	}
	// No answer for a long time: no longer used, asked again.
	if _, ok := p.lookup(dst, 3+5*s); ok {
		t.Fatal("a path past expireAfter is still used")
	}
	answerNow(t, p, peerPath, 3+5*s)
	if _, ok := p.lookup(dst, 4+5*s); !ok {
		t.Fatal("not used after a fresh answer")
	}
}

func TestLookupUnusableAndStale(t *testing.T) {
	p := newTestPaths()
	const dst = 0x0af50703
	p.lookup(dst, 1)
	answerNow(t, p, Path{}, 2)
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("an unusable path is used")
	}
	noRequest(t, p)
	p.lookup(dst, 2+int64(1e9)) // asked again after refreshAfter
	stale := peerPath
	stale.Stale = true
	answerNow(t, p, stale, 3+int64(1e9))
	// Until a packet is handed to the fallback, every lookup says fallback:
	// a batch that looks a packet up twice must not lose the confirmation.
	for range 2 {
		if _, ok := p.lookup(dst, 4+int64(1e9)); ok {
			t.Fatal("a packet after a stale answer goes direct before one went through the fallback")
		}
	}
	p.fellBack(dst)
	if _, ok := p.lookup(dst, 5+int64(1e9)); !ok {
		t.Fatal("the packet after the confirming one does not go direct")
	}
}

func TestForgetAsksAgain(t *testing.T) {
	p := newTestPaths()
	const dst = 0x0af50704
	p.lookup(dst, 1)
	answerNow(t, p, peerPath, 2)
	p.forget(dst)
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("a forgotten path is used")
	}
	answerNow(t, p, peerPath, 4)
	// An answer to a request made before the destination was forgotten is
	// not applied to the entry made after: it may name a deleted device.
	p.lookup(dst, 4+int64(1e9))
	old := <-p.requests
	p.forget(dst)
	p.lookup(dst, 5+int64(1e9)) // a new entry, a new request
	p.answers <- answer{request: old, path: peerPath, foundAt: 6 + int64(1e9)}
	p.apply()
	if _, ok := p.lookup(dst, 7+int64(1e9)); ok {
		t.Fatal("an answer to a request from before forget was applied")
	}
	answerNow(t, p, peerPath, 8+int64(1e9))
	if _, ok := p.lookup(dst, 9+int64(1e9)); !ok {
		t.Fatal("the answer to the new request was not applied")
	}
}

func TestLookupNeverBlocks(t *testing.T) {
	p := newTestPaths()
	for i := range queueSize + 10 { // more destinations than the queue holds, nobody resolving
		p.lookup(uint32(i+1), 1)
	}
	if len(p.requests) != queueSize {
		t.Fatalf("%d requests queued, want the queue's %d", len(p.requests), queueSize)
	}
	// The ones that did not fit are asked for after retryAfter.
	for range queueSize {
		<-p.requests
	}
	p.lookup(uint32(queueSize+5), 1+retryAfter)
	if len(p.requests) != 1 {
		t.Fatalf("%d requests after retryAfter, want 1", len(p.requests))
	}
}

func TestCacheIsBounded(t *testing.T) {
	p := newTestPaths()
	for i := range maxPaths + 1 {
		p.lookup(uint32(i+1), 1)
		select {
		case <-p.requests:
		default:
		}
	}
	if len(p.entries) > maxPaths {
		t.Fatalf("%d entries, more than maxPaths %d", len(p.entries), maxPaths)
	}
}

// newTestPaths is a cache with a queue of its own, which the test reads in
// the resolver's place.
func newTestPaths() *paths { return newPaths(make(chan request, queueSize)) }
