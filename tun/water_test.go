package tun

import (
	"bytes"
	"github.com/ipipd/ipipd/internal/testnet"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// A datagram the kernel routes out of the TUN comes out of Read, whole, at
// the offset.
func TestWaterReadGetsWhatTheKernelRoutes(t *testing.T) {
	dev := openTestDevice(t)
	if got := dev.BatchSize(); got != 1 {
		t.Errorf("BatchSize() = %d, want 1 for a plain TUN", got)
	}
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(testPeer+":40000")))
	if err != nil {
		t.Fatalf("UDP socket toward %s: %v", testPeer, err)
	}
	defer conn.Close()
	payload := []byte("ipipd tun read test")
	if _, err := conn.Write(payload); err != nil {
		t.Fatalf("send UDP to %s: %v", testPeer, err)
	}

	pkt := readMatching(t, dev, func(pkt []byte) bool {
		udp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
		return udp != nil && udp.DstPort == 40000
	})
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if errLayer := p.ErrorLayer(); errLayer != nil {
		t.Fatalf("gopacket cannot decode what Read returned: %v", errLayer.Error())
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip.SrcIP.String() != testLocal || ip.DstIP.String() != testPeer {
		t.Errorf("IPv4 %v -> %v, want %s -> %s", ip.SrcIP, ip.DstIP, testLocal, testPeer)
	}
	if int(ip.Length) != len(pkt) {
		t.Errorf("IPv4 total length %d, but Read reported %d bytes", ip.Length, len(pkt))
	}
	if !bytes.Equal(udp.Payload, payload) {
		t.Errorf("UDP payload %q, want %q", udp.Payload, payload)
	}
}

// A packet written into the TUN reaches the kernel's IPv4 input: an echo
// request to the TUN's address is answered, and the reply comes back out.
func TestWaterWriteReachesTheKernel(t *testing.T) {
	dev := openTestDevice(t)
	payload := []byte("ipipd tun write test")
	buf := packetAt(echoRequest(t, 1, payload))

	n, err := dev.Write([][]byte{buf}, testOffset)
	if n != 1 || err != nil {
		t.Fatalf("Write = %d, %v; want 1, nil", n, err)
	}
	if !headroomIntact(buf) {
		t.Errorf("Write changed the headroom before the offset")
	}
	readMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 1, payload) })
}

// A packet the kernel refuses does not stop the batch, and its error names
// the packet and is not mistaken for a closed device.
func TestWaterWriteCarriesOnAfterARefusedPacket(t *testing.T) {
	dev := openTestDevice(t)
	payload := []byte("batch")
	// The kernel tells IPv4 from IPv6 by the version nibble of a NO_PI TUN
	// packet; version 0 is neither and is refused with EINVAL.
	notIP := packetAt(make([]byte, 40))
	batch := [][]byte{
		packetAt(echoRequest(t, 1, payload)),
		notIP,
		packetAt(echoRequest(t, 2, payload)),
	}

	n, err := dev.Write(batch, testOffset)
	if n != 2 {
		t.Errorf("Write wrote %d packets, want 2 (all but the refused one)", n)
	}
	if err == nil || !strings.Contains(err.Error(), "packet 1 of 3") {
		t.Errorf("Write error = %v, want one naming packet 1 of 3", err)
	}
	if IsClosed(err) {
		t.Errorf("IsClosed(%v) = true for a refused packet", err)
	}
	readMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 1, payload) })
	readMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 2, payload) })
}

