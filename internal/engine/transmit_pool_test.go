package engine

import (
	"os"
	"sync"
	"testing"
	"time"
)

// waitingDevice is a fake TUN that says when it has packets (tun.Waiter),
// as both real backends do.
type waitingDevice struct {
	name   string
	mu     sync.Mutex
	in     [][]byte
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newWaitingDevice(name string) *waitingDevice {
	return &waitingDevice{name: name, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (d *waitingDevice) push(pkts ...[]byte) {
	d.mu.Lock()
	d.in = append(d.in, pkts...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *waitingDevice) Readable() bool {
	select {
	case <-d.closed:
		return true
	default:
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.in) > 0
}

func (d *waitingDevice) WaitReadable() error {
	for !d.Readable() {
		select {
		case <-d.wake:
		case <-d.closed:
		}
	}
	select {
	case <-d.closed:
		return os.ErrClosed
	default:
		return nil
	}
}

func (d *waitingDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case <-d.closed:
		return 0, os.ErrClosed
	default:
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for n < len(bufs) && len(d.in) > 0 {
		sizes[n] = copy(bufs[n][offset:], d.in[0])
		d.in = d.in[1:]
		n++
	}
	return n, nil
}

func (d *waitingDevice) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (d *waitingDevice) BatchSize() int                               { return 4 }
func (d *waitingDevice) Name() string                                 { return d.name }
func (d *waitingDevice) Close() error                                 { d.once.Do(func() { close(d.closed) }); return nil }

// An idle transmit loop holds no batch buffers: it borrows a set from the
// engine's pool when its device has packets and gives it back once the
// device is idle again, so the memory of 10 000 mostly idle tunnels is that
// of the few loops busy at once. The loop still sends everything.
func TestTransmitLendsBatchBuffers(t *testing.T) {
	e, _, send := newTestEngine(t, meshYAML)
	st := e.state.Load()
	rt := runtimeOf(st, "p2p")
	dev := newWaitingDevice("p2p")
	rt.dev = dev
	b := newTunnelBuffers(1)
	go e.transmit(rt, b)
	defer func() {
		dev.Close()
		<-rt.done
	}()
	pool := e.batchPoolFor(dev.BatchSize())

	for round := 1; round <= 3; round++ {
		// More than one read's worth: the loop keeps its set between reads
		// that find packets waiting.
		for range 10 {
			dev.push(innerPacket("172.16.0.1", "172.16.9.9", 100, true))
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(pool.free) != 1 || dev.Readable() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the idle loop did not give its batch buffers back (%d free in the pool)", round, len(pool.free))
			}
			time.Sleep(time.Millisecond)
		}
		// Taking the set orders this read after the loop's sends.
		pool.put(<-pool.free)
		if got := len(send.sent); got != 10*round {
			t.Fatalf("round %d: %d packets sent, want %d", round, got, 10*round)
		}
		if made := len(pool.made); made != 1 {
			t.Errorf("round %d: the pool made %d sets for one loop, want 1", round, made)
		}
	}
}
