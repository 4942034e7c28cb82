package engine

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
)

// twoTunnelsYAML is two point-to-point tunnels: each has its own transmit
// loop, its own counters and its own socket.
const twoTunnelsYAML = `
tunnels:
  - name: p2pa
    local: 10.245.1.2
    remote: 10.245.1.3
  - name: p2pb
    local: 10.245.1.2
    remote: 10.245.1.4
`

// BenchmarkTransmitWorkers runs the transmit loop's body in 1 and then 2
// goroutines at once over in-memory fakes, each its own tunnel with its
// own buffers and socket, as the daemon runs one loop per tunnel: what
// the engine's own work gains from a second core when the traffic is
// spread over tunnels. One op is one packet of all the workers together,
// so pkts/s of workers=2 over workers=1 is the scaling. A single tunnel's
// flows are one loop: spreading them needs a multi-queue TUN (see
// docs/performance.md).
func BenchmarkTransmitWorkers(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			e, _ := newQuietEngine(b, twoTunnelsYAML)
			// Each loop its own socket, as the daemon opens one per loop.
			e.newSender = func(string, string, *Counters) Sender { return &fakeSender{} }
			st := e.state.Load()
			names := []string{"p2pa", "p2pb"}
			batches := make([]*transmitBuffers, workers)
			for w := range batches {
				batches[w] = fullTransmitBatch(innerPacket("172.16.0.1", "172.16.9.9", 1400, true))
			}
			rounds := b.N / (workers * fullBatch)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				rt := runtimeOf(st, names[w])
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds + 1 {
						e.transmitBatch(rt, batches[w], fullBatch)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((rounds+1)*workers*fullBatch)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkParallelControl is the machine's own scaling, the baseline for
// BenchmarkTransmitWorkers: 1 and then 2 goroutines each summing its own
// 1400-byte packet (the IPv4 checksum ipipd computes, over a buffer no
// other goroutine touches), with nothing shared at all. On a VM whose two
// vCPUs share one physical core, or whose host is busy, this scales below
// 2× too, and the loop's scaling is to be read against it. One op is one
// packet of all the workers together.
func BenchmarkParallelControl(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			bufs := make([][]byte, workers)
			for w := range bufs {
				bufs[w] = innerPacket("172.16.0.1", "172.16.9.9", 1400, true)
			}
			per := b.N / workers
			sums := make([]uint64, workers*8) // a cache line apart
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var s uint64
					for range per + 1 {
						s += uint64(header.Checksum(bufs[w], uint16(s)))
					}
					sums[w*8] = s
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((per+1)*workers)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
