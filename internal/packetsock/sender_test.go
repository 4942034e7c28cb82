package packetsock_test

import (
	"bytes"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packetsock"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/internal/rawsock"
)

func TestMain(m *testing.M) { lab.Main(m) }

var (
	addrA = netip.MustParseAddr("10.245.7.1")
	addrB = netip.MustParseAddr("10.245.7.2")
)

// link is a veth between namespaces a ("va") and b ("vb"), a Sender in a
// with a raw-socket fallback, and a protocol-4 Receiver in b.
type link struct {
	a, b           *lab.NS
	s              *packetsock.Sender
	r              *rawsock.Receiver
	direct, fallen atomic.Uint64
	batch          *rawsock.Batch
}

func newLink(t *testing.T, resolveARP bool) *link {
	t.Helper()
	lab.Require(t)
	l := &link{a: lab.New(t, "pkta"), b: lab.New(t, "pktb"), batch: rawsock.NewBatch(64, rawsock.MaxPacketSize)}
	lab.Veth(t, l.a, "va", netip.PrefixFrom(addrA, 24), l.b, "vb", netip.PrefixFrom(addrB, 24))
	if resolveARP {
		if err := l.a.Ping(addrB, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	err := l.a.Do(func() error {
		raw, err := rawsock.NewSender(rawsock.SenderOptions{})
		if err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		l.s, err = packetsock.NewSender(packetsock.Options{Fallback: raw, Direct: &l.direct, Fallen: &l.fallen})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.s.Close() })
	if err := l.b.Do(func() (err error) {
		l.r, err = rawsock.NewReceiver(rawsock.ReceiverOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.r.Close() })
	return l
}

// packet is an IPIP packet from src to addrB with a 100-byte inner packet
// whose ID is id; an invalid src is 0.0.0.0.
func packet(src netip.Addr, id uint16) []byte {
	inner := packettest.IP{Src: netip.MustParseAddr("192.168.41.1"), Dst: netip.MustParseAddr("192.168.42.1"), ID: id}.Echo(100)
	return packettest.IP{Src: src, Dst: addrB, ID: id, DF: true}.IPIP(inner)
}

func (l *link) write(t *testing.T, pkts [][]byte) {
	t.Helper()
	if n, err := l.s.Write(pkts); n != len(pkts) || err != nil {
		t.Fatalf("Write: %d of %d, %v", n, len(pkts), err)
	}
}

// receive reads n packets in b.
func (l *link) receive(t *testing.T, n int) [][]byte {
	t.Helper()
	l.r.SetReadDeadline(time.Now().Add(3 * time.Second))
	var got [][]byte
	for len(got) < n {
		k, err := l.r.Read(l.batch)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), n, err)
		}
		for i := range k {
			got = append(got, bytes.Clone(l.batch.Bufs[i][:l.batch.Sizes[i]]))
		}
	}
	return got
}

