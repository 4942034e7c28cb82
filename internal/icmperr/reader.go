package icmperr

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/rawsock"
	"golang.org/x/sys/unix"
)

// Reader reads ICMP errors about outer IPIP packets, in batches, from a raw
// ICMP socket that carries Filter. Read may be called from several
// goroutines; the calls take turns.
type Reader struct {
	conn *net.IPConn
	raw  syscall.RawConn

	mu    sync.Mutex // serialises Reads over batch
	batch *rawsock.Batch

	received, events, truncated atomic.Uint64
}

// Stats counts what the Reader's socket delivered since NewReader.
type Stats struct {
	// Received is every datagram that passed the BPF filter and was read.
	Received uint64
	// Events is how many of them Parse accepted and Read returned.
	Events uint64
	// Truncated is how many were longer than the receive buffer (and so
	// failed Parse): a router quoting more than RFC 1812's 576 bytes.
	Truncated uint64
}

// NewReader opens a raw ICMP socket in the calling thread's network
// namespace, with IP_PKTINFO on and Filter attached. It needs CAP_NET_RAW.
//
// Equivalent to: socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) with IP_PKTINFO
// and SO_ATTACH_FILTER set.
//
// A raw socket receives from the moment it exists (raw sockets are hashed
// at creation), so a datagram may be queued before the filter is attached;
// Read runs Parse on everything, so such a datagram is read and dropped.
func NewReader() (*Reader, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var ferr error
		err := c.Control(func(fd uintptr) {
			if ferr = attachFilter(int(fd)); ferr != nil {
				return
			}
			ferr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		})
		if err != nil {
			return err
		}
		return ferr
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("icmperr: opening the raw ICMP socket: %w", err)
	}
	r := &Reader{conn: pc.(*net.IPConn), batch: rawsock.NewBatch(batchSize, bufSize)}
	if r.raw, err = r.conn.SyscallConn(); err != nil {
		r.conn.Close()
		return nil, fmt.Errorf("icmperr: %w", err)
	}
	return r, nil
}

// Read blocks until at least one ICMP error about an outer IPIP packet has
// arrived, stores up to len(events) of them and returns how many. Datagrams
// Parse rejects are consumed and skipped. It returns 0 with a nil error
// only for an empty events.
//
// The error after Close wraps net.ErrClosed, after a deadline
// os.ErrDeadlineExceeded; any other is a socket failure. Read allocates
// nothing unless it fails.
func (r *Reader) Read(events []Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batch
	for {
		got, err := b.ReadFrom(r.raw, len(events))
		if err != nil {
			return 0, err
		}
		n := 0
		for i := range got {
			if b.Truncated[i] {
				r.truncated.Add(1)
			}
			if ev, ok := Parse(b.Bufs[i][:b.Sizes[i]], b.Links[i]); ok {
				events[n] = ev
				n++
			}
		}
		r.received.Add(uint64(got))
		if n > 0 {
			r.events.Add(uint64(n))
			return n, nil
		}
	}
}

// SetReadDeadline makes a blocked or later Read fail with
// os.ErrDeadlineExceeded at t; the zero time means no deadline.
func (r *Reader) SetReadDeadline(t time.Time) error { return r.conn.SetReadDeadline(t) }

// Stats returns the counters; safe to call during a Read.
func (r *Reader) Stats() Stats {
	return Stats{Received: r.received.Load(), Events: r.events.Load(), Truncated: r.truncated.Load()}
}

// Close closes the socket; a blocked Read returns an error wrapping
// net.ErrClosed.
func (r *Reader) Close() error { return r.conn.Close() }
