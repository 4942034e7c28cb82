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

// TestICMPGlobalLimit: icmp_global_allow refills msgs_per_sec a second, at
// most msgs_burst, in steps of at least 20 ms, and each message sent costs
// 0, 1 or 2 credits (1 on average).
func TestICMPGlobalLimit(t *testing.T) {
	var g icmpGlobal
	g.setLimits(1000, 50)
	now := time.Unix(1000, 0).UnixNano()
	sent := 0
	for i := 0; i < 10000; i++ {
		if g.allow(now) {
			g.consume()
			sent++
		}
	}
	if sent < 25 || sent > 100 {
		t.Fatalf("%d sent at one instant, want about the burst of 50", sent)
	}
	if g.allow(now + int64(10*time.Millisecond)) {
		t.Fatal("refilled within 20 ms")
	}
	if !g.allow(now + int64(30*time.Millisecond)) {
		t.Fatal("not refilled after 30 ms")
	}
	var none icmpGlobal
	none.setLimits(0, 50)
	if none.allow(now) {
		t.Fatal("allowed with icmp_msgs_per_sec 0")
	}
}
