package rawsock_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// BenchmarkPacketSocketWriteRead is BenchmarkWriteRead with the sender
// replaced by an AF_PACKET socket (SOCK_DGRAM: the kernel adds the
// Ethernet header for the peer's MAC address), which skips the raw
// socket's route lookup, netfilter's output hooks and neighbour output;
// with qdisc_bypass also the queueing discipline. The receiver is the same
// raw socket. It measures what a packet-socket transmit path could save
// per packet, before anyone builds one (with neighbour resolution, and
// without netfilter, which would make it an option rather than the rule).
func BenchmarkPacketSocketWriteRead(b *testing.B) {
	for _, bypass := range []bool{false, true} {
		b.Run(fmt.Sprintf("inner=1400/qdisc_bypass=%v", bypass), func(b *testing.B) {
			l := newLink(b, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
			mac, err := net.ParseMAC(strings.TrimSpace(l.b.Run(b, "cat", "/sys/class/net/vb/address")))
			if err != nil {
				b.Fatal(err)
			}
			ifindex := l.a.Ifindex(b, "va")
			var fd int
			if err := l.a.Do(func() (err error) {
				if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, 0); err != nil {
					return err
				}
				if bypass {
					return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fd)

			const batchSize = rawsock.DefaultBatchSize
			to := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IP), Ifindex: int32(ifindex), Halen: 6}
			copy(to.Addr[:], mac)
			hdrs := make([]unix.Mmsghdr, batchSize)
			iovs := make([]unix.Iovec, batchSize)
			for i := range hdrs {
				pkt := ipipPacket(addrA, addrB, uint16(i+1), true, 1400)
				iovs[i].Base = unsafe.SliceData(pkt)
				iovs[i].SetLen(len(pkt))
				hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&to))
				hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
				hdrs[i].Hdr.Iov = &iovs[i]
				hdrs[i].Hdr.SetIovlen(1)
			}
			batch := rawsock.NewBatch(batchSize, rawsock.MaxPacketSize)
			l.r.SetReadDeadline(time.Now().Add(10 * time.Minute))
			b.SetBytes(int64(iovs[0].Len))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(batchSize, b.N-done)
				for sent := 0; sent < k; {
					n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
						uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(k-sent), 0, 0, 0)
					if errno != 0 {
						b.Fatal(errno)
					}
					sent += int(n)
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

func htons(v uint16) uint16 { return v<<8 | v>>8 }
