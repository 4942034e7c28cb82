package outerlab

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Htons is a 16-bit value in network order, as socket(2) wants protocols.
func Htons(v uint16) uint16 { return v<<8 | v>>8 }

// MAC reads a device's address in a namespace.
func MAC(ns, dev string) (net.HardwareAddr, error) {
	out, err := Output("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address")
	if err != nil {
		return nil, err
	}
	return net.ParseMAC(strings.TrimSpace(out))
}

// Ifindex is a device's index in the calling thread's namespace.
func Ifindex(dev string) (int, error) {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return 0, err
	}
	return ifc.Index, nil
}

// PacketSocket opens an AF_PACKET SOCK_RAW socket bound to dev for IPv4
// frames, blocking, with a 4 MiB send buffer, and PACKET_VNET_HDR if vnet.
func PacketSocket(dev string, vnet bool) (int, error) {
	idx, err := Ifindex(dev)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(Htons(unix.ETH_P_IP)))
	if err != nil {
		return -1, err
	}
	if vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("PACKET_VNET_HDR: %w", err)
		}
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: Htons(unix.ETH_P_IP), Ifindex: idx}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// RawSender opens a blocking header-included raw IPv4 socket (what
// internal/rawsock.Sender opens, without the Go poller) with a 4 MiB
// send buffer.
func RawSender() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	return fd, nil
}

// RawReceiver opens a blocking protocol-4 raw socket with a 4 MiB receive
// buffer (what internal/rawsock.Receiver opens).
func RawReceiver() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, 4)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	return fd, nil
}

// Mmsg is a batch of messages over fixed buffers for sendmmsg/recvmmsg.
type Mmsg struct {
	Hdrs  []unix.Mmsghdr
	Iovs  []unix.Iovec
	Bufs  [][]byte
	Addrs []unix.RawSockaddrInet4
}

// NewMmsg makes n messages with buffers of size bytes; with addrs, each
// message carries an IPv4 destination (for raw sockets).
func NewMmsg(n, size int, addrs bool) *Mmsg {
	m := &Mmsg{Hdrs: make([]unix.Mmsghdr, n), Iovs: make([]unix.Iovec, n), Bufs: make([][]byte, n)}
	if addrs {
		m.Addrs = make([]unix.RawSockaddrInet4, n)
	}
	for i := range m.Hdrs {
		m.Bufs[i] = make([]byte, size)
		m.Iovs[i].Base = &m.Bufs[i][0]
		m.Iovs[i].SetLen(size)
		m.Hdrs[i].Hdr.Iov = &m.Iovs[i]
		m.Hdrs[i].Hdr.SetIovlen(1)
		if addrs {
			m.Addrs[i].Family = unix.AF_INET
			m.Hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&m.Addrs[i]))
			m.Hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		}
	}
	return m
}

// SetLen sets message i's length.
func (m *Mmsg) SetLen(i, n int) { m.Iovs[i].SetLen(n) }

// Call makes one sendmmsg or recvmmsg over the first n messages.
func (m *Mmsg) Call(trap uintptr, fd, n int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&m.Hdrs[0])), uintptr(n), 0, 0, 0)
	return int(r), e
}

// SetTimeout sets SO_RCVTIMEO.
func SetTimeout(fd int, ms int) {
	tv := unix.NsecToTimeval(int64(ms) * 1e6)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// EtherHeader writes dst, src, IPv4 ethertype at b[:14].
func EtherHeader(b []byte, dst, src net.HardwareAddr) {
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
}

// Fatal prints and exits with 1 (after the caller's cleanup, if it
// wraps).
func Fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}
