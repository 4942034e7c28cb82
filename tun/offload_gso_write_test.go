package tun

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
)

// peerTCP builds a TCP/IPv4 packet from the test's peer to port of the
// TUN's address, at testOffset in a buffer, with whole checksums
// (gopacket's serializer computes them).
func peerTCP(t *testing.T, sport, dport uint16, seq, ack uint32, syn bool, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: net.ParseIP(testPeer).To4(), DstIP: net.ParseIP(testLocal).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack,
		SYN: syn, ACK: !syn, PSH: len(payload) > 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append(make([]byte, testOffset), sb.Bytes()...)
}

// partialChecksum replaces the TCP checksum of the packet at testOffset
// with the pseudo-header sum over its whole length, as GRO leaves it.
func partialChecksum(buf []byte) {
	pkt := buf[testOffset:]
	tcpLen := len(pkt) - 20
	sum := uint32(binary.BigEndian.Uint16(pkt[12:])) + uint32(binary.BigEndian.Uint16(pkt[14:])) +
		uint32(binary.BigEndian.Uint16(pkt[16:])) + uint32(binary.BigEndian.Uint16(pkt[18:])) + 6 + uint32(tcpLen)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(pkt[20+16:], uint16(sum))
}

// A 64 KiB TCP super-packet with a partial checksum, written whole, reaches
// a socket of the kernel's TCP intact: the handshake is played by hand from
// the peer's side, then the super-packet carries the data.
func TestOffloadWriteTCPv4GSO(t *testing.T) {
	dev := openOffloadTestDevice(t)
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(testLocal)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	const sport, iss = 40000, 1000

	if _, err := dev.Write([][]byte{peerTCP(t, sport, port, iss, 0, true, nil)}, testOffset); err != nil {
		t.Fatal(err)
	}
	synAck := gopacket.NewPacket(readOneMatching(t, dev, isTCPTo(sport, true, true)), layers.LayerTypeIPv4, gopacket.Default).
		Layer(layers.LayerTypeTCP).(*layers.TCP)
	if _, err := dev.Write([][]byte{peerTCP(t, sport, port, iss+1, synAck.Seq+1, false, nil)}, testOffset); err != nil {
		t.Fatal(err)
	}
	ln.SetDeadline(time.Now().Add(testTimeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the handshake did not complete: %v", err)
	}
	defer conn.Close()

	payload := make([]byte, 45*1400)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	buf := peerTCP(t, sport, port, iss+1, synAck.Seq+1, false, payload)
	partialChecksum(buf)
	if err := dev.(GSOWriter).WriteTCPv4GSO(buf, testOffset, 1400); err != nil {
		t.Fatalf("WriteTCPv4GSO: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("the socket read: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the socket read other bytes than the super-packet carried")
	}
}

func TestOffloadWriteTCPv4GSORefuses(t *testing.T) {
	dev := openOffloadTestDevice(t).(GSOWriter)
	good := peerTCP(t, 40000, 80, 1, 1, false, make([]byte, 3000))
	udp := append([]byte(nil), good...)
	udp[testOffset+9] = 17
	shortLen := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(shortLen[testOffset+2:], 100)
	for name, tt := range map[string]struct {
		buf         []byte
		offset, mss int
	}{
		"no room for the virtio-net header": {good[testOffset-4:], 4, 1400},
		"not TCP":                           {udp, testOffset, 1400},
		"total length not the packet's":     {shortLen, testOffset, 1400},
		"segment size 0":                    {good, testOffset, 0},
		"segment size 65535 (GSO_BY_FRAGS)": {good, testOffset, 65535},
	} {
		if err := dev.WriteTCPv4GSO(tt.buf, tt.offset, tt.mss); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A GSO write to a deleted device reports it closed, as Write does.
func TestOffloadWriteTCPv4GSOAfterDelete(t *testing.T) {
	dev := openOffloadTestDevice(t)
	link, err := netlink.LinkByName(testDevice)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	buf := peerTCP(t, 40000, 80, 1, 1, false, make([]byte, 3000))
	partialChecksum(buf)
	if err := dev.(GSOWriter).WriteTCPv4GSO(buf, testOffset, 1400); !IsClosed(err) {
		t.Fatalf("WriteTCPv4GSO after the device was deleted: %v; want an error IsClosed reports", err)
	}
}
