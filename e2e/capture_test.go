package e2e

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/lab"
)

// capture is an AF_PACKET socket on one interface of one namespace, in
// SOCK_DGRAM mode: reads return the network-layer packet (the IPv4 header
// first), without the link header, in both directions. It works on veths
// and on TUN devices alike.
type capture struct {
	fd   int
	name string
}

// captured is one packet and its direction.
type captured struct {
	data     []byte
	outgoing bool // PACKET_OUTGOING: sent by this host
}

// openCapture opens the socket inside ns (sockets keep the namespace they
// were created in) and closes it at the end of the test. Only IPv4 packets
// are read.
func openCapture(t *testing.T, ns *lab.NS, ifname string) *capture {
	t.Helper()
	return openPacketSocket(t, ns, ifname, unix.ETH_P_IP, ns.String()+"/"+ifname)
}

// openPacketSocket opens the capture's socket for protocol (an ETH_P_*
// constant) on ifname inside ns, closed at the end of the test.
func openPacketSocket(t *testing.T, ns *lab.NS, ifname string, protocol uint16, name string) *capture {
	t.Helper()
	c := &capture{fd: -1, name: name}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := htons(protocol)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("binding the AF_PACKET socket to %s: %w", ifname, err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", c.name, err)
	}
	// A packet of another interface may have been queued between socket
	// and bind: drain what is there now.
	c.drain()
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// drain discards every queued packet.
func (c *capture) drain() {
	buf := make([]byte, 65536)
	for {
		if _, _, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// next returns the next captured packet, or an error after deadline.
func (c *capture) next(deadline time.Time) (captured, error) {
	buf := make([]byte, 65536)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return captured{}, fmt.Errorf("capture on %s: nothing more before the deadline", c.name)
		}
		tv := unix.NsecToTimeval(min(left, 100*time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return captured{}, err
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return captured{}, fmt.Errorf("capture on %s: %w", c.name, err)
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		return captured{data: append([]byte(nil), buf[:n]...), outgoing: ll != nil && ll.Pkttype == unix.PACKET_OUTGOING}, nil
	}
}

// waitFor returns the first packet for which match is true, bounded by
// timeout.
func (c *capture) waitFor(timeout time.Duration, match func(captured) bool) (captured, error) {
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.next(deadline)
		if err != nil {
			return p, err
		}
		if match(p) {
			return p, nil
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
