package rawsock_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// BenchmarkWriteRead measures the round trip of batches of 64 protocol-4
// packets over the veth: Sender.Write in one namespace, Receiver.Read in the
// other, on one goroutine. One op is one packet; pkts/s is the rate.
//
// Most of the time is the kernel's: veth delivers in softirq on the sending
// CPU, so the sendmmsg of a batch returns only after the whole receive path
// (IPv4 input, raw delivery) ran for it, and the following Read finds all
// of it queued. The packet size hardly matters; the per-packet path does.
func BenchmarkWriteRead(b *testing.B) {
	for _, inner := range []int{64, 1400} {
		b.Run(fmt.Sprintf("inner=%d", inner), func(b *testing.B) {
			l := newLink(b, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
			const batchSize = rawsock.DefaultBatchSize
			pkts := make([][]byte, batchSize)
			for i := range pkts {
				pkts[i] = ipipPacket(addrA, addrB, uint16(i+1), true, inner)
			}
			batch := rawsock.NewBatch(batchSize, rawsock.MaxPacketSize)
			l.r.SetReadDeadline(time.Now().Add(10 * time.Minute))
			b.SetBytes(int64(len(pkts[0])))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(batchSize, b.N-done)
				if _, err := l.s.Write(pkts[:k]); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < k; {
					n, err := l.r.Read(batch)
					if err != nil {
						b.Fatalf("after %d of %d packets: %v", done+got, b.N, err)
					}
					got += n
				}
				done += k
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
