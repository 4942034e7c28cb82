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

// A read leaves room after it for the segments of a super-packet read
// last: 45 buffers at an MTU of 1480, 123 at 576, and at least one buffer
// is always read into.
func TestReadRoomLeavesRoomForTheSegments(t *testing.T) {
	e, _, _ := newTestEngine(t, twoTunnelsYAML)
	st := e.state.Load()
	rt := st.tunnels[0].rt
	for _, c := range []struct{ mtu, batch, want int }{
		{1480, 128, 128 - 46},
		{576, 128, 128 - 123},
		{576, 64, 1},
		{9000, 128, 128 - 8},
	} {
		st.tunnels[0].tunMTU = c.mtu
		if got := e.readRoom(rt, c.batch); got != c.want {
			t.Errorf("MTU %d, batch %d: read room %d, want %d", c.mtu, c.batch, got, c.want)
		}
	}
	if got := e.readRoom(newRuntime("gone", nil, nil), 128); got != 1 {
		t.Errorf("a tunnel being removed: read room %d, want 1", got)
	}
}
