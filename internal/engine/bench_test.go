package engine

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/encap"
)

// BenchmarkTransmitBatch and BenchmarkReceiveBatch run the engine's loops
// over in-memory fakes of the TUN and the raw socket: the per-packet cost
// of everything between the two syscalls (state load, route lookup, encap
// or decap, counters, queueing). One op is one packet.
func BenchmarkTransmitBatch(b *testing.B) {
	e, devs, send := newTestEngine(b, meshYAML)
	send.keep = false
	devs["tunl0"].keep = false
	rt := runtimeOf(e.state.Load(), "tunl0")
	tb := newTransmitBuffers(64, 1)
	pkt := innerPacket("192.168.41.0", "192.168.42.7", 1400, true)
	for i := 0; i < 64; i++ {
		copy(tb.bufs[i][encap.Headroom:], pkt)
		tb.sizes[i] = len(pkt)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		e.transmitBatch(rt, tb, 64)
	}
}

func BenchmarkReceiveBatch(b *testing.B) {
	e, devs, send := newTestEngine(b, meshYAML)
	send.keep = false
	for _, d := range devs {
		d.keep = false
	}
	rb := newReceiveBuffers(64, time.Second)
	opkt := outerPacket("10.245.1.3", "10.245.1.2", innerPacket("192.168.42.0", "192.168.41.0", 1400, true))
	for i := 0; i < 64; i++ {
		rb.batch.Sizes[i] = copy(rb.batch.Bufs[i], opkt)
		rb.batch.Links[i] = 2
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		e.receiveBatch(send, rb, 64)
	}
}
