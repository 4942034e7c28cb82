package tun

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packettest"
)

// A kernel socket connected through the TUN to a peer the test plays sends
// its first flight as one TCP super-packet: a GSOReader returns it whole,
// with the segment size the kernel chose and a partial TCP checksum, where
// the device's Read returns it cut into segments.
func TestGSOReaderReturnsTCPSuperPacketsWhole(t *testing.T) {
	dev := offloadBackend.open(t)
	const peerPort = 40012
	conn, syn := connectThroughTUN(t, dev, peerPort)
	defer conn.Close()

	r, err := NewGSOReader(dev)
	if err != nil {
		t.Fatal(err)
	}
	data := pattern(60000)
	go conn.Write(data)
	bufs, sizes := newBatch(1)
	deadline := time.Now().Add(testTimeout)
	for time.Now().Before(deadline) {
		n, mss, err := r.Read(bufs, sizes, testOffset)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		pkt := header.IPv4(bufs[0][testOffset : testOffset+sizes[0]])
		tcp := decodeTCP(pkt)
		if n != 1 || tcp == nil || tcp.DstPort != peerPort || len(tcp.Payload) == 0 {
			continue // the handshake's ACK
		}
		if mss == 0 {
			t.Fatalf("the first data packet, %d bytes, came with no segment size: not a super-packet", len(pkt))
		}
		if len(tcp.Payload) <= mss || mss > testMTU-40 {
			t.Errorf("a super-packet of %d payload bytes with segments of %d on a %d-byte MTU", len(tcp.Payload), mss, testMTU)
		}
		if int(pkt.TotalLength()) != len(pkt) || !pkt.HeaderChecksumValid() {
			t.Errorf("IPv4 total length %d for %d bytes, or a bad header checksum", pkt.TotalLength(), len(pkt))
		}
		if got, want := binary.BigEndian.Uint16(pkt[pkt.HeaderLength()+16:]), packettest.PseudoHeaderSum(pkt); got != want {
			t.Errorf("TCP checksum field %#04x, want the pseudo-header sum %#04x (partial)", got, want)
		}
		if tcp.Seq != syn.Seq+1 || !bytes.Equal(tcp.Payload, data[:len(tcp.Payload)]) {
			t.Errorf("the super-packet starts at seq %d (want %d) or carries other bytes than written", tcp.Seq, syn.Seq+1)
		}
		t.Logf("one Read returned a %d-byte super-packet of %d-byte segments", len(pkt), mss)
		return
	}
	t.Fatal("no data packet within the timeout")
}

func TestGSOReaderRefusesWater(t *testing.T) {
	dev := waterBackend.open(t)
	if _, err := NewGSOReader(dev); err == nil {
		t.Fatal("NewGSOReader took a water device")
	}
}

// packetOf reads the virtio-net header: a partial checksum of an ordinary
// packet is finished, a one-segment TCP packet is an ordinary one, and
// other GSO types or headers that disagree with the packet are refused.
func TestPacketOf(t *testing.T) {
	ip := packettest.IP{Src: netip.MustParseAddr("10.245.99.1"), Dst: netip.MustParseAddr("10.245.99.2"), DF: true}
	segment := func(payload int) []byte {
		pkt := ip.TCP(40000, 5201, 1, 1, packettest.FlagACK, packettest.Pattern(payload))
		packettest.PartialChecksum(pkt)
		return pkt
	}
	vnet := func(flags, gsoType uint8, gsoSize, csumStart, csumOffset int) []byte {
		h := make([]byte, virtioNetHdrLen)
		h[0], h[1] = flags, gsoType
		binary.NativeEndian.PutUint16(h[4:], uint16(gsoSize))
		binary.NativeEndian.PutUint16(h[6:], uint16(csumStart))
		binary.NativeEndian.PutUint16(h[8:], uint16(csumOffset))
		return h
	}
	tests := []struct {
		name    string
		hdr     []byte
		pkt     []byte
		mss     int
		whole   bool // the TCP checksum verifies afterwards
		wantErr bool
	}{
		{"a super-packet", vnet(1, 1, 1000, 20, 16), segment(3000), 1000, false, false},
		{"a super-packet with a short last segment", vnet(1, 1, 1000, 20, 16), segment(2001), 1000, false, false},
		{"one segment: finished", vnet(1, 1, 1000, 20, 16), segment(1000), 0, true, false},
		{"no GSO, partial checksum: finished", vnet(1, 0, 0, 20, 16), segment(500), 0, true, false},
		{"no GSO, whole checksum", vnet(0, 0, 0, 0, 0), ip.TCP(1, 2, 3, 4, packettest.FlagACK, []byte("x")), 0, true, false},
		{"UDP GSO", vnet(1, 5, 1000, 20, 6), segment(3000), 0, false, true},
		{"TCPv4 GSO of a checksum elsewhere", vnet(1, 1, 1000, 20, 10), segment(3000), 0, false, true},
		{"TCPv4 GSO without a segment size", vnet(1, 1, 0, 20, 16), segment(3000), 0, false, true},
		{"a partial checksum past the end", vnet(1, 0, 0, 60, 16), segment(10), 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mss, err := packetOf(tt.hdr, tt.pkt)
			if (err != nil) != tt.wantErr || mss != tt.mss {
				t.Fatalf("packetOf = %d, %v; want %d, error %v", mss, err, tt.mss, tt.wantErr)
			}
			if tt.whole && !packettest.TCPChecksumWhole(tt.pkt) {
				t.Error("the TCP checksum does not verify")
			}
		})
	}
}

