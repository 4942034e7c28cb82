package engine

import "testing"

// BenchmarkTransmitBatch and BenchmarkReceiveBatch run the engine's loops
// over in-memory fakes of the TUN and the raw socket: the per-packet cost
// of everything between the two syscalls (state load, route lookup, encap
// or decap, counters, queueing). One op is one packet.
func BenchmarkTransmitBatch(b *testing.B) {
	e, _ := newQuietEngine(b, meshYAML)
	rt := runtimeOf(e.state.Load(), "tunl0")
	tb := fullTransmitBatch(innerPacket("192.168.41.0", "192.168.42.7", 1400, true))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += fullBatch {
		e.transmitBatch(rt, tb, fullBatch)
	}
}

func BenchmarkReceiveBatch(b *testing.B) {
	e, send := newQuietEngine(b, meshYAML)
	rb := fullReceiveBatch(outerPacket("10.245.1.3", "10.245.1.2", innerPacket("192.168.42.0", "192.168.41.0", 1400, true)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += fullBatch {
		e.receiveBatch(send, rb, fullBatch)
	}
}
