package netsetup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// messagesPerWrite is how many requests go in one sendmsg: the kernel
// handles every message of the buffer in turn and acknowledges each.
const messagesPerWrite = 256

// batchReceiveBuffer holds the acknowledgements of one write with room to
// spare. The kernel queues them all before sendmsg returns, and charges
// each 800-900 bytes against the receive buffer: the default 208 KiB holds
// about 240-256 of them, and one over is lost (ENOBUFS). A variable so that
// a test can make it overflow.
var batchReceiveBuffer = 1 << 20

// Answers netlinkBatch gives for requests whose outcome it does not know.
const (
	// AnswerLost: sent, and carried out or not, but its acknowledgement
	// was lost (the receive buffer overflowed).
	AnswerLost = unix.ENOBUFS
	// AnswerNotSent: never sent, since the socket failed first.
	AnswerNotSent = unix.ECANCELED
)

// netlinkBatch sends msgs, each one rtnetlink request with NLM_F_ACK, many
// to a system call on a socket of its own in the calling thread's network
// namespace, and returns each one's answer: 0 when done, else the kernel's
// errno, or AnswerLost or AnswerNotSent when it cannot tell. A request per
// system call, with its own wait for the answer, cost 41 µs a route; most
// of it was the round trip. The error is for the socket itself.
func netlinkBatch(msgs [][]byte) ([]syscall.Errno, error) {
	answers := make([]syscall.Errno, len(msgs))
	if len(msgs) == 0 {
		return answers, nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return mark(answers, 0, len(answers), AnswerNotSent), fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// FORCE past rmem_max needs CAP_NET_ADMIN, which ipipd has; without
	// it, as much as rmem_max allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchReceiveBuffer) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, batchReceiveBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return mark(answers, 0, len(answers), AnswerNotSent), fmt.Errorf("netlink socket: %w", err)
	}
	buf := make([]byte, 0, 64*messagesPerWrite)
	rb := make([]byte, 64<<10)
	var lost error
	for first := 0; first < len(msgs); first += messagesPerWrite {
		batch := msgs[first:min(len(msgs), first+messagesPerWrite)]
		bySeq := make(map[uint32]int, len(batch))
		buf = buf[:0]
		for i, m := range batch {
			bySeq[binary.NativeEndian.Uint32(m[8:12])] = first + i
			buf = append(buf, m...)
		}
		if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			// The kernel may have carried out some before it failed.
			mark(answers, first, first+len(batch), AnswerLost)
			return mark(answers, first+len(batch), len(answers), AnswerNotSent),
				fmt.Errorf("netlink: sending %d requests: %w", len(batch), err)
		}
		for len(bySeq) > 0 {
			flags := 0
			if lost != nil {
				flags = unix.MSG_DONTWAIT // what is left of the queue, no more
			}
			n, _, err := unix.Recvfrom(fd, rb, flags)
			if err == unix.EINTR {
				continue
			}
			if err == unix.ENOBUFS {
				lost = fmt.Errorf("netlink: the kernel's answers overflowed the receive buffer (%d bytes)", batchReceiveBuffer)
				continue
			}
			if err != nil {
				if !errors.Is(err, unix.EAGAIN) {
					lost = fmt.Errorf("netlink: reading the kernel's answers: %w", err)
				}
				break
			}
			replies, err := syscall.ParseNetlinkMessage(rb[:n])
			if err != nil {
				lost = fmt.Errorf("netlink: reading the kernel's answers: %w", err)
				break
			}
			for _, r := range replies {
				i, ok := bySeq[r.Header.Seq]
				if r.Header.Type != unix.NLMSG_ERROR || len(r.Data) < 4 || !ok {
					continue
				}
				delete(bySeq, r.Header.Seq)
				answers[i] = syscall.Errno(-int32(binary.NativeEndian.Uint32(r.Data)))
			}
		}
		for _, i := range bySeq {
			answers[i] = AnswerLost
		}
		if lost != nil {
			// The socket's state is unknown: what is left goes unsent, for
			// the caller to do another way.
			return mark(answers, first+len(batch), len(answers), AnswerNotSent), lost
		}
	}
	return answers, nil
}

// mark sets answers[from:to] to errno and returns answers.
func mark(answers []syscall.Errno, from, to int, errno syscall.Errno) []syscall.Errno {
	for i := from; i < to; i++ {
		answers[i] = errno
	}
	return answers
}