// Close wakes a Read that is blocked with nothing to read, and the error
// says closed; later calls say closed at once.
func TestWaterCloseUnblocksRead(t *testing.T) {
	dev := openTestDevice(t)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		bufs, sizes := newBatch(1)
		n, err := dev.Read(bufs, sizes, testOffset)
		done <- result{n, err}
	}()
	// Nothing is sent to the device, so the Read is parked in the poller by
	// now; if it were not yet, it would find the descriptor closed instead,
	// which the test accepts as well.
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("Read returned %d, %v before Close", r.n, r.err)
	default:
	}

	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-done:
		if r.n != 0 || !IsClosed(r.err) {
			t.Errorf("blocked Read after Close = %d, %v; want 0 and an error wrapping os.ErrClosed", r.n, r.err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("Read still blocked %v after Close", testTimeout)
	}

	bufs, sizes := newBatch(1)
	if n, err := dev.Read(bufs, sizes, testOffset); n != 0 || !IsClosed(err) {
		t.Errorf("Read after Close = %d, %v; want 0 and a closed error", n, err)
	}
	if n, err := dev.Write(bufs, testOffset); n != 0 || !IsClosed(err) {
		t.Errorf("Write after Close = %d, %v; want 0 and a closed error", n, err)
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := netlink.LinkByName(testDevice); err == nil {
		t.Errorf("device %s still exists after Close; a non-persistent TUN should go with its descriptor", testDevice)
	}
}

// Deleting the device under a blocked Read (ip link del) ends the Read with
// a closed error, so a read loop stops instead of spinning on EBADFD.
func TestWaterDeletedDeviceReadsAsClosed(t *testing.T) {
	dev := openTestDevice(t)
	done := make(chan error, 1)
	go func() {
		bufs, sizes := newBatch(1)
		_, err := dev.Read(bufs, sizes, testOffset)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	link, err := netlink.LinkByName(testDevice)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(link); err != nil {
		t.Fatalf("ip link del %s: %v", testDevice, err)
	}
	select {
	case err := <-done:
		if !IsClosed(err) {
			t.Errorf("Read on a deleted device = %v, want an error wrapping os.ErrClosed", err)
		}
	case <-time.After(testTimeout):
		dev.Close()
		t.Fatalf("Read still blocked %v after the device was deleted", testTimeout)
	}
	n, err := dev.Write([][]byte{packetAt(echoRequest(t, 1, nil))}, testOffset)
	if n != 0 || !IsClosed(err) {
		t.Errorf("Write on a deleted device = %d, %v; want 0 and a closed error", n, err)
	}
}

// The datapath calls Read and Write once per batch forever; neither may
// allocate. Each run writes an echo request and reads the kernel's reply.
func TestWaterReadWriteAllocateNothing(t *testing.T) {
	dev := openTestDevice(t)
	payload := []byte("no allocations")
	request := [][]byte{packetAt(echoRequest(t, 7, payload))}
	bufs, sizes := newBatch(dev.BatchSize())
	var failures []string
	allocs := testing.AllocsPerRun(200, func() {
		if n, err := dev.Write(request, testOffset); n != 1 || err != nil {
			failures = append(failures, "write failed")
			return
		}
		// A quiet namespace with IPv6 off sends nothing else into the TUN,
		// so the next packet is the reply (a blocked Read would hang the
		// test, which go test's timeout reports).
		n, err := dev.Read(bufs, sizes, testOffset)
		if n != 1 || err != nil || !isEchoReplyNoDecode(bufs[0][testOffset:testOffset+sizes[0]]) {
			failures = append(failures, "read did not return the echo reply")
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d of the runs went wrong, first: %s", len(failures), failures[0])
	}
	if allocs != 0 {
		t.Errorf("Write+Read allocate %v times per call, want 0", allocs)
	}
}

// Read refuses a batch it cannot fill, without blocking.
func TestWaterReadRejectsUnusableBatches(t *testing.T) {
	dev := openTestDevice(t)
	bufs, sizes := newBatch(1)
	tests := []struct {
		name   string
		bufs   [][]byte
		sizes  []int
		offset int
	}{
		{"no buffers", nil, sizes, 0},
		{"no sizes", bufs, nil, 0},
		{"offset at the end", bufs, sizes, testBufLen},
		{"negative offset", bufs, sizes, -1},
	}
	for _, tt := range tests {
		n, err := dev.Read(tt.bufs, tt.sizes, tt.offset)
		if n != 0 || err == nil || IsClosed(err) {
			t.Errorf("%s: Read = %d, %v; want 0 and an error", tt.name, n, err)
		}
	}
}

// OpenWater refuses a name some device already has, instead of failing with
// the kernel's bare EINVAL or taking over a persistent TUN.
func TestOpenWaterRefusesATakenName(t *testing.T) {
	testnet.EnterFresh(t)
	dev, err := OpenWater("lo")
	if err == nil {
		dev.Close()
		t.Fatalf("OpenWater(\"lo\") succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("OpenWater(\"lo\") error = %q, want it to say the name already exists", err)
	}
}
