package outer

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ipipd/ipipd/internal/icmperr"
	"github.com/ipipd/ipipd/internal/packetsock"
	"github.com/ipipd/ipipd/internal/rawsock"
	"github.com/ipipd/ipipd/internal/tcxmark"
)

// The transmit modes (see the package comment).
const (
	Raw       = "raw"
	Packet    = "packet"
	PacketGSO = "packet-gso"
)

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	// Transmit is Raw (also ""), Packet or PacketGSO.
	Transmit string
}

// Sender sends complete IPv4 packets in batches. On error, packets
// [0,sent) went out and pkts[sent] failed with err; the caller counts it
// and goes on. Close releases what the Sender holds, never a socket the
// Bind shares.
type Sender interface {
	Write(pkts [][]byte) (sent int, err error)
	Close() error
}

// WholeSender is a Sender that can also take a TCP super-packet whole
// (PacketGSO): it reports false when it cannot, and the caller cuts it.
type WholeSender interface {
	Sender
	WriteWhole(pkt []byte, mss int) (bool, error)
}

// Counts are where a packet-socket Sender counts frames it sent directly
// and packets it handed to the raw socket instead; nil for none.
type Counts struct {
	Direct, Fallen *atomic.Uint64
}

// Bind is the outer side of one engine. Its methods are safe for
// concurrent use.
type Bind struct {
	log  *slog.Logger
	mode string

	recv   *rawsock.Receiver
	icmp   *rawsock.Sender
	errs   *icmperr.Reader
	marker *tcxmark.Marker // PacketGSO only

	mu      sync.Mutex
	finders map[string]*sharedFinder // by underlay dev binding
}

// Open opens the shared sockets, in the network namespace of the calling
// thread. It needs CAP_NET_RAW (and CAP_BPF with CAP_NET_ADMIN for
// PacketGSO, without which it logs why and transmits as Packet).
func Open(o Options) (*Bind, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch o.Transmit {
	case "":
		o.Transmit = Raw
	case Raw, Packet, PacketGSO:
	default:
		return nil, fmt.Errorf("transmit %q: want %q, %q or %q", o.Transmit, Raw, Packet, PacketGSO)
	}
	b := &Bind{log: o.Logger, mode: o.Transmit, finders: map[string]*sharedFinder{}}
	var err error
	if b.recv, err = rawsock.NewReceiver(rawsock.ReceiverOptions{}); err != nil {
		return nil, fmt.Errorf("open the raw socket for IP protocol 4: %w (ipipd needs root or CAP_NET_RAW)", err)
	}
	if b.icmp, err = rawsock.NewSender(rawsock.SenderOptions{}); err != nil {
		b.recv.Close()
		return nil, fmt.Errorf("open the raw socket for sending: %w", err)
	}
	if b.errs, err = icmperr.NewReader(); err != nil {
		b.recv.Close()
		b.icmp.Close()
		return nil, fmt.Errorf("open the raw socket for ICMP errors about outer packets: %w", err)
	}
	if b.mode == PacketGSO {
		if b.marker, err = tcxmark.Load(); err != nil {
			b.log.Warn("--transmit packet-gso: the tcx program cannot be loaded; sending as --transmit packet does, one frame per segment", "err", err)
			b.mode = Packet
		}
	}
	return b, nil
}

// Mode is the transmit mode in force: PacketGSO falls back to Packet when
// its program cannot be loaded.
func (b *Bind) Mode() string { return b.mode }

// Receiver is the raw socket that receives every IP protocol 4 packet.
func (b *Bind) Receiver() *rawsock.Receiver { return b.recv }

// ICMP is the raw socket the daemon's own ICMP errors leave by (port
// unreachable), shared by every loop.
func (b *Bind) ICMP() *rawsock.Sender { return b.icmp }

// Errors is the reader of ICMP errors about outer packets (ipip_err).
func (b *Bind) Errors() *icmperr.Reader { return b.errs }

// StopReceiving closes the receive socket and the error reader, so the
// loops that read them return; Close closes the rest once they have.
func (b *Bind) StopReceiving() {
	b.recv.Close()
	b.errs.Close()
}

// Close closes what is left: the resolvers a Sender that was never closed
// still held, the tcx program (detached from every device), and the ICMP
// socket.
func (b *Bind) Close() error {
	b.mu.Lock()
	for dev, s := range b.finders {
		s.finder.Close()
		delete(b.finders, dev)
	}
	b.mu.Unlock()
	if b.marker != nil {
		b.marker.Close()
	}
	return b.icmp.Close()
}

// Sender opens the transmit socket of one tunnel's loop, bound to dev when
// it is not empty, in the Bind's mode. A failure is logged and the loop
// gets what there is: the raw socket alone, or the unbound shared ICMP
// socket, rather than nothing.
func (b *Bind) Sender(tunnel, dev string, c Counts) Sender {
	raw, err := rawsock.NewSender(rawsock.SenderOptions{Dev: dev})
	if err != nil {
		b.log.Error("opening the tunnel's raw socket failed; sending unbound", "tunnel", tunnel, "dev", dev, "err", err)
		return shared{b.icmp}
	}
	if b.mode == Raw {
		return raw
	}
	finder, err := b.pathFinder(dev)
	if err != nil {
		b.log.Error("resolving next hops for the packet socket failed; sending through the raw socket", "tunnel", tunnel, "dev", dev, "err", err)
		return raw
	}
	opts := packetsock.Options{Finder: finder, Fallback: raw, Direct: c.Direct, Fallen: c.Fallen}
	release := func() { b.releasePathFinder(dev) }
	if b.mode == PacketGSO {
		g, err := packetsock.NewGSOSender(packetsock.GSOOptions{
			Options: opts,
			Marker:  b.marker,
			OnMarkError: func(ifindex int, err error) {
				b.log.Warn("--transmit packet-gso: super-packets through this device are cut into segments by ipipd until the tcx program can be put on it (tried again every second)", "tunnel", tunnel, "ifindex", ifindex, "err", err)
			},
		})
		if err != nil {
			release()
			b.log.Error("opening the tunnel's packet sockets failed; sending through the raw socket", "tunnel", tunnel, "dev", dev, "err", err)
			return raw
		}
		return gsoSender{g, raw, release}
	}
	ps, err := packetsock.NewSender(opts)
	if err != nil {
		release()
		b.log.Error("opening the tunnel's packet socket failed; sending through the raw socket", "tunnel", tunnel, "dev", dev, "err", err)
		return raw
	}
	return packetSender{ps, raw, release}
}

// shared is the Bind's ICMP socket lent to a loop: closing it is not the
// loop's to do.
type shared struct{ *rawsock.Sender }

func (shared) Close() error { return nil }

// packetSender is a packet socket with the raw socket it falls back on;
// closing it closes both and ends its use of the resolver.
type packetSender struct {
	*packetsock.Sender
	raw     *rawsock.Sender
	release func()
}

func (s packetSender) Close() error {
	err := errors.Join(s.Sender.Close(), s.raw.Close())
	s.release()
	return err
}

// gsoSender is packetSender's counterpart for PacketGSO.
type gsoSender struct {
	*packetsock.GSOSender
	raw     *rawsock.Sender
	release func()
}

func (s gsoSender) Close() error {
	err := errors.Join(s.GSOSender.Close(), s.raw.Close())
	s.release()
	return err
}

var (
	_ Sender      = (*rawsock.Sender)(nil)
	_ Sender      = packetSender{}
	_ WholeSender = gsoSender{}
)
