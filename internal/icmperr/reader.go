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
	// noPMTUDisc is net.ipv4.ip_no_pmtu_disc of the socket's namespace;
	// nil when it could not be opened (mode 0, the default, applies).
	noPMTUDisc *sysctlFile

	received, events, truncated, discarded atomic.Uint64
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
	// Discarded is how many frag-needed errors net.ipv4.ip_no_pmtu_disc
	// (2 or 3) discarded, as icmp_unreach does.
	Discarded uint64
}

// NewReader opens a raw ICMP socket in the calling thread's network
// namespace, with IP_PKTINFO on and Filter attached, and that namespace's
// net.ipv4.ip_no_pmtu_disc, which Read applies to frag-needed errors. It
// needs CAP_NET_RAW.
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
	// Without /proc (a bare container), frag-needed is taken as mode 0
	// takes it, which is the kernel's default.
	r.noPMTUDisc, _ = openSysctl(noPMTUDiscPath)
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
		n, mode := 0, -1 // the sysctl is read once a batch, when a frag-needed needs it
		for i := range got {
			if b.Truncated[i] {
				r.truncated.Add(1)
			}
			ev, ok := Parse(b.Bufs[i][:b.Sizes[i]], b.Links[i])
			if ok && ev.FragNeeded() {
				if mode < 0 {
					mode = r.pmtuMode()
				}
				if ev, ok = ApplyNoPMTUDisc(ev, mode); !ok {
					r.discarded.Add(1)
				}
			}
			if ok {
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
	return Stats{Received: r.received.Load(), Events: r.events.Load(), Truncated: r.truncated.Load(), Discarded: r.discarded.Load()}
}

// pmtuMode is ip_no_pmtu_disc now, 0 when it cannot be read.
func (r *Reader) pmtuMode() int {
	if r.noPMTUDisc == nil {
		return 0
	}
	mode, err := r.noPMTUDisc.Read()
	if err != nil {
		return 0
	}
	return mode
}

// Close closes the socket; a blocked Read returns an error wrapping
// net.ErrClosed.
func (r *Reader) Close() error {
	err := r.conn.Close()
	// The sysctl file closes after any Read has returned, so a Read never
	// reads a closed descriptor's number reused by another file.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noPMTUDisc != nil {
		r.noPMTUDisc.Close()
		r.noPMTUDisc = nil
	}
	return err
}
