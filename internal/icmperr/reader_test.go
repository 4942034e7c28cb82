package icmperr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/internal/rawsock"
)

func TestMain(m *testing.M) { lab.Main(m) }

// pair is two namespaces over a veth: "va" with `local` in a, where a
// Reader runs, and "vb" with `remote` in b, whose Sender forges ICMP
// errors as the remote or a router (10.245.9.254, on the same /24) would.
type pair struct {
	a, b  *lab.NS
	aLink int // ifindex of va inside a
	r     *Reader
	s     *rawsock.Sender
}

func newPair(t *testing.T) *pair {
	t.Helper()
	lab.Require(t)
	p := &pair{a: lab.New(t, "icmpa"), b: lab.New(t, "icmpb")}
	lab.Veth(t, p.a, "va", netip.PrefixFrom(local, 24), p.b, "vb", netip.PrefixFrom(remote, 24))
	p.aLink = p.a.Ifindex(t, "va")
	// Resolve ARP both ways before any socket of the test exists.
	if err := p.b.Ping(local, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	err := p.a.Do(func() (err error) {
		p.r, err = NewReader()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.r.Close() })
	err = p.b.Do(func() (err error) {
		p.s, err = rawsock.NewSender(rawsock.SenderOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.s.Close() })
	return p
}

// echoID marks the test's echo flood, to count it on the control socket.
const echoID = 0x1cee

// echoFlood returns n echo requests and replies, alternating, remote > local.
func echoFlood(n int) [][]byte {
	pkts := make([][]byte, n)
	for i := range pkts {
		typ := uint8(8) // echo request: local's kernel answers it
		if i%2 == 1 {
			typ = 0 // echo reply: nobody asked
		}
		pkts[i] = icmpMessage(remote, local, typ, 0, echoID<<16|uint32(i), make([]byte, 56))
	}
	return pkts
}

// TestReaderNamespace: from b, a flood of 100 echo requests and replies, a
// port unreachable about a UDP packet, then a frag-needed about an IPIP
// packet a > b. The Reader in a returns exactly the frag-needed, with the
// right MTU, addresses and link; its socket never got the others (Stats:
// one datagram received), though an unfiltered ICMP socket in a saw them
// all. Then 20 errors in a row come back in order over several batches.
func TestReaderNamespace(t *testing.T) {
	p := newPair(t)
	var ctl net.PacketConn // unfiltered: proves the flood really arrived
	if err := p.a.Do(func() (err error) {
		ctl, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()

	flood := echoFlood(100)
	udpErr := packettest.Unreachable(router, local, header.CodePortUnreachable, 0, ipv4Packet(packettest.ProtocolUDP, local, remote, 200))
	frag := packettest.Unreachable(router, local, CodeFragNeeded, 1380, ipipPacket(local, remote, 1400))
	if _, err := p.s.Write(flood); err != nil {
		t.Fatal(err)
	}
	for _, pkt := range [][]byte{udpErr, frag} {
		if err := p.s.WritePacket(pkt); err != nil {
			t.Fatal(err)
		}
	}

	events := make([]Event, 16)
	p.r.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.r.Read(events)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := Event{Type: 3, Code: 4, MTU: 1380, Local: local, Remote: remote, Link: p.aLink, From: router}
	if n != 1 || events[0] != want {
		t.Fatalf("Read returned %d events %v, want exactly %v", n, events[:n], want)
	}
	p.r.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := p.r.Read(events); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second Read: %d events %v, err %v; want nothing more", n, events[:n], err)
	}

	echoes, errs := countICMP(t, ctl, len(flood)+2)
	if echoes != len(flood) || errs != 2 {
		t.Fatalf("the unfiltered socket saw %d echoes and %d errors, want %d and 2", echoes, errs, len(flood))
	}
	if st := p.r.Stats(); st.Received != 1 || st.Events != 1 || st.Truncated != 0 {
		t.Fatalf("Stats %+v: the BPF filter let %d datagrams through, want only the frag-needed", st, st.Received)
	}

	// A burst longer than one recvmmsg batch: all of it, in order.
	const burst = 2*batchSize + 3
	pkts := make([][]byte, burst)
	for i := range pkts {
		pkts[i] = packettest.Unreachable(remote, local, CodeFragNeeded, uint16(1000+i), ipipPacket(local, remote, 1400))
	}
	if _, err := p.s.Write(pkts); err != nil {
		t.Fatal(err)
	}
	p.r.SetReadDeadline(time.Now().Add(5 * time.Second))
	for got := 0; got < burst; {
		n, err := p.r.Read(events)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", got, burst, err)
		}
		for _, ev := range events[:n] {
			if ev.MTU != 1000+got || ev.From != remote || ev.Link != p.aLink {
				t.Fatalf("event %d: %v, want MTU %d from %v", got, ev, 1000+got, remote)
			}
			got++
		}
	}
}

// countICMP reads the control socket until it has seen total datagrams of
// the test (echoes of echoID, or errors quoting local) or 5 s passed.
func countICMP(t *testing.T, c net.PacketConn, total int) (echoes, errs int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	for echoes+errs < total {
		n, _, err := c.ReadFrom(buf) // ip4:icmp reads start at the ICMP header
		if err != nil {
			t.Logf("control socket: %v", err)
			return
		}
		icmp := buf[:n]
		switch {
		case n >= 8 && (icmp[0] == 0 || icmp[0] == 8) && int(icmp[4])<<8|int(icmp[5]) == echoID:
			echoes++
		case n >= 8+20 && icmp[0] == 3 && netip.AddrFrom4([4]byte(icmp[8+12:8+16])) == local:
			errs++
		}
	}
	return
}

// TestReaderClose: Close ends a blocked Read with net.ErrClosed.
func TestReaderClose(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "icmpclose")
	var r *Reader
	if err := ns.Do(func() (err error) { r, err = NewReader(); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]Event, 4))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Read block
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

// TestReaderReadNoAllocs: a frag-needed sent and read back per run; the
// Read costs nothing (the Sender's Write allocates nothing either).
func TestReaderReadNoAllocs(t *testing.T) {
	p := newPair(t)
	frag := packettest.Unreachable(router, local, CodeFragNeeded, 1380, ipipPacket(local, remote, 1400))
	events := make([]Event, 4)
	p.r.SetReadDeadline(time.Now().Add(time.Minute)) // a lost packet fails instead of hanging
	var failed error
	roundTrip := func() {
		if err := p.s.WritePacket(frag); err != nil {
			failed = err
			return
		}
		if n, err := p.r.Read(events); err != nil || n != 1 || events[0].MTU != 1380 {
			failed = fmt.Errorf("Read: %d events %v, %v", n, events[:n], err)
		}
	}
	roundTrip() // warm up the poller
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Errorf("WritePacket+Read: %v allocations per run, want 0", allocs)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}
