package e2e

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestECNDecapsulation crafts outer packets from node1 (a raw socket, no
// daemon there) to node2's fallback tunnel, each carrying a UDP datagram to
// a socket on node2 that reports the TOS byte it receives (IP_RECVTOS).
//
// Kernel behaviour checked (ip_tunnel_rcv → IP_ECN_decapsulate, RFC 6040
// §4.2): inner ECT(0) under outer CE arrives as CE, with the inner DSCP
// kept and the outer DSCP not copied (and the inner header checksum fixed,
// or node2's stack would drop it); inner Not-ECT under outer CE is dropped
// and counted in rx_errors and rx_frame_errors (ipipd also names it
// ecn_drop); inner Not-ECT under outer Not-ECT passes unchanged.
func TestECNDecapsulation(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	node2 := startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	if err := l.nodes[0].Ping(underlayAddr(1), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	send := rawSender(t, l.nodes[0])

	const port = 5555
	rx := listenTOS(t, l.nodes[1], port)

	var id uint16 = 0x100
	deliver := func(name string, outerTOS, innerTOS uint8) {
		t.Helper()
		id++
		payload := []byte(name)
		inner := udpPacket(tunnelAddr(0), tunnelAddr(1), 40000, port, innerTOS, id, payload)
		if err := send.WritePacket(ipipPacket(underlayAddr(0), underlayAddr(1), outerTOS, id, inner)); err != nil {
			t.Fatalf("%s: sending: %v", name, err)
		}
	}

	before := node2.show(t)
	// ECT(0) with DSCP 0x28 under CE with DSCP 0x80: arrives 0x2b.
	deliver("ect0 under ce", 0x83, 0x2a)
	got, tos, err := rx.read(3 * time.Second)
	if err != nil {
		t.Fatalf("inner ECT(0) under outer CE: nothing arrived on node2: %v", err)
	}
	if got != "ect0 under ce" || tos != 0x2b {
		t.Errorf("inner ECT(0) under outer CE: received %q with TOS %#x, want TOS 0x2b (CE set, inner DSCP 0x28 kept, outer DSCP not copied)", got, tos)
	}

	// Not-ECT under CE: dropped. Then a Not-ECT under Not-ECT that must
	// pass: the next datagram to arrive must be that one.
	deliver("not-ect under ce", 0x03, 0x28)
	deliver("not-ect under not-ect", 0x00, 0x28)
	got, tos, err = rx.read(3 * time.Second)
	if err != nil {
		t.Fatalf("inner Not-ECT under outer Not-ECT: nothing arrived: %v", err)
	}
	if got != "not-ect under not-ect" {
		t.Errorf("received %q (TOS %#x) where inner Not-ECT under outer CE must be dropped", got, tos)
	} else if tos != 0x28 {
		t.Errorf("inner Not-ECT under outer Not-ECT arrived with TOS %#x, want 0x28 unchanged", tos)
	}

	d := delta(t, before, node2.show(t), "tunl0")
	if d.RxPackets != 2 {
		t.Errorf("node2 tunl0 rx_packets grew by %d, want 2 (the dropped one not counted)", d.RxPackets)
	}
	if d.RxFrameErrors != 1 || d.RxErrors != 1 {
		t.Errorf("node2 tunl0 rx_frame_errors +%d rx_errors +%d, want +1 each for the Not-ECT under CE", d.RxFrameErrors, d.RxErrors)
	}
	if d.Drops["ecn_drop"] != 1 {
		t.Errorf("node2 tunl0 drops %v, want ecn_drop 1", d.Drops)
	}
}

// tosListener is a UDP socket that reports each datagram's TOS byte.
type tosListener struct {
	conn *net.UDPConn
}

// listenTOS opens a UDP socket on port inside ns with IP_RECVTOS set.
func listenTOS(t *testing.T, ns *lab.NS, port int) *tosListener {
	t.Helper()
	var conn *net.UDPConn
	err := ns.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(t.Context(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			return err
		}
		conn = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatalf("UDP socket in %s: %v", ns, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &tosListener{conn: conn}
}

// read returns the next datagram's payload and TOS byte.
func (l *tosListener) read(timeout time.Duration) (string, uint8, error) {
	l.conn.SetReadDeadline(time.Now().Add(timeout))
	buf, oob := make([]byte, 2048), make([]byte, 256)
	n, oobn, _, _, err := l.conn.ReadMsgUDP(buf, oob)
	if err != nil {
		return "", 0, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return "", 0, err
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) >= 1 {
			return string(buf[:n]), m.Data[0], nil
		}
	}
	return string(buf[:n]), 0, fmt.Errorf("no IP_TOS control message with %q", buf[:n])
}
