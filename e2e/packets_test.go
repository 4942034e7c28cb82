package e2e

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/rawsock"
	"github.com/ipipd/ipipd/internal/testnet"
)

// udpPacket builds an IPv4/UDP datagram (UDP checksum 0: none, allowed
// over IPv4) with a valid header checksum.
func udpPacket(src, dst netip.Addr, sport, dport uint16, tos uint8, id uint16, payload []byte) []byte {
	pkt := make([]byte, header.MinSize+8+len(payload))
	header.IPv4(pkt).Encode(&header.Fields{
		TOS: tos, TotalLength: uint16(len(pkt)), ID: id, TTL: 64, Protocol: 17,
		Src: header.Addr4(src), Dst: header.Addr4(dst),
	})
	udp := pkt[header.MinSize:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return pkt
}

// ipipPacket wraps inner in an outer IPv4 header, protocol 4, with a valid
// checksum and DF clear.
func ipipPacket(src, dst netip.Addr, tos uint8, id uint16, inner []byte) []byte {
	pkt := make([]byte, header.MinSize+len(inner))
	header.IPv4(pkt).Encode(&header.Fields{
		TOS: tos, TotalLength: uint16(len(pkt)), ID: id, TTL: 64, Protocol: header.ProtocolIPIP,
		Src: header.Addr4(src), Dst: header.Addr4(dst),
	})
	copy(pkt[header.MinSize:], inner)
	return pkt
}

// rawSender opens a header-included raw socket inside ns, closed at the end
// of the test: packets written to it leave with their header as written.
func rawSender(t *testing.T, ns *testnet.NS) *rawsock.Sender {
	t.Helper()
	var s *rawsock.Sender
	if err := ns.Do(func() error {
		var err error
		s, err = rawsock.NewSender(rawsock.SenderOptions{})
		return err
	}); err != nil {
		t.Fatalf("raw socket in %s: %v", ns, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
