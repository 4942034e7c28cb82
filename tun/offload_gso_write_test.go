package tun

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/packettest"
)

// peerTCP is a segment from the test's peer to port of the TUN's address,
// a SYN or an ACK (with PSH when it carries data), at testOffset in a
// buffer.
func peerTCP(t *testing.T, sport, dport uint16, seq, ack uint32, syn bool, payload []byte) []byte {
	t.Helper()
	flags := tcpFlags{syn: syn, ack: !syn, psh: len(payload) > 0}
	return packetAt(peerSegment(t, sport, dport, 0, seq, ack, flags, payload))
}

// A 64 KiB TCP super-packet with a partial checksum, written whole, reaches
// a socket of the kernel's TCP intact: the handshake is played by hand from
// the peer's side, then the super-packet carries the data.
func TestOffloadWriteTCPv4GSO(t *testing.T) {
	dev := offloadBackend.open(t)
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
	synAck := decodeTCP(readOneMatching(t, dev, isTCPTo(sport, true, true)))
	if _, err := dev.Write([][]byte{peerTCP(t, sport, port, iss+1, synAck.Seq+1, false, nil)}, testOffset); err != nil {
		t.Fatal(err)
	}
	ln.SetDeadline(time.Now().Add(testTimeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the handshake did not complete: %v", err)
	}
	defer conn.Close()

	payload := pattern(45 * 1400)
	buf := peerTCP(t, sport, port, iss+1, synAck.Seq+1, false, payload)
	packettest.PartialChecksum(buf[testOffset:])
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
	dev := offloadBackend.open(t).(GSOWriter)
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
	dev := offloadBackend.open(t)
	link, err := netlink.LinkByName(testDevice)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(link); err != nil {
		t.Fatal(err)
	}
	buf := peerTCP(t, 40000, 80, 1, 1, false, make([]byte, 3000))
	packettest.PartialChecksum(buf[testOffset:])
	if err := dev.(GSOWriter).WriteTCPv4GSO(buf, testOffset, 1400); !IsClosed(err) {
		t.Fatalf("WriteTCPv4GSO after the device was deleted: %v; want an error IsClosed reports", err)
	}
}
