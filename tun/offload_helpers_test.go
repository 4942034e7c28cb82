package tun

import (
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// goInNetns runs f in a new goroutine in the network namespace of the
// calling goroutine (which testnet.EnterFresh locked to its thread): a socket is
// created in the namespace of the thread that creates it, and a new goroutine
// may run on any thread. The goroutine's thread is locked and never unlocked,
// so it dies with the goroutine instead of serving others in this namespace.
func goInNetns(t *testing.T, f func()) {
	t.Helper()
	ns, err := netns.Get()
	if err != nil {
		t.Fatalf("get this thread's network namespace: %v", err)
	}
	go func() {
		defer ns.Close()
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			t.Errorf("enter the test's network namespace: %v", err)
			return
		}
		f()
	}()
}

// roomyPacketAt is packetAt with OffloadReadRoom bytes of capacity after the
// offset, the room GRO appends coalesced payloads into, as the datapath's
// receive buffers have.
func roomyPacketAt(pkt []byte) []byte {
	buf := make([]byte, testOffset+len(pkt), testOffset+OffloadReadRoom)
	fillHeadroom(buf)
	copy(buf[testOffset:], pkt)
	return buf
}
