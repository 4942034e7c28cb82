package e2e

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/internal/rawsock"
)

// udpPacket builds an IPv4/UDP datagram (UDP checksum 0: none, allowed
// over IPv4) with a valid header checksum.
func udpPacket(src, dst netip.Addr, sport, dport uint16, tos uint8, id uint16, payload []byte) []byte {
	return packettest.IP{Src: src, Dst: dst, TOS: tos, ID: id}.UDP(sport, dport, payload)
}

// ipipPacket wraps inner in an outer IPv4 header, protocol 4, with a valid
// checksum and DF clear.
func ipipPacket(src, dst netip.Addr, tos uint8, id uint16, inner []byte) []byte {
	return packettest.IP{Src: src, Dst: dst, TOS: tos, ID: id}.IPIP(inner)
}

// rawSender opens a header-included raw socket inside ns, closed at the end
// of the test: packets written to it leave with their header as written.
func rawSender(t *testing.T, ns *lab.NS) *rawsock.Sender {
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
