package tun

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// virtioGSOType is where the virtio-net header wireguard writes in front of
// a packet says how the kernel should segment it (struct virtio_net_hdr:
// flags, then gso_type).
func virtioGSOType(buf []byte) byte { return buf[testOffset-OffloadWriteHeadroom+1] }

// UDP segmentation offload: one 10 000-byte send with UDP_SEGMENT 1000 goes
// into the TUN as one GSO super-packet, and one Read returns it split into
// ten valid datagrams of 1028 bytes.
func TestOffloadReadSplitsUDPSegmentation(t *testing.T) {
	dev := offloadBackend.open(t)
	conn := dialPeer(t, 40010)
	const segment = 1000
	setUDPSegment(t, conn, segment)
	data := pattern(10 * segment)
	if _, err := conn.Write(data); err != nil {
		t.Fatalf("send %d bytes with UDP_SEGMENT %d: %v", len(data), segment, err)
	}

	pkts := readBatchMatching(t, dev, isUDPTo(40010))
	if len(pkts) < 2 {
		t.Fatalf("the first Read with the flow returned %d packet, want the super-packet split into several", len(pkts))
	}
	var got []byte
	for i, pkt := range pkts {
		p := decodeChecked(t, pkt)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || udp.DstPort != 40010 {
			t.Fatalf("packet %d of the batch is not of the flow: %v", i, p)
		}
		if len(pkt) > 20+8+segment {
			t.Errorf("packet %d is %d bytes, want at most %d", i, len(pkt), 20+8+segment)
		}
		got = append(got, udp.Payload...)
	}
	if len(pkts) != len(data)/segment || !bytes.Equal(got, data) {
		t.Errorf("one Read returned %d datagrams with %d bytes of payload, want %d with the %d bytes sent, in order", len(pkts), len(got), len(data)/segment, len(data))
	}
	t.Logf("one Read returned %d datagrams for one %d-byte UDP_SEGMENT send", len(pkts), len(data))
}

// TCP segmentation offload: a kernel socket connected through the TUN to a
// peer the test plays sends its first flight as one super-packet, which one
// Read returns as consecutive MTU-sized segments.
func TestOffloadReadSplitsTCPSegmentation(t *testing.T) {
	dev := offloadBackend.open(t)
	const peerPort = 40011
	conn, syn := connectThroughTUN(t, dev, peerPort)
	defer conn.Close()

	data := pattern(60000) // within the 65535-byte window the peer offered
	go conn.Write(data)    // ends when the test closes conn
	isData := func(pkt []byte) bool {
		tcp := decodeTCP(pkt)
		return tcp != nil && tcp.DstPort == peerPort && len(tcp.Payload) > 0
	}
	pkts := readBatchMatching(t, dev, isData)
	next := syn.Seq + 1
	segments := 0
	for i, pkt := range pkts {
		if !isData(pkt) {
			continue
		}
		segments++
		tcp := decodeTCP(decodeChecked(t, pkt).Data())
		if len(pkt) > testMTU {
			t.Errorf("segment %d is %d bytes, more than the %d-byte MTU", i, len(pkt), testMTU)
		}
		if tcp.Seq != next {
			t.Errorf("segment %d has seq %d, want %d (consecutive)", i, tcp.Seq, next)
		}
		start := int(tcp.Seq - (syn.Seq + 1))
		if start+len(tcp.Payload) > len(data) || !bytes.Equal(tcp.Payload, data[start:start+len(tcp.Payload)]) {
			t.Errorf("segment %d carries other bytes than those written at %d", i, start)
		}
		next = tcp.Seq + uint32(len(tcp.Payload))
	}
	if segments < 2 {
		t.Fatalf("the first Read with data returned %d data segment, want a super-packet split into several", segments)
	}
	t.Logf("one Read returned %d TCP segments (%d bytes) of one super-packet", segments, next-(syn.Seq+1))
}

// TCP GRO on Write: consecutive segments of one flow, written as one batch at
// offset 20, are coalesced into one super-packet (the virtio-net header in
// front of the first says TCPV4), and the kernel socket receives every byte.
func TestOffloadWriteCoalescesTCP(t *testing.T) {
	dev := offloadBackend.open(t)
	const localPort, peerPort = 5001, 40001
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.MustParseAddrPort(testLocal+":5001")))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const peerISN = 1000
	writeOne(t, dev, peerSegment(t, peerPort, localPort, 1, peerISN, 0, tcpFlags{syn: true}, nil, mssOption()))
	synAck := decodeTCP(readOneMatching(t, dev, isTCPTo(peerPort, true, true)))
	writeOne(t, dev, peerSegment(t, peerPort, localPort, 2, peerISN+1, synAck.Seq+1, tcpFlags{ack: true}, nil))
	ln.SetDeadline(time.Now().Add(testTimeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept the crafted connection: %v", err)
	}
	defer conn.Close()

	const segments, size = 8, 1000
	data := pattern(segments * size)
	bufs := make([][]byte, segments)
	for i := range bufs {
		flags := tcpFlags{ack: true, psh: i == segments-1}
		seg := peerSegment(t, peerPort, localPort, uint16(3+i), peerISN+1+uint32(i*size), synAck.Seq+1, flags, data[i*size:(i+1)*size])
		bufs[i] = roomyPacketAt(seg)
	}
	first, firstLen := &bufs[0][0], len(bufs[0])

	n, err := dev.Write(bufs, testOffset)
	if n != segments || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, segments)
	}
	if &bufs[0][0] != first || len(bufs[0]) != firstLen {
		t.Errorf("Write changed the caller's bufs slice; it may change bytes, not the slice")
	}
	if got := virtioGSOType(bufs[0]); got != unix.VIRTIO_NET_HDR_GSO_TCPV4 {
		t.Errorf("virtio-net gso_type in front of the first segment = %d, want %d (TCPV4): the batch was not coalesced", got, unix.VIRTIO_NET_HDR_GSO_TCPV4)
	}
	got := make([]byte, len(data))
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read what was written: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the socket received other bytes than the segments carried")
	}
}

