package tun

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// A Waiter says not readable on an idle device, wakes once the kernel
// routes a datagram into it, leaves the datagram for Read, and after Close
// says closed.
func TestWaitReadable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		w, ok := dev.(Waiter)
		if !ok {
			t.Fatalf("%T is not a Waiter", dev)
		}
		// The kernel may send something of its own into a device just
		// brought up; read it away first.
		for w.Readable() {
			bufs, sizes := newBatch(dev.BatchSize())
			dev.Read(bufs, sizes, testOffset)
		}
		woken := make(chan error, 1)
		go func() { woken <- w.WaitReadable() }()
		select {
		case err := <-woken:
			t.Fatalf("WaitReadable returned %v on an idle device", err)
		case <-time.After(100 * time.Millisecond):
		}
		conn := dialPeer(t, 40001)
		if _, err := conn.Write([]byte("ipipd tun wait test")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-woken:
			if err != nil {
				t.Fatalf("WaitReadable = %v, want nil", err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("WaitReadable still blocked %v after a datagram was routed into the device", testTimeout)
		}
		if !w.Readable() {
			t.Errorf("Readable() = false with a datagram waiting")
		}
		readOneMatching(t, dev, isUDPTo(40001))

		// A wait that began on an idle device ends with Close.
		go func() { woken <- w.WaitReadable() }()
		time.Sleep(50 * time.Millisecond)
		dev.Close()
		select {
		case err := <-woken:
			if !IsClosed(err) {
				t.Errorf("WaitReadable after Close = %v, want a closed error", err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("WaitReadable still blocked %v after Close", testTimeout)
		}
	})
}

// A wait that began on an idle device ends, closed, when the device is
// deleted from outside (ip link del, or ipipd deleting many at once).
func TestWaitReadableEndsClosedWhenTheDeviceIsDeleted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		w := dev.(Waiter)
		woken := make(chan error, 1)
		go func() { woken <- w.WaitReadable() }()
		time.Sleep(50 * time.Millisecond)
		link, err := netlink.LinkByName(dev.Name())
		if err == nil {
			err = netlink.LinkDel(link)
		}
		if err != nil {
			t.Fatalf("ip link del %s: %v", dev.Name(), err)
		}
		select {
		case err := <-woken:
			if !IsClosed(err) {
				t.Errorf("WaitReadable after the device was deleted = %v, want a closed error", err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("WaitReadable still blocked %v after the device was deleted", testTimeout)
		}
	})
}

// Asking and waiting allocate nothing: a lightly loaded loop asks once a
// packet.
func TestWaiterAllocatesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		w := dev.(Waiter)
		if n := testing.AllocsPerRun(200, func() { w.Readable() }); n != 0 {
			t.Errorf("Readable: %.1f allocations a call, want 0", n)
		}
		conn := dialPeer(t, 40002)
		if _, err := conn.Write([]byte("ipipd tun wait alloc test")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(testTimeout)
		for !w.Readable() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		// A packet is waiting: each wait returns at once.
		if n := testing.AllocsPerRun(200, func() {
			if err := w.WaitReadable(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("WaitReadable: %.1f allocations a call, want 0", n)
		}
	})
}