// untilDirect writes one packet at a time until one goes out on the packet
// socket, and returns how many it wrote.
func (l *link) untilDirect(t *testing.T, src netip.Addr) int {
	t.Helper()
	before := l.direct.Load()
	for i := 1; ; i++ {
		l.write(t, [][]byte{packet(src, 9000+uint16(i))})
		if l.direct.Load() > before {
			return i
		}
		if i > 200 {
			t.Fatalf("no packet went out on the packet socket after %d writes (fell back %d)", i, l.fallen.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The first packets to a destination go through the fallback; once the
// kernel's answer is in, they go out on the packet socket. Every packet
// arrives, in order, as it was written.
func TestSenderGoesDirectOnceResolved(t *testing.T) {
	l := newLink(t, true)
	first := [][]byte{packet(addrA, 1), packet(addrA, 2), packet(addrA, 3)}
	l.write(t, first)
	if l.fallen.Load() != 3 || l.direct.Load() != 0 {
		t.Fatalf("before resolution: %d direct, %d fallen back; want 0 and 3", l.direct.Load(), l.fallen.Load())
	}
	warm := l.untilDirect(t, addrA)
	var batch [][]byte
	for i := range 100 {
		batch = append(batch, packet(addrA, 100+uint16(i)))
	}
	direct := l.direct.Load()
	l.write(t, batch)
	if got := l.direct.Load() - direct; got != 100 {
		t.Errorf("%d of 100 packets went out on the packet socket", got)
	}
	got := l.receive(t, 3+warm+100)
	want := append(first, nil)[:3]
	for i := range got[:3] {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d arrived as\n%x\nwant\n%x", i, got[i], want[i])
		}
	}
	for i, pkt := range got[3+warm:] {
		if !bytes.Equal(pkt, batch[i]) {
			t.Fatalf("direct packet %d arrived as\n%x\nwant\n%x", i, pkt, batch[i])
		}
	}
}

// A packet without a source address gets the route's preferred source and
// a valid header checksum, as the raw socket's IP output gives it.
func TestSenderFillsSource(t *testing.T) {
	l := newLink(t, true)
	warm := l.untilDirect(t, netip.Addr{})
	got := l.receive(t, warm)
	last := header.IPv4(got[len(got)-1])
	if last.SrcAddr() != addrA || !last.HeaderChecksumValid() {
		t.Fatalf("arrived from %s, header checksum valid %v; want %s and true", last.SrcAddr(), last.HeaderChecksumValid(), addrA)
	}
}

// With no neighbour entry, packets go through the fallback, which makes
// the kernel resolve it; then they go direct.
func TestSenderWithoutNeighbourFallsBackFirst(t *testing.T) {
	l := newLink(t, false)
	warm := l.untilDirect(t, addrA)
	if l.fallen.Load() == 0 {
		t.Error("no packet went through the fallback before the neighbour was known")
	}
	l.receive(t, warm)
}

// A destination whose neighbour the kernel had not resolved when the
// Sender asked goes direct as soon as the neighbour is known, from the
// kernel's notification, not at the next refresh a second later (a short
// transfer at a tunnel's start would go all through the raw socket). b
// ignores ARP, so the Sender's first answer is surely "no neighbour"; then
// a's entry is set by hand.
func TestSenderTakesANewNeighbourAtOnce(t *testing.T) {
	l := newLink(t, false)
	l.b.Run(t, "sysctl", "-qw", "net.ipv4.conf.vb.arp_ignore=8")
	for i := range 15 { // past the resolver's first answer
		l.write(t, [][]byte{packet(addrA, uint16(i))})
		time.Sleep(10 * time.Millisecond)
	}
	if l.direct.Load() != 0 {
		t.Fatal("a packet went direct with no neighbour entry")
	}
	mac := bytes.TrimSpace([]byte(l.b.Run(t, "cat", "/sys/class/net/vb/address")))
	l.a.Run(t, "ip", "neigh", "replace", addrB.String(), "lladdr", string(mac), "nud", "reachable", "dev", "va")
	start := time.Now()
	warm := l.untilDirect(t, addrA)
	if took := time.Since(start); took >= 500*time.Millisecond {
		t.Errorf("the first direct packet came %v after the neighbour entry; want it well before the next refresh, 1s after the first answer", took)
	}
	l.receive(t, 15+warm)
}

// After a refresh that finds the neighbour stale, one packet goes through
// the fallback so that the kernel confirms the neighbour. The kernel's own
// STALE notification for an address the Sender already knows changes
// nothing, so until the refresh every packet still goes direct; then one
// falls back, the kernel moves the entry on from STALE, and the next packet
// goes direct again.
func TestSenderConfirmsStaleNeighbour(t *testing.T) {
	// ARP after the Sender exists, so its listener has seen the address.
	l := newLink(t, false)
	l.untilDirect(t, addrA)
	mac := strings.TrimSpace(l.b.Run(t, "cat", "/sys/class/net/vb/address"))
	l.a.Run(t, "ip", "neigh", "replace", addrB.String(), "lladdr", mac, "nud", "stale", "dev", "va")
	fallen := l.fallen.Load()
	for i := range 20 { // 200 ms, well before the 1 s refresh
		l.write(t, [][]byte{packet(addrA, uint16(100+i))})
		time.Sleep(10 * time.Millisecond)
	}
	if got := l.fallen.Load() - fallen; got != 0 {
		t.Fatalf("%d packets fell back on the kernel's STALE notification; the address did not change, so none should", got)
	}
	deadline := time.Now().Add(3 * time.Second)
	for l.fallen.Load() == fallen && time.Now().Before(deadline) {
		l.write(t, [][]byte{packet(addrA, 7)})
		time.Sleep(10 * time.Millisecond)
	}
	if l.fallen.Load() != fallen+1 {
		t.Fatalf("%d packets fell back after the refresh found the neighbour stale, want 1", l.fallen.Load()-fallen)
	}
	direct := l.direct.Load()
	l.write(t, [][]byte{packet(addrA, 8)})
	if l.direct.Load() != direct+1 {
		t.Error("the packet after the confirming one did not go direct")
	}
	if state := l.a.Run(t, "ip", "neigh", "show", addrB.String(), "dev", "va"); strings.Contains(state, "STALE") {
		t.Errorf("the confirming packet left the entry stale: %s", state)
	}
}

// A destination whose route is not unicast over Ethernet (here: the
// sender's own address, a local route) always goes through the fallback.
func TestSenderLocalDestinationFallsBack(t *testing.T) {
	l := newLink(t, true)
	pkt := packet(addrA, 1)
	header.IPv4(pkt).SetDst(header.Addr4(addrA))
	header.IPv4(pkt).SetHeaderChecksum()
	for range 20 {
		l.write(t, [][]byte{pkt})
		time.Sleep(10 * time.Millisecond)
	}
	if l.direct.Load() != 0 || l.fallen.Load() != 20 {
		t.Fatalf("%d direct, %d fallen back; want 0 and 20", l.direct.Load(), l.fallen.Load())
	}
}

func TestSenderWriteAfterClose(t *testing.T) {
	l := newLink(t, true)
	l.s.Close()
	if _, err := l.s.Write([][]byte{packet(addrA, 1)}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestSenderAllocatesNothing(t *testing.T) {
	l := newLink(t, true)
	l.untilDirect(t, addrA)
	var batch [][]byte
	for i := range 64 {
		batch = append(batch, packet(addrA, uint16(i)))
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := l.s.Write(batch); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(batch); {
			n, err := l.r.Read(l.batch)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("a batch of 64 allocates %.1f times, want 0", allocs)
	}
}

// A destination behind a gateway is sent to the gateway's MAC address:
// b routes for 10.245.8.1, which it holds on its loopback device.
func TestSenderUsesTheGateway(t *testing.T) {
	l := newLink(t, true)
	far := netip.MustParseAddr("10.245.8.1")
	l.b.Run(t, "ip", "addr", "add", far.String()+"/32", "dev", "lo")
	l.a.Run(t, "ip", "route", "add", far.String()+"/32", "via", addrB.String())
	pkt := func(id uint16) []byte {
		p := packet(addrA, id)
		header.IPv4(p).SetDst(header.Addr4(far))
		header.IPv4(p).SetHeaderChecksum()
		return p
	}
	deadline := time.Now().Add(3 * time.Second)
	sent := 0
	for l.direct.Load() == 0 && time.Now().Before(deadline) {
		l.write(t, [][]byte{pkt(uint16(sent))})
		sent++
		time.Sleep(10 * time.Millisecond)
	}
	if l.direct.Load() == 0 {
		t.Fatal("no packet to the routed destination went out on the packet socket")
	}
	got := l.receive(t, sent)
	if last := header.IPv4(got[len(got)-1]); last.DstAddr() != far {
		t.Fatalf("b received a packet for %s, want %s", last.DstAddr(), far)
	}
}

// When the peer's MAC address changes (a failover announced by gratuitous
// ARP: here b's address is changed and a's neighbour entry replaced), the
// Sender follows at once, from the kernel's notification, rather than at
// its next refresh: no packet is sent to the old address.
func TestSenderFollowsANeighbourChange(t *testing.T) {
	l := newLink(t, true)
	warm := l.untilDirect(t, addrA)
	const newMAC = "02:00:00:00:00:99"
	l.b.Run(t, "ip", "link", "set", "dev", "vb", "address", newMAC)
	l.a.Run(t, "ip", "neigh", "replace", addrB.String(), "lladdr", newMAC, "nud", "reachable", "dev", "va")
	time.Sleep(50 * time.Millisecond) // the notification's way to the Sender
	const after = 20
	for i := range after {
		l.write(t, [][]byte{packet(addrA, uint16(500+i))})
		time.Sleep(5 * time.Millisecond)
	}
	l.receive(t, warm+after) // fails if a frame went to the old address
	if l.direct.Load() < uint64(warm) {
		t.Errorf("only %d packets went direct", l.direct.Load())
	}
}

// A route change elsewhere in the table leaves the path alone; one that
// covers the destination sends its next packets through the raw socket
// until the kernel's new answer is in.
func TestSenderRouteChanges(t *testing.T) {
	l := newLink(t, true)
	l.untilDirect(t, addrA)
	l.a.Run(t, "ip", "route", "add", "10.99.0.0/16", "via", addrB.String())
	time.Sleep(50 * time.Millisecond)
	fallen := l.fallen.Load()
	for i := range 10 {
		l.write(t, [][]byte{packet(addrA, uint16(700+i))})
	}
	if got := l.fallen.Load() - fallen; got != 0 {
		t.Errorf("%d packets fell back after a route change that does not cover the destination", got)
	}
	l.a.Run(t, "ip", "route", "add", addrB.String()+"/32", "dev", "va")
	time.Sleep(50 * time.Millisecond)
	l.write(t, [][]byte{packet(addrA, 800)})
	if l.fallen.Load() == fallen {
		t.Error("no packet fell back after a route change covering the destination")
	}
	l.untilDirect(t, addrA)
}

// A Sender bound to a device follows it when it is deleted and made again
// under the same name (a VLAN or bond rebuilt): the new device has a new
// index, and route lookups with the old one would find nothing, leaving
// every packet on the raw socket.
func TestSenderFollowsARecreatedDevice(t *testing.T) {
	l := newLink(t, true)
	var bound *packetsock.Sender
	var direct atomic.Uint64
	err := l.a.Do(func() error {
		raw, err := rawsock.NewSender(rawsock.SenderOptions{Dev: "va"})
		if err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		bound, err = packetsock.NewSender(packetsock.Options{Dev: "va", Fallback: raw, Direct: &direct})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bound.Close() })
	untilDirect := func(what string) {
		t.Helper()
		before := direct.Load()
		for i := 0; direct.Load() == before; i++ {
			if i > 300 {
				t.Fatalf("%s: no packet went out on the packet socket", what)
			}
			bound.Write([][]byte{packet(addrA, uint16(i))}) // errors while the device is gone are expected
			time.Sleep(10 * time.Millisecond)
		}
	}
	untilDirect("before")
	oldIndex := l.a.Ifindex(t, "va")
	l.a.Run(t, "ip", "link", "del", "va")
	lab.Veth(t, l.a, "va", netip.PrefixFrom(addrA, 24), l.b, "vb", netip.PrefixFrom(addrB, 24))
	if l.a.Ifindex(t, "va") == oldIndex {
		t.Skip("the kernel gave the new device the old index; nothing to follow")
	}
	if err := l.a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	untilDirect("after the device was made again")
}
