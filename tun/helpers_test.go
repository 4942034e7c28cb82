package tun

import (
	"bytes"
	"errors"
	"github.com/ipipd/ipipd/internal/testnet"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// The test topology, inside a fresh network namespace: the TUN device holds
// 10.245.99.1/24, and 10.245.99.2 is a peer that only exists as packets the
// test reads from or writes into the TUN.
const (
	testDevice  = "ipipdt0"
	testLocal   = "10.245.99.1"
	testAddress = testLocal + "/24"
	testPeer    = "10.245.99.2"

	// testOffset is the room kept in front of each packet, as the datapath
	// keeps room for the outer header; the value only needs to be non-zero
	// so that the tests see the headroom left alone.
	testOffset = 20
	// headroomFill marks the headroom, to catch a Read or Write touching it.
	headroomFill = 0xEE
	testBufLen   = testOffset + 2048
	testTimeout  = 5 * time.Second
)

// openTestDevice enters a fresh network namespace and opens testDevice there,
// configured by hand (package netsetup is tested on its own): IPv6 off so the
// kernel sends no router or multicast listener solicitations into it, the
// address, and up.
func openTestDevice(t *testing.T) Device {
	t.Helper()
	testnet.EnterFresh(t)
	dev, err := OpenWater(testDevice)
	if err != nil {
		t.Fatalf("OpenWater(%q): %v", testDevice, err)
	}
	t.Cleanup(func() { dev.Close() })
	if dev.Name() != testDevice {
		t.Fatalf("Name() = %q, want %q", dev.Name(), testDevice)
	}
	err = os.WriteFile("/proc/sys/net/ipv6/conf/"+testDevice+"/disable_ipv6", []byte("1"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("disable IPv6 on %s: %v", testDevice, err)
	}
	link, err := netlink.LinkByName(testDevice)
	if err != nil {
		t.Fatalf("find %s: %v", testDevice, err)
	}
	addr, err := netlink.ParseAddr(testAddress)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		t.Fatalf("ip addr add %s dev %s: %v", testAddress, testDevice, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatalf("ip link set %s up: %v", testDevice, err)
	}
	return dev
}

// newBatch allocates a batch of n buffers with the headroom marked.
func newBatch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, testBufLen)
		fillHeadroom(bufs[i])
	}
	return bufs, make([]int, n)
}

func fillHeadroom(buf []byte) {
	for i := range buf[:testOffset] {
		buf[i] = headroomFill
	}
}

func headroomIntact(buf []byte) bool {
	return bytes.Count(buf[:testOffset], []byte{headroomFill}) == testOffset
}

// readMatching reads packets from dev until match accepts one and returns a
// copy of it, skipping others. It fails the test after testTimeout, closing
// the device to stop the reader.
func readMatching(t *testing.T, dev Device, match func(pkt []byte) bool) []byte {
	t.Helper()
	type result struct {
		pkt []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		bufs, sizes := newBatch(dev.BatchSize())
		for {
			n, err := dev.Read(bufs, sizes, testOffset)
			for i := range n {
				if !headroomIntact(bufs[i]) {
					done <- result{err: errors.New("Read wrote into the headroom before the offset")}
					return
				}
				pkt := bufs[i][testOffset : testOffset+sizes[i]]
				if match(pkt) {
					done <- result{pkt: bytes.Clone(pkt)}
					return
				}
			}
			if err != nil {
				done <- result{err: err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("reading from %s: %v", dev.Name(), r.err)
		}
		return r.pkt
	case <-time.After(testTimeout):
		dev.Close()
		<-done
		t.Fatalf("no matching packet read from %s within %v", dev.Name(), testTimeout)
		return nil
	}
}

// echoRequest builds an ICMP echo request from the peer to the TUN address,
// encoded by gopacket so the test does not trust our own header code.
func echoRequest(t testing.TB, seq uint16, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version:  4,
		IHL:      5,
		TTL:      64,
		Protocol: layers.IPProtocolICMPv4,
		SrcIP:    net.ParseIP(testPeer).To4(),
		DstIP:    net.ParseIP(testLocal).To4(),
	}
	icmp := &layers.ICMPv4{
		TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
		Id:       0x1234,
		Seq:      seq,
	}
	out := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(out, opts, ip, icmp, gopacket.Payload(payload)); err != nil {
		t.Fatalf("build echo request: %v", err)
	}
	return out.Bytes()
}

// isEchoReply decodes pkt with gopacket and reports whether it is the
// kernel's echo reply to echoRequest(seq, payload).
func isEchoReply(pkt []byte, seq uint16, payload []byte) bool {
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || icmp == nil {
		return false
	}
	return ip.SrcIP.String() == testLocal &&
		ip.DstIP.String() == testPeer &&
		icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply &&
		icmp.Id == 0x1234 && icmp.Seq == seq &&
		bytes.Equal(icmp.Payload, payload)
}

// packetAt copies pkt into a fresh buffer at testOffset, with marked headroom.
func packetAt(pkt []byte) []byte {
	buf := make([]byte, testOffset+len(pkt))
	fillHeadroom(buf)
	copy(buf[testOffset:], pkt)
	return buf
}

// isEchoReplyNoDecode checks the protocol and ICMP type bytes directly,
// because decoding with gopacket would allocate inside the measured function.
func isEchoReplyNoDecode(pkt []byte) bool {
	const protocolOffset, ihlMask, echoReply = 9, 0x0f, 0
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return false
	}
	ihl := int(pkt[0]&ihlMask) * 4
	return pkt[protocolOffset] == byte(layers.IPProtocolICMPv4) && len(pkt) > ihl && pkt[ihl] == echoReply
}
