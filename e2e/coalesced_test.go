package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/internal/rawsock"
)

// TestCoalescedOuterPacket sends node b what its raw socket reads when the
// underlay NIC's GRO merged 45 IPIP packets of one TCP flow: one 64 KiB
// outer packet whose inner TCP checksum holds only the pseudo-header sum.
// veth does not merge raw-socket traffic here, so node a writes the merged
// packet itself, over a veth whose MTU (65535) lets it through whole. Both
// TUN backends: offload writes the packet whole as a GSO write, water gets
// it cut into segments.
//
// Kernel behaviour checked: the segment is to a closed port, so b's TCP
// answers with a reset, which it does only for a segment whose checksum
// it accepted (tcp_v4_rcv drops bad ones silently: TcpInCsumErrors). The
// reset comes back to a through b's tunnel. Before ipipd handled such
// packets, b's TCP dropped them and no reset came. What b's TUN delivered
// is also captured there and must carry the sent payload, byte for byte.
func TestCoalescedOuterPacket(t *testing.T) {
	for _, backend := range []string{"offload", "water"} {
		t.Run(backend, func(t *testing.T) { testCoalescedOuterPacket(t, backend) })
	}
}

func testCoalescedOuterPacket(t *testing.T, backend string) {
	lab.Require(t)
	a, b := lab.New(t, "groa"), lab.New(t, "grob")
	aAddr, bAddr := addr("10.245.1.2"), addr("10.245.1.3")
	lab.Veth(t, a, "ula", netip.PrefixFrom(aAddr, 24), b, "ulb", netip.PrefixFrom(bAddr, 24))
	a.Run(t, "ip", "link", "set", "ula", "mtu", "65535")
	b.Run(t, "ip", "link", "set", "ulb", "mtu", "65535")
	node := startDaemon(t, b, "grob", `tunnels:
  - name: ipip1
    local: 10.245.1.3
    remote: 10.245.1.2
    mtu: 1480
    tun: `+backend+`
    addresses: [192.168.42.1/32]
    routes: [{to: 192.168.41.0/24}]
`)
	if err := a.Ping(bAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	send := rawSender(t, a)
	var recv *rawsock.Receiver
	if err := a.Do(func() (err error) {
		recv, err = rawsock.NewReceiver(rawsock.ReceiverOptions{})
		return err
	}); err != nil {
		t.Fatalf("protocol-4 socket in a: %v", err)
	}
	defer recv.Close()
	delivered := openCapture(t, b, "ipip1")

	const segments, mss = 45, 1440 // b's MTU 1480 less 40 bytes of headers
	client, server := addr("192.168.41.1"), addr("192.168.42.1")
	const seq = 1_000_000
	inner := packettest.Flow{Src: client, Dst: server, SrcPort: 40000, DstPort: 5999, Seq: seq, Ack: 77,
		ID: 7, Window: 1000, Flags: packettest.FlagPSH}.Coalesced(segments * mss)
	payload := bytes.Clone(inner[40:])
	if err := send.WritePacket(ipipPacket(aAddr, bAddr, 0, 0x5151, inner)); err != nil {
		t.Fatalf("sending the %d-byte coalesced packet: %v", len(inner)+20, err)
	}

	rst, err := readReset(recv, bAddr, server, client, 5*time.Second)
	if err != nil {
		t.Fatalf("no TCP reset came back through the tunnel: %v (b's TCP did not accept the segments)", err)
	}
	// tcp_v4_send_reset answers an ACK with seq = its ack number.
	if got := binary.BigEndian.Uint32(rst[4:]); got != 77 {
		t.Errorf("reset seq %d, want 77 (the segments' ack)", got)
	}
	if got := capturedPayload(t, delivered, client, seq, len(payload)); !bytes.Equal(got, payload) {
		t.Errorf("b's TUN delivered other bytes than the coalesced packet carried")
	}
	s := node.stats(t, "ipip1")
	if s.RxCoalesced != 1 || s.RxPackets != segments {
		t.Errorf("b counted %d coalesced and %d received packets, want 1 and %d", s.RxCoalesced, s.RxPackets, segments)
	}
	if out := b.Run(t, "nstat", "-az", "TcpInCsumErrors"); !containsZero(out, "TcpInCsumErrors") {
		t.Errorf("b's TCP counted checksum errors:\n%s", out)
	}
}

// capturedPayload puts together the TCP payload of the packets from src
// that c captured coming in, placed by sequence number from seq, until n
// bytes are in or 3 seconds pass.
func capturedPayload(t *testing.T, c *capture, src netip.Addr, seq uint32, n int) []byte {
	t.Helper()
	got := make([]byte, n)
	have := 0
	deadline := time.Now().Add(3 * time.Second)
	for have < n {
		p, err := c.next(deadline)
		if err != nil {
			t.Fatalf("captured %d of %d payload bytes: %v", have, n, err)
		}
		ip := header.IPv4(p.data)
		if p.outgoing || !ip.IsValid(len(ip)) || ip.Protocol() != 6 || ip.SrcAddr() != src {
			continue
		}
		tcp := ip.Payload()
		data := tcp[int(tcp[12]>>4)*4:]
		off := int(binary.BigEndian.Uint32(tcp[4:]) - seq)
		if off < 0 || off+len(data) > n {
			t.Fatalf("captured a segment at offset %d of %d bytes, outside the %d sent", off, len(data), n)
		}
		copy(got[off:], data)
		have += len(data)
	}
	return got
}

// readReset reads protocol-4 packets until one from outerSrc carries a TCP
// segment with RST from src to dst, and returns its TCP header.
func readReset(r *rawsock.Receiver, outerSrc, src, dst netip.Addr, timeout time.Duration) ([]byte, error) {
	r.SetReadDeadline(time.Now().Add(timeout))
	b := rawsock.NewBatch(8, rawsock.MaxPacketSize)
	for {
		n, err := r.Read(b)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, errors.New("none within " + timeout.String())
			}
			return nil, err
		}
		for i := range n {
			outer := header.IPv4(b.Bufs[i][:b.Sizes[i]])
			if outer.SrcAddr() != outerSrc || len(outer) < 2*header.MinSize+20 {
				continue
			}
			inner := header.IPv4(outer.Payload())
			if inner.Protocol() != 6 || inner.SrcAddr() != src || inner.DstAddr() != dst {
				continue
			}
			if tcp := inner[inner.HeaderLength():]; tcp[13]&0x04 != 0 {
				return tcp, nil
			}
		}
	}
}

// containsZero reports whether nstat's output gives counter a value of 0.
func containsZero(out, counter string) bool {
	for _, line := range strings.Split(out, "\n") {
		var name string
		var value uint64
		if n, _ := fmt.Sscan(line, &name, &value); n == 2 && name == counter {
			return value == 0
		}
	}
	return false
}
