package e2e

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
)

// TestNoTunnelPortUnreachable sends IPIP packets to a node where no tunnel
// matches them.
//
// Kernel behaviour checked (tunnel4_rcv, icmp_send, icmpv4_xrlim_allow):
// when every handler declines a protocol-4 packet, the kernel answers the
// outer source with ICMP destination unreachable, code 3 (port), quoting
// the outer packet, and rate-limits these answers per destination with a
// token bucket of 6 (XRLIM_BURST_FACTOR) refilled once a second
// (icmp_ratelimit 1000 ms), so a burst of 20 gets at most 6 answers.
// ipipd counts the answers (PortUnreachables) and the withheld ones
// (RateLimited): every packet ends in exactly one of them.
func TestNoTunnelPortUnreachable(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	// node2's only tunnel is a point-to-point one to node3: nothing takes
	// packets from node1.
	node2 := startDaemon(t, l.nodes[1], "node2", `tunnels:
  - name: ipip3
    local: 10.245.1.3
    remote: 10.245.1.4
    addresses: [192.168.42.0/32]
    routes: [{to: 192.168.43.0/24}]
`)
	send := rawSender(t, l.nodes[0])
	var icmp net.PacketConn
	if err := l.nodes[0].Do(func() error {
		var err error
		icmp, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("ICMP socket in node1: %v", err)
	}
	defer icmp.Close()

	packet := func(id uint16) []byte {
		inner := udpPacket(tunnelAddr(0), tunnelAddr(1), 40000, 9, 0, 1, []byte("ipipd e2e: no tunnel"))
		return ipipPacket(underlayAddr(0), underlayAddr(1), 0, id, inner)
	}
	// Make sure the underlay neighbours know each other first, so no
	// crafted packet waits on ARP.
	if err := l.nodes[0].Ping(underlayAddr(1), 5*time.Second); err != nil {
		t.Fatal(err)
	}

	// One packet: one ICMP 3/3 quoting it.
	sent := packet(0x4242)
	if err := send.WritePacket(sent); err != nil {
		t.Fatalf("sending the crafted IPIP packet: %v", err)
	}
	quotes := readPortUnreachables(t, icmp, 3*time.Second, 1)
	if len(quotes) != 1 {
		t.Fatalf("node1 received %d ICMP port unreachables from node2 for one unmatched IPIP packet, want 1", len(quotes))
	}
	q := quotes[0]
	if len(q) < header.ICMPErrorMinQuote {
		t.Fatalf("the ICMP quotes %d bytes, want at least %d (outer header and 8 bytes)", len(q), header.ICMPErrorMinQuote)
	}
	if !bytes.Equal(q, sent[:len(q)]) {
		t.Errorf("the ICMP quotes\n%x\nwant the packet sent (outer header first)\n%x", q, sent)
	}
	st := waitGlobal(t, node2, func(g globalCounts) bool { return g.unreach+g.limited >= 1 })
	if st.unreach != 1 {
		t.Errorf("node2 PortUnreachables = %d, want 1", st.unreach)
	}

	// A burst of 20: at most 6 answers within a second, the rest withheld.
	var burst [][]byte
	for i := range 20 {
		burst = append(burst, packet(0x5000+uint16(i)))
	}
	if n, err := send.Write(burst); err != nil || n != len(burst) {
		t.Fatalf("sending the burst: %d of %d sent: %v", n, len(burst), err)
	}
	quotes = readPortUnreachables(t, icmp, time.Second, 0)
	if len(quotes) > 6 {
		t.Errorf("node1 received %d ICMP port unreachables within 1 s for a burst of 20; the rate limit allows at most 6", len(quotes))
	}
	if len(quotes) == 0 {
		t.Errorf("node1 received no ICMP port unreachable within 1 s for a burst of 20")
	}
	final := waitGlobal(t, node2, func(g globalCounts) bool { return g.unreach+g.limited >= 21 })
	// Answers still in flight after the first second (a loaded machine)
	// count for the total, not for the limit.
	late := readPortUnreachables(t, icmp, 500*time.Millisecond, 0)
	t.Logf("burst of 20: node1 received %d ICMP port unreachables within 1 s and %d later; node2 counts %d sent, %d rate-limited in all", len(quotes), len(late), final.unreach, final.limited)
	if final.unreach+final.limited != 21 {
		t.Errorf("node2: %d port unreachables + %d rate-limited for 21 unmatched packets; every one must be counted once", final.unreach, final.limited)
	}
	if final.limited == 0 {
		t.Errorf("node2 RateLimited = 0 after a burst of 20")
	}
	if got, received := final.unreach-st.unreach, len(quotes)+len(late); got != uint64(received) {
		t.Errorf("node2 counted %d port unreachables for the burst, node1 received %d", got, received)
	}
}

// readPortUnreachables reads ICMP messages for up to timeout (or until want
// have come, if want > 0) and returns the quoted packets of the destination
// unreachable / port unreachable ones from node2 about IPIP packets.
func readPortUnreachables(t *testing.T, c net.PacketConn, timeout time.Duration, want int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	var quotes [][]byte
	for want == 0 || len(quotes) < want {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			break // deadline
		}
		msg := buf[:n] // ip4:icmp sockets strip the IP header
		if len(msg) < 8+header.MinSize || msg[0] != header.ICMPDestUnreachable || msg[1] != header.CodePortUnreachable {
			continue
		}
		if from.String() != underlayAddr(1).String() {
			t.Errorf("ICMP port unreachable from %v, want from node2 %v", from, underlayAddr(1))
		}
		if header.Checksum(msg, 0) != 0xffff {
			t.Errorf("ICMP port unreachable with a bad checksum: %x", msg)
		}
		quote := msg[8:]
		if header.IPv4(quote).Protocol() != header.ProtocolIPIP {
			continue
		}
		quotes = append(quotes, append([]byte(nil), quote...))
	}
	return quotes
}

type globalCounts struct{ unreach, limited uint64 }

// waitGlobal polls node2's global counters until ok, bounded; it returns
// the last counts either way.
func waitGlobal(t *testing.T, d *daemon, ok func(globalCounts) bool) globalCounts {
	t.Helper()
	var g globalCounts
	for deadline := time.Now().Add(3 * time.Second); ; {
		st := d.show(t)
		g = globalCounts{st.Global.PortUnreachables, st.Global.RateLimited}
		if ok(g) || time.Now().After(deadline) {
			return g
		}
		time.Sleep(50 * time.Millisecond)
	}
}
