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
			pkts := ipipBatch(inner)
			b.SetBytes(int64(len(pkts[0])))
			roundTrips(b, func(k int) error {
				_, err := l.s.Write(pkts[:k])
				return err
			}, l.benchRead())
		})
	}
}

// ipipBatch is a batch of rawsock.DefaultBatchSize packets from a to b
// with inner packets of inner bytes, numbered from 1.
func ipipBatch(inner int) [][]byte {
	pkts := make([][]byte, rawsock.DefaultBatchSize)
	for i := range pkts {
		pkts[i] = ipipPacket(addrA, addrB, uint16(i+1), true, inner)
	}
	return pkts
}

// benchRead returns a receive step for roundTrips: a Read of l's Receiver
// into one batch, reused so that the loop measures no allocation of its
// own, with a deadline far enough for any benchtime.
func (l *link) benchRead() func() (int, error) {
	batch := rawsock.NewBatch(rawsock.DefaultBatchSize, rawsock.MaxPacketSize)
	l.r.SetReadDeadline(time.Now().Add(10 * time.Minute))
	return func() (int, error) { return l.r.Read(batch) }
}

// roundTrips is the loop of the write-read benchmarks: b.N packets, a
// batch of at most rawsock.DefaultBatchSize at a time, each sent by
// send(k) and read back by calls of receive, which returns how many
// packets it got, before the next batch goes. It reports pkts/s.
func roundTrips(b *testing.B, send func(k int) error, receive func() (int, error)) {
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(rawsock.DefaultBatchSize, b.N-done)
		if err := send(k); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < k; {
			n, err := receive()
			if err != nil {
				b.Fatalf("after %d of %d packets: %v", done+got, b.N, err)
			}
			got += n
		}
		done += k
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