// A GSO reader narrows the device's offloads to TSO (it cannot hand over
// a UDP super-packet), and they stay narrow once the first Write makes
// wireguard's part of the device, which sets USO again as it starts.
func TestGSOReaderOffloadsOutliveTheFirstWrite(t *testing.T) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("no ethtool (scripts/deps.sh installs it)")
	}
	dev := offloadBackend.open(t)
	udpSegmentation := func() string { return udpSegmentationOf(t, dev) }
	if _, err := NewGSOReader(dev); err != nil {
		t.Fatal(err)
	}
	if got := udpSegmentation(); got != "off" {
		t.Fatalf("after NewGSOReader: tx-udp-segmentation %s, want off", got)
	}
	ip := packettest.IP{Src: netip.MustParseAddr(testPeer), Dst: netip.MustParseAddr(testLocal)}
	pkt := append(make([]byte, testOffset, 2048), ip.UDP(40000, 9, []byte("first write"))...)
	if _, err := dev.Write([][]byte{pkt}, testOffset); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	if got := udpSegmentation(); got != "off" {
		t.Errorf("after the first Write: tx-udp-segmentation %s, want off (the reader's)", got)
	}
}

// A read takes what the device holds, up to the batch passed, without
// waiting again: five datagrams queued come in one Read.
func TestGSOReaderTakesWhatIsQueued(t *testing.T) {
	dev := offloadBackend.open(t)
	r, err := NewGSOReader(dev)
	if err != nil {
		t.Fatal(err)
	}
	w := dev.(Waiter)
	for w.Readable() { // what the kernel sends into a new device
		bufs, sizes := newBatch(1)
		r.Read(bufs, sizes, testOffset)
	}
	conn := dialPeer(t, 40013)
	for i := range 5 {
		if _, err := conn.Write([]byte(fmt.Sprint("datagram ", i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // all five in the device's queue
	bufs, sizes := newBatch(16)
	n, mss, err := r.Read(bufs, sizes, testOffset)
	if err != nil || mss != 0 {
		t.Fatalf("Read = %d, mss %d, %v", n, mss, err)
	}
	if n != 5 {
		t.Fatalf("one Read took %d of the 5 datagrams queued", n)
	}
	for i := range n {
		udp := header.IPv4(bufs[i][testOffset : testOffset+sizes[i]])
		if want := fmt.Sprint("datagram ", i); !bytes.HasSuffix(udp, []byte(want)) {
			t.Errorf("packet %d does not end with %q", i, want)
		}
	}
}

// udpSegmentationOf is what ethtool -k says of the device's UDP
// segmentation offload (USO): on or off.
func udpSegmentationOf(t *testing.T, dev Device) string {
	t.Helper()
	out, err := exec.Command("ethtool", "-k", dev.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool -k %s: %v: %s", dev.Name(), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "tx-udp-segmentation:") {
			return strings.Fields(line)[1]
		}
	}
	t.Fatalf("ethtool -k %s shows no tx-udp-segmentation:\n%s", dev.Name(), out)
	return ""
}

// OpenGSO opens a device with the offloads the GSO reader takes, so that
// NewGSOReader has nothing left to change (no feature update, no link
// notification), where OpenOffload turns USO on.
func TestOpenGSOSetsTheReadersOffloads(t *testing.T) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("no ethtool (scripts/deps.sh installs it)")
	}
	lab.EnterFresh(t)
	dev, err := OpenGSO(testDevice, testMTU)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if got := udpSegmentationOf(t, dev); got != "off" {
		t.Errorf("after OpenGSO: tx-udp-segmentation %s, want off", got)
	}
	d := dev.(*offloadDevice)
	before := d.offloads
	if _, err := NewGSOReader(dev); err != nil {
		t.Fatal(err)
	}
	if d.offloads != before {
		t.Errorf("NewGSOReader changed the offloads of an OpenGSO device: %#x -> %#x", before, d.offloads)
	}
}
