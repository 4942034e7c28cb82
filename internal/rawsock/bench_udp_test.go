package rawsock_test

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// BenchmarkUDPSegmentationBaseline moves the same bytes as
// BenchmarkWriteRead's inner=1400 case over the same veth, but as a UDP
// flow with the kernel's segmentation offloads: one sendmsg of 45 × 1428
// bytes (as many as fit a 64 KiB datagram) with UDP_SEGMENT, read back
// coalesced with UDP_GRO. One op is one
// 1428-byte datagram, so ns/op compares directly with BenchmarkWriteRead.
//
// It is the baseline that explains the fast-path figures: a userspace
// tunnel over UDP (WireGuard's, VXLAN-in-userspace) hands the kernel one
// super-packet per 45 datagrams, while a protocol-4 raw socket has no such
// offload and pays the kernel's per-packet path for every segment.
func BenchmarkUDPSegmentationBaseline(b *testing.B) {
	const (
		segment  = 1428            // the size of an outer packet of a 1400-byte inner one
		segments = 65507 / segment // 45: as many as the largest UDP payload holds
		port     = 47000
	)
	l := newLink(b, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	var tx, rx int
	if err := l.a.Do(func() (err error) {
		tx, err = udpSocket(addrA.As4(), port)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(tx)
	if err := l.b.Do(func() (err error) {
		if rx, err = udpSocket(addrB.As4(), port); err != nil {
			return err
		}
		if err = unix.SetsockoptInt(rx, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			return err
		}
		tv := unix.Timeval{Sec: 10}
		return unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(rx)

	payload := make([]byte, segment*segments)
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(unsafe.SliceData(oob)))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], segment)
	to := &unix.SockaddrInet4{Addr: addrB.As4(), Port: port}
	buf := make([]byte, 1<<16)
	rxOOB := make([]byte, 64)

	b.SetBytes(segment)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(segments, b.N-done)
		if err := unix.Sendmsg(tx, payload[:k*segment], oob, to, 0); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < k*segment; {
			n, _, _, _, err := unix.Recvmsg(rx, buf, rxOOB, 0)
			if err != nil {
				b.Fatalf("after %d of %d datagrams: %v", done+got/segment, b.N, err)
			}
			got += n
		}
		done += k
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

func udpSocket(addr [4]byte, port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr, Port: port}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
