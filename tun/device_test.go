package tun

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// The Device contract, as both backends keep it.

// A datagram the kernel routes out of the TUN comes out of Read, whole, at
// the offset, with valid checksums: the kernel hands an offload TUN
// packets with the transport checksum left to do, and wireguard completes
// it.
func TestReadGetsWhatTheKernelRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		if got := dev.BatchSize(); got != b.batchSize {
			t.Errorf("BatchSize() = %d, want %d", got, b.batchSize)
		}
		conn := dialPeer(t, 40000)
		payload := []byte("ipipd tun read test")
		if _, err := conn.Write(payload); err != nil {
			t.Fatalf("send UDP to %s: %v", testPeer, err)
		}

		p := decodeChecked(t, readOneMatching(t, dev, isUDPTo(40000)))
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip.SrcIP.String() != testLocal || ip.DstIP.String() != testPeer {
			t.Errorf("IPv4 %v -> %v, want %s -> %s", ip.SrcIP, ip.DstIP, testLocal, testPeer)
		}
		if !bytes.Equal(udp.Payload, payload) {
			t.Errorf("UDP payload %q, want %q", udp.Payload, payload)
		}
	})
}

// A packet written into the TUN reaches the kernel's IPv4 input: an echo
// request to the TUN's address is answered, and the reply comes back out.
func TestWriteReachesTheKernel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		payload := []byte("ipipd tun write test")
		buf := packetAt(echoRequest(t, 1, payload))

		n, err := dev.Write([][]byte{buf}, testOffset)
		if n != 1 || err != nil {
			t.Fatalf("Write = %d, %v; want 1, nil", n, err)
		}
		if !b.writeUsesHeadroom && !headroomIntact(buf) {
			t.Errorf("Write changed the headroom before the offset")
		}
		decodeChecked(t, readOneMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 1, payload) }))
	})
}

// readResult is what a Read started by startRead returned.
type readResult struct {
	n   int
	err error
}

// startRead starts a Read of a full batch from dev, which has nothing to
// read, and gives it 100 ms to block: it then sends what the Read returns.
// Were it not blocked yet, it would find the device closed instead, which
// the tests accept as well.
func startRead(dev Device) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		bufs, sizes := newBatch(dev.BatchSize())
		n, err := dev.Read(bufs, sizes, testOffset)
		done <- readResult{n, err}
	}()
	time.Sleep(100 * time.Millisecond)
	return done
}

// Close wakes a Read that is blocked with nothing to read, and the error
// says closed; later calls say closed at once, a second Close is nil, and
// the device is gone.
func TestCloseUnblocksRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		done := startRead(dev)
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
		if n, err := dev.Write([][]byte{packetAt(echoRequest(t, 1, nil))}, testOffset); n != 0 || !IsClosed(err) {
			t.Errorf("Write after Close = %d, %v; want 0 and a closed error", n, err)
		}
		if err := dev.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if _, err := netlink.LinkByName(testDevice); err == nil {
			t.Errorf("device %s still exists after Close; a non-persistent TUN should go with its descriptor", testDevice)
		}
	})
}

// Deleting the device under a blocked Read (ip link del) ends the Read with
// a closed error that says so, so a read loop stops instead of spinning on
// the kernel's EBADFD; a Write says closed too.
func TestDeletedDeviceReadsAsClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		done := startRead(dev)
		link, err := netlink.LinkByName(testDevice)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkDel(link); err != nil {
			t.Fatalf("ip link del %s: %v", testDevice, err)
		}
		select {
		case r := <-done:
			if !IsClosed(r.err) || !strings.Contains(r.err.Error(), "deleted") {
				t.Errorf("Read on a deleted device = %v, want an error wrapping os.ErrClosed that says the device was deleted", r.err)
			}
		case <-time.After(testTimeout):
			dev.Close()
			t.Fatalf("Read still blocked %v after the device was deleted", testTimeout)
		}
		n, err := dev.Write([][]byte{packetAt(echoRequest(t, 1, nil))}, testOffset)
		if n != 0 || !IsClosed(err) {
			t.Errorf("Write on a deleted device = %d, %v; want 0 and a closed error", n, err)
		}
	})
}

// The datapath calls Read and Write once per batch forever; in steady state
// neither allocates. Each run writes an echo request and reads the reply.
func TestReadWriteAllocateNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dev := b.open(t)
		payload := []byte("no allocations")
		request := [][]byte{packetAt(echoRequest(t, 7, payload))}
		bufs, sizes := newBatch(1)
		var failures []string
		allocs := testing.AllocsPerRun(200, func() {
			if n, err := dev.Write(request, testOffset); n != 1 || err != nil {
				failures = append(failures, "write failed")
				return
			}
			// A quiet namespace with IPv6 off sends nothing else into the
			// TUN, so the next packet is the reply (a blocked Read would
			// hang the test, which go test's timeout reports).
			n, err := dev.Read(bufs, sizes, testOffset)
			if n != 1 || err != nil || !isEchoReplyNoDecode(bufs[0][testOffset:testOffset+sizes[0]]) {
				failures = append(failures, "read did not return the echo reply")
			}
		})
		if len(failures) > 0 {
			t.Fatalf("%d of the runs went wrong, first: %s", len(failures), failures[0])
		}
		if allocs != 0 {
			t.Errorf("Write+Read of one packet allocate %v times per call, want 0", allocs)
		}
	})
}

// unusableRead is a Read call that a device must refuse, without blocking.
type unusableRead struct {
	name   string
	bufs   [][]byte
	sizes  []int
	offset int
}

// checkReadRefuses makes each of reads on dev and fails the test for any
// that does not return 0 and an error other than a closed one.
func checkReadRefuses(t *testing.T, dev Device, reads []unusableRead) {
	t.Helper()
	for _, r := range reads {
		n, err := dev.Read(r.bufs, r.sizes, r.offset)
		if n != 0 || err == nil || IsClosed(err) {
			t.Errorf("%s: Read = %d, %v; want 0 and an error", r.name, n, err)
		}
	}
}
