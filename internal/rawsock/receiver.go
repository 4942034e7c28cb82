package rawsock

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ReceiverOptions configure NewReceiver. The zero value is usable.
type ReceiverOptions struct {
	// Dev, if set, binds the socket to this interface (SO_BINDTODEVICE), so
	// only packets that arrived on it are read.
	Dev string
	// ReadBuffer is the socket receive buffer in bytes; 0 means
	// DefaultSocketBuffer.
	ReadBuffer int
}

// Receiver reads IP protocol 4 packets, outer header included, in batches.
// Read may be called from several goroutines at once, each with its own
// Batch; the calls take turns on the socket and each packet goes to exactly
// one of them.
type Receiver struct {
	conn       *net.IPConn
	raw        syscall.RawConn
	readBuffer int
}

// NewReceiver opens a raw socket for IP protocol 4 in the calling thread's
// network namespace. It needs CAP_NET_RAW.
//
// Equivalent to: socket(AF_INET, SOCK_RAW, IPPROTO_IPIP) with
// SO_BINDTODEVICE, SO_RCVBUFFORCE (or SO_RCVBUF) and IP_PKTINFO set.
func NewReceiver(opts ReceiverOptions) (*Receiver, error) {
	if opts.ReadBuffer == 0 {
		opts.ReadBuffer = DefaultSocketBuffer
	}
	r := &Receiver{}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, func(fd int) error {
			if err := bindToDevice(fd, opts.Dev); err != nil {
				return err
			}
			size, err := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, opts.ReadBuffer)
			if err != nil {
				return err
			}
			r.readBuffer = size
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip4:4", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("rawsock: opening protocol-4 receive socket: %w", err)
	}
	r.conn = pc.(*net.IPConn)
	if r.raw, err = r.conn.SyscallConn(); err != nil {
		r.conn.Close()
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	return r, nil
}

// Read fills b (made by NewBatch) with as many queued packets as fit, at
// least one (it blocks until one arrives), and returns how many. Packet i is
// b.Bufs[i][:b.Sizes[i]], starting with its outer IPv4 header, and arrived
// on ifindex b.Links[i]. The packets belong to the caller until its next
// Read into b.
//
// Read returns n > 0 with a nil error, or 0 with an error: after Close it
// wraps net.ErrClosed, after a deadline os.ErrDeadlineExceeded; any other
// error is a socket failure, not a bad packet. Read allocates nothing unless
// it fails.
func (r *Receiver) Read(b *Batch) (int, error) { return b.ReadFrom(r.raw, len(b.Bufs)) }

// SetReadDeadline makes a blocked or later Read fail with
// os.ErrDeadlineExceeded at t; the zero time means no deadline.
func (r *Receiver) SetReadDeadline(t time.Time) error { return r.conn.SetReadDeadline(t) }

// ReadBuffer returns the receive buffer size the kernel reported after
// NewReceiver set it (twice the granted request, as socket(7) says).
func (r *Receiver) ReadBuffer() int { return r.readBuffer }

// Close closes the socket; blocked Reads return an error wrapping
// net.ErrClosed.
func (r *Receiver) Close() error { return r.conn.Close() }