// UDP GRO on Write: datagrams of one flow written as one batch are coalesced
// (gso_type UDP_L4), and the kernel splits them again for a socket without
// UDP_GRO: it receives each datagram whole, in order. A batch longer than
// wireguard's table of flows is written in parts, and a packet refused in a
// later part is named by its index in the whole batch.
func TestOffloadWriteCoalescesUDP(t *testing.T) {
	dev := offloadBackend.open(t)
	sock, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(testLocal+":5003")))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	// One flow: eight datagrams, the last one shorter (GRO allows that).
	var want [][]byte
	var bufs [][]byte
	for i := range 8 {
		payload := pattern(1000 - 500*(i/7))
		payload[0] = byte(i)
		want = append(want, payload)
		bufs = append(bufs, roomyPacketAt(peerDatagram(t, 40003, 5003, uint16(i), payload)))
	}
	n, err := dev.Write(bufs, testOffset)
	if n != len(bufs) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(bufs))
	}
	if got := virtioGSOType(bufs[0]); got != unix.VIRTIO_NET_HDR_GSO_UDP_L4 {
		t.Errorf("virtio-net gso_type = %d, want %d (UDP_L4): the batch was not coalesced (USO needs Linux 6.2)", got, unix.VIRTIO_NET_HDR_GSO_UDP_L4)
	}
	receiveDatagrams(t, sock, want)

	// 200 flows (one datagram from each of 200 ports): more than the 128
	// wireguard's GRO tables hold, which would panic in one pass. Packet
	// 150, empty, is refused, and the error says which it was.
	want, bufs = nil, nil
	for i := range 200 {
		if i == 150 {
			bufs = append(bufs, packetAt(nil))
			continue
		}
		payload := []byte{byte(i), byte(i >> 8), 'x'}
		want = append(want, payload)
		bufs = append(bufs, packetAt(peerDatagram(t, uint16(20000+i), 5003, uint16(i), payload)))
	}
	n, err = dev.Write(bufs, testOffset)
	if n != len(bufs)-1 || err == nil || IsClosed(err) || !strings.Contains(err.Error(), "packet 150:") {
		t.Fatalf("Write of %d flows, one empty = %d, %v; want %d and an error naming packet 150", len(bufs), n, err, len(bufs)-1)
	}
	receiveDatagrams(t, sock, want)
}

// receiveDatagrams reads len(want) datagrams from sock and compares them, in
// order, with want.
func receiveDatagrams(t *testing.T, sock *net.UDPConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 65535)
	sock.SetReadDeadline(time.Now().Add(testTimeout))
	for i, w := range want {
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatalf("received %d of %d datagrams: %v", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d: got %d bytes starting %x, want %d starting %x", i, n, buf[:min(n, 4)], len(w), w[:min(len(w), 4)])
		}
	}
}

// setUDPSegment turns on UDP segmentation offload for conn's sends
// (setsockopt SOL_UDP UDP_SEGMENT): each send is cut into datagrams of size
// bytes, by the TUN's reader when the TUN takes USO, by the kernel otherwise.
func setUDPSegment(tb testing.TB, conn *net.UDPConn, size int) {
	tb.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var sockErr error
	if err := raw.Control(func(fd uintptr) { sockErr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, size) }); err != nil {
		tb.Fatal(err)
	}
	if sockErr != nil {
		tb.Fatalf("setsockopt UDP_SEGMENT %d: %v", size, sockErr)
	}
}

// pattern returns n bytes that differ from one position to the next, so a
// misplaced segment shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// A super-packet with more segments than the batch has buffers fills the
// batch and loses the rest; Read says so with an error that does not stop a
// read loop. (wireguard also drops the last segment that fitted, an
// off-by-one this test tolerates.)
func TestOffloadReadWithTooFewBuffers(t *testing.T) {
	dev := offloadBackend.open(t)
	conn := dialPeer(t, 40012)
	setUDPSegment(t, conn, 1000)
	if _, err := conn.Write(pattern(10000)); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := newBatch(2)
	n, err := dev.Read(bufs, sizes, testOffset)
	if n < 1 || n > 2 || err == nil || IsClosed(err) || !strings.Contains(err.Error(), "more segments than the 2 buffers") {
		t.Fatalf("Read of 10 segments into 2 buffers = %d, %v; want 1 or 2 packets and an error that is not a closed one", n, err)
	}
	t.Logf("Read of a 10-segment super-packet into 2 buffers returned %d packets and %v", n, err)
	for i := range n {
		decodeChecked(t, bufs[i][testOffset:testOffset+sizes[i]])
	}
}
