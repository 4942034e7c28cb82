package demo

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/hexfile"
)

// seedPacket is the seed walkthrough's first captured packet: node1's echo
// request to node2 inside an IPIP header, 104 bytes in all.
func seedPacket(t *testing.T) []byte {
	t.Helper()
	outer := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 4699, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolIPv4, SrcIP: net.IP{10, 245, 1, 2}, DstIP: net.IP{10, 245, 1, 3}}
	inner := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 44390, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{192, 168, 41, 0}, DstIP: net.IP{192, 168, 42, 0}}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 31937, Seq: 1}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, outer, inner, icmp, gopacket.Payload(bytes.Repeat([]byte{0xa5}, 56))); err != nil {
		t.Fatalf("building the packet: %v", err)
	}
	return buf.Bytes()
}

const seedDecode = "10.245.1.2 > 10.245.1.3: (tos 0x0, ttl 64, id 4699, offset 0, flags [DF], proto IPIP (4), length 104)\n" +
	"192.168.41.0 > 192.168.42.0: ICMP echo request, id 31937, seq 1, length 64"

// TestCaptureDecodesHandMadeIPIP sends a hand-made protocol-4 packet from
// node1 to node2 with a raw socket, as an ipipd would, and checks node2's
// capture returns it and the decoder prints the seed's two lines.
func TestCaptureDecodesHandMadeIPIP(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n1, n2 := topo.node("node1"), topo.node("node2")
	pkt := seedPacket(t)

	c, err := openCapture(n2.NS, n2.Link)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	// IPPROTO_RAW implies IP_HDRINCL: the kernel sends our outer header as
	// it is (filling in only the checksum), like ipipd's raw socket.
	fd := -1
	if err := inNamespace(n1.NS, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatalf("raw socket in %s: %v", n1.NS, err)
	}
	defer unix.Close(fd)
	// Send until the capture has one: the first may wait for ARP.
	done := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		defer close(sent)
		for i := 0; i < 50; i++ {
			if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: [4]byte{10, 245, 1, 3}}); err != nil {
				sent <- err
				return
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	got, err := c.next(testContext(t, 10*time.Second), 5*time.Second)
	close(done)
	if serr := <-sent; serr != nil {
		t.Fatalf("sending from %s: %v", n1.NS, serr)
	}
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	if !bytes.Equal(got, pkt) {
		t.Errorf("captured\n%x\nwant the packet sent\n%x", got, pkt)
	}
	text, err := decodeIPIP(got)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if text != seedDecode {
		t.Errorf("decode:\n%s\nwant:\n%s", text, seedDecode)
	}
	dump := hexDump(got)
	back, err := hexfile.Parse(dump)
	if err != nil || !bytes.Equal(back, pkt) {
		t.Errorf("the hex dump does not read back as the whole packet (err %v):\n%s", err, dump)
	}
	t.Logf("decode:\n%s\n%s", text, dump)
}

// TestCaptureTimesOut checks a quiet link ends the wait with errNoPacket,
// and that packets node2 sends itself are not taken for arrivals.
func TestCaptureTimesOut(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n2 := topo.node("node2")
	c, err := openCapture(n2.NS, n2.Link)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	// node2 sends an IPIP packet out of its own eth0: outgoing, so skipped.
	pkt := seedPacket(t)
	copy(pkt[12:16], []byte{10, 245, 1, 3})
	copy(pkt[16:20], []byte{10, 245, 1, 2})
	if err := inNamespace(n2.NS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: [4]byte{10, 245, 1, 2}})
	}); err != nil {
		t.Fatalf("sending from node2: %v", err)
	}
	start := time.Now()
	_, err = c.next(testContext(t, 10*time.Second), 500*time.Millisecond)
	if !errors.Is(err, errNoPacket) {
		t.Fatalf("got %v, want errNoPacket", err)
	}
	if !strings.Contains(err.Error(), n2.Link) || time.Since(start) > 3*time.Second {
		t.Errorf("error %q after %v: want it to name the link, after about 500ms", err, time.Since(start))
	}
}
