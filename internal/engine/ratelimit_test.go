package engine

import (
	"testing"
	"time"
)

func TestICMPLimiter(t *testing.T) {
	l := newICMPLimiter(time.Second)
	now := time.Unix(1000, 0)
	allowed := 0
	for i := 0; i < 20; i++ {
		if l.allow(1, now) {
			allowed++
		}
	}
	if allowed != icmpBurst {
		t.Fatalf("burst of %d allowed, want %d", allowed, icmpBurst)
	}
	if l.allow(1, now.Add(500*time.Millisecond)) {
		t.Fatal("allowed before a token refilled")
	}
	if !l.allow(1, now.Add(1100*time.Millisecond)) {
		t.Fatal("refused after a second")
	}
	if !l.allow(2, now) {
		t.Fatal("another destination is limited by the first")
	}
	for i := uint32(10); i < 10+maxPeers+10; i++ {
		l.allow(i, now)
	}
	if len(l.peers) > maxPeers {
		t.Fatalf("%d peers kept, bound is %d", len(l.peers), maxPeers)
	}
}
