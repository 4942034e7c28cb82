package engine

import (
	"testing"
	"time"
)

// An armed trim waits until Views stop coming for trimSettle, then fires
// once; Views with nothing armed, or after stop, fire nothing.
func TestHeapTrimWaitsForTheViewToSettle(t *testing.T) {
	var h heapTrim
	h.viewed() // nothing armed: no timer
	if h.timer != nil {
		t.Fatal("a View with no trim armed started a timer")
	}
	h.arm()
	for range 3 {
		time.Sleep(trimSettle / 2)
		h.viewed()
		h.mu.Lock()
		armed := h.armed
		h.mu.Unlock()
		if !armed {
			t.Fatal("the trim fired while Views kept coming")
		}
	}
	deadline := time.Now().Add(3 * trimSettle)
	for {
		h.mu.Lock()
		armed := h.armed
		h.mu.Unlock()
		if !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trim did not fire %v after the last View", 3*trimSettle)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.arm()
	h.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed {
		t.Error("stop left the trim armed")
	}
}

// Views that never stop put a trim off for trimLatest at most.
func TestHeapTrimFiresUnderEndlessViews(t *testing.T) {
	var h heapTrim
	h.arm()
	h.mu.Lock()
	h.armedAt = time.Now().Add(-trimLatest) // armed that long ago
	h.mu.Unlock()
	deadline := time.Now().Add(3 * trimSettle)
	for {
		h.viewed()
		h.mu.Lock()
		armed := h.armed
		h.mu.Unlock()
		if !armed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Views every 100 ms kept a trim armed %v ago from firing", trimLatest)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
