package rawsock_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// BenchmarkXNetReadBatch runs BenchmarkWriteRead's loop (64-byte inner
// packets) with golang.org/x/net/ipv4's ReadBatch as the receiver instead of
// Receiver, to measure what it costs. It backs the choice explained in the
// package comment: compare its allocs/op with BenchmarkWriteRead's 0.
func BenchmarkXNetReadBatch(b *testing.B) {
	for _, parse := range []bool{false, true} {
		name := "ReadBatch"
		if parse {
			name = "ReadBatch+ControlMessage.Parse"
		}
		b.Run(name, func(b *testing.B) {
			l := newLink(b, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
			l.r.Close() // every raw socket gets a copy: keep only the x/net one
			var conn *ipv4.PacketConn
			err := l.b.Do(func() error {
				c, err := net.ListenPacket("ip4:4", "0.0.0.0")
				if err != nil {
					return err
				}
				conn = ipv4.NewPacketConn(c)
				return conn.SetControlMessage(ipv4.FlagInterface, true)
			})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()

			pkts := ipipBatch(64)
			msgs := make([]ipv4.Message, len(pkts))
			for i := range msgs {
				msgs[i].Buffers = [][]byte{make([]byte, rawsock.MaxPacketSize)}
				msgs[i].OOB = ipv4.NewControlMessage(ipv4.FlagInterface)
			}
			var cm ipv4.ControlMessage
			conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
			roundTrips(b, func(k int) error {
				_, err := l.s.Write(pkts[:k])
				return err
			}, func() (int, error) {
				n, err := conn.ReadBatch(msgs, 0)
				if err != nil || !parse {
					return n, err
				}
				for i := range n {
					if err := cm.Parse(msgs[i].OOB[:msgs[i].NN]); err != nil || cm.IfIndex != l.vbLink {
						return n, fmt.Errorf("ifindex %d, %v", cm.IfIndex, err)
					}
				}
				return n, nil
			})
		})
	}
}
