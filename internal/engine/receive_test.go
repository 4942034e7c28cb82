package engine

import "testing"

// An inner header IP input would refuse (version 6 under protocol 4, IHL
// below 5, a total length past the outer packet) is counted as received by
// the tunnel, as ip_tunnel_rcv counts rx_packets and rx_bytes before the
// inner packet reaches IP input, which drops it without a tunnel counter.
// ipipd drops it before the TUN, under its own reason.
func TestReceiveBadInnerCountsAsReceived(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	v6 := overP2P(innerPacket("172.16.9.1", "172.16.0.1", 100, true))
	v6[20] = 0x60
	ihl4 := overP2P(innerPacket("172.16.9.1", "172.16.0.1", 100, true))
	ihl4[20] = 0x44
	receive(e, send, v6, ihl4)
	if len(devs["p2p"].written) != 0 {
		t.Fatalf("%d bad inner packets written into the TUN", len(devs["p2p"].written))
	}
	s := e.Status().Tunnels[0].Stats
	if s.RxPackets != 2 || s.RxBytes != 200 || s.RxErrors != 0 || s.RxLengthErrors != 0 || s.Drops["bad_inner"] != 2 {
		t.Fatalf("stats %+v; want rx_packets 2, rx_bytes 200, no rx_errors, bad_inner 2", s)
	}
}
