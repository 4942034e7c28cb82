package engine

import (
	"net/netip"
	"testing"
	"time"
)

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

// A flood of unmatched packets from spoofed sources, each source new, is
// answered no faster than the host-wide limit (icmp_msgs_per_sec 1000,
// icmp_msgs_burst 50) allows, whatever the per-destination limit says: a
// node must not become a reflector.
func TestPortUnreachableGlobalLimit(t *testing.T) {
	e, _, send := newTestEngine(t, `
tunnels:
  - name: p2p
    local: 10.245.1.2
    remote: 10.245.1.9
`)
	e.netns().icmp.setLimits(1000, 50)
	send.keep = false
	counted := &countingSender{}
	b := newReceiveBuffers(fullBatch, time.Second)
	inner := innerPacket("192.168.42.0", "192.168.41.0", 84, true)
	start := time.Now()
	packets := 0
	for p := 0; p < 10000; p += fullBatch {
		for i := range fullBatch {
			src := netip.AddrFrom4([4]byte{10, 100, byte((p + i) >> 8), byte(p + i)}).String()
			b.batch.Sizes[i] = copy(b.batch.Bufs[i], outerPacket(src, "10.245.1.2", inner))
			b.batch.Links[i] = 2
		}
		e.receiveBatch(counted, b, fullBatch)
		packets += fullBatch
	}
	elapsed := time.Since(start)
	most := 2*(50+int(1000*elapsed.Seconds())) + 20
	if counted.n > most {
		t.Fatalf("%d port unreachables for %d spoofed sources in %v, want at most %d", counted.n, packets, elapsed, most)
	}
	if g := e.Status().Global; g.PortUnreachables != uint64(counted.n) || g.RateLimited != uint64(packets-counted.n) {
		t.Errorf("global %+v, sent %d", g, counted.n)
	}
}

// countingSender counts the packets written to it.
type countingSender struct{ n int }

func (s *countingSender) Write(pkts [][]byte) (int, error) {
	s.n += len(pkts)
	return len(pkts), nil
}
