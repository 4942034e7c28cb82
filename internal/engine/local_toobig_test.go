package engine

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
)

// A packet of this host's own without DF, too big for a pmtudisc tunnel's
// path: the kernel drops it (IP output refuses the outer DF packet) after
// tnl_update_pmtu put the path MTU on the sender's route, and the sender
// fragments what follows. ipipd drops it too and tells the local stack the
// MTU with ICMP frag needed; a forwarded packet's sender learns nothing.
func TestLocalNonDFPacketTooBigTeachesTheSender(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	local := netip.MustParseAddr("172.16.0.1")
	e.netns().local.Store(&localTable{local: map[uint32]struct{}{header.Addr4(local): {}}})

	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1481, false))
	codes, mtus := icmpCodes(devs["p2p"])
	s := e.Status().Tunnels[0].Stats
	if len(send.sent) != 0 || len(codes) != 1 || codes[0] != 4 || mtus[0] != 1480 || s.TxDropped != 1 || s.Drops["too_big"] != 1 {
		t.Fatalf("local sender: sent %d, ICMP codes %v mtus %v, stats %+v; want the packet dropped (too_big, tx_dropped) and frag needed with 1480", len(send.sent), codes, mtus, s)
	}

	devs["p2p"].written = nil
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.7", "172.16.9.9", 1481, false))
	if codes, _ := icmpCodes(devs["p2p"]); len(codes) != 0 || len(send.sent) != 0 {
		t.Fatalf("forwarded packet: ICMP codes %v, sent %d; want it dropped with no ICMP, as the kernel", codes, len(send.sent))
	}
}
