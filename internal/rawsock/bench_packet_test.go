package rawsock_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
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

			to := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: htons(unix.ETH_P_IP), Ifindex: int32(ifindex), Halen: 6}
			copy(to.Addr[:], mac)
			pkts := ipipBatch(1400)
			hdrs := make([]unix.Mmsghdr, len(pkts))
			iovs := make([]unix.Iovec, len(pkts))
			for i, pkt := range pkts {
				iovs[i].Base = unsafe.SliceData(pkt)
				iovs[i].SetLen(len(pkt))
				hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&to))
				hdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
				hdrs[i].Hdr.Iov = &iovs[i]
				hdrs[i].Hdr.SetIovlen(1)
			}
			b.SetBytes(int64(len(pkts[0])))
			roundTrips(b, func(k int) error {
				for sent := 0; sent < k; {
					n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
						uintptr(unsafe.Pointer(&hdrs[sent])), uintptr(k-sent), 0, 0, 0)
					if errno != 0 {
						return errno
					}
					sent += int(n)
				}
				return nil
			}, l.benchRead())
		})
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
