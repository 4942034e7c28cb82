package lab

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// Ping sends ICMP echo requests from the namespace to dst, one every 200 ms,
// until a matching echo reply arrives (nil) or timeout passes (an error).
// It is built in, not `ping`, so tests do not depend on iputils being
// installed.
func (ns *NS) Ping(dst netip.Addr, timeout time.Duration) error {
	var conn net.PacketConn
	err := ns.Do(func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("ping %v from %s: %w", dst, ns, err)
	}
	defer conn.Close()

	id := uint16(rand.Uint32())
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		if _, err := conn.WriteTo(echoRequest(id, seq), &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("ping %v from %s: %w", dst, ns, err)
		}
		next := time.Now().Add(200 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		conn.SetReadDeadline(next)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				break // deadline: send the next request
			}
			addr, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			if isEchoReply(buf[:n], id) && addr.Unmap() == dst {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %v from %s: no echo reply within %v", dst, ns, timeout)
}

// echoRequest builds an ICMP echo request (type 8) with a valid checksum.
func echoRequest(id, seq uint16) []byte {
	msg := []byte{8, 0, 0, 0, 0, 0, 0, 0, 'i', 'p', 'i', 'p', 'd'}
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	return msg
}

// isEchoReply reports whether msg (an ICMP message, IP header stripped) is an
// echo reply (type 0) carrying id.
func isEchoReply(msg []byte, id uint16) bool {
	return len(msg) >= 8 && msg[0] == 0 && msg[1] == 0 && binary.BigEndian.Uint16(msg[4:]) == id
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
