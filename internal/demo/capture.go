package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// capture is an AF_PACKET socket on one link of one namespace that returns
// IPIP (IPv4 protocol 4) packets arriving on it, the outer header first.
//
// SOCK_DGRAM strips the Ethernet header, so a packet starts with the outer
// IPv4 header, as tcpdump shows it after the link line. The socket is opened
// inside the namespace and stays there, so it can be read from anywhere.
type capture struct {
	fd   int
	ns   string
	link string
}

// openCapture opens the socket on link in ns. It is bound before it returns,
// so a packet sent after openCapture is seen.
func openCapture(ns, link string) (*capture, error) {
	c := &capture{fd: -1, ns: ns, link: link}
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return fmt.Errorf("finding link %s: %w", link, err)
		}
		// Protocol 0 at creation receives nothing; bind then sets ETH_P_IP
		// and the link at once, so no packet from another link sneaks in
		// between socket and bind.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("opening an AF_PACKET socket (needs CAP_NET_RAW): %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("binding the AF_PACKET socket to %s: %w", link, err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("capturing on %s in %s: %w", link, ns, err)
	}
	return c, nil
}

// errNoPacket means no IPIP packet arrived in time.
var errNoPacket = errors.New("no IPIP packet arrived")

// next returns the next IPIP packet arriving on the link (not one the
// namespace sends), waiting at most timeout. Other IPv4 packets (ARP is not
// IPv4 and never reaches the socket) are skipped.
func (c *capture) next(ctx context.Context, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w on %s in %s within %v", errNoPacket, c.link, c.ns, timeout)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("capturing on %s in %s: %w", c.link, c.ns, err)
		}
		// Poll in short slices so a cancelled ctx is noticed quickly.
		wait := min(left, 100*time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wait.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("capturing on %s in %s: poll: %w", c.link, c.ns, err)
		}
		for {
			n, from, err := unix.Recvfrom(c.fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("capturing on %s in %s: recvfrom: %w", c.link, c.ns, err)
			}
			if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if isIPIP(buf[:n]) {
				return append([]byte(nil), buf[:n]...), nil
			}
		}
	}
}

// close releases the socket.
func (c *capture) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// isIPIP reports whether p starts with an IPv4 header of protocol 4.
func isIPIP(p []byte) bool {
	return len(p) >= 20 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_IPIP
}

// htons converts a 16-bit value to network byte order, as sockaddr_ll wants
// its protocol.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
