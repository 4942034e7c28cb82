package engine

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// failingDevice fails every Read without taking the packet, as an offload
// device whose offloads cannot be set up does, until it is closed.
type failingDevice struct {
	reads  atomic.Int64
	closed atomic.Bool
}

func (d *failingDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.reads.Add(1)
	if d.closed.Load() {
		return 0, os.ErrClosed
	}
	return 0, errors.New("no descriptor left for the offloads")
}
func (d *failingDevice) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (d *failingDevice) BatchSize() int                               { return 4 }
func (d *failingDevice) Name() string                                 { return "fail0" }
func (d *failingDevice) Close() error                                 { d.closed.Store(true); return nil }

// A read that keeps failing does not spin: the loop backs off, up to a
// second between tries, and still ends when the device closes.
func TestTransmitLoopBacksOffOnReadErrors(t *testing.T) {
	e, _, _ := newTestEngine(t, twoTunnelsYAML)
	dev := &failingDevice{}
	rt := newRuntime("fail0", dev, nil)
	done := make(chan struct{})
	go func() {
		e.transmit(rt, newTunnelBuffers(1))
		close(done)
	}()
	time.Sleep(500 * time.Millisecond)
	if n := dev.reads.Load(); n > 20 {
		t.Errorf("%d reads in 500 ms of failures: the loop spins", n)
	}
	dev.Close()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the loop did not end within 3 s of the device closing")
	}
}
