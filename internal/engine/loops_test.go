package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

const meshYAML = `
tunnels:
  - name: tunl0
    mtu: 1480
    addresses: [192.168.41.0/32]
    routes:
      - {to: 192.168.42.0/24, via: 10.245.1.3}
  - name: p2p
    local: 10.245.1.2
    remote: 10.245.1.9
    ttl: 64
    mtu: 1500
    addresses: [172.16.0.1/30]
    routes: [{to: 172.16.9.0/24}]
`

func ip4(s string) uint32 { return header.Addr4(netip.MustParseAddr(s)) }

// innerPacket is an ICMP echo of n bytes from src to dst, DF if df.
func innerPacket(src, dst string, n int, df bool) []byte {
	return packettest.IP{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), ID: 1, DF: df}.Echo(n)
}

// outerPacket is inner as the tunnel's end src sends it to dst.
func outerPacket(src, dst string, inner []byte) []byte {
	return packettest.IP{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), ID: 2}.IPIP(inner)
}

// runTransmit runs the transmit loop's body over what d has queued (the
// loop itself closes rt.done on return, once per runtime).
func runTransmit(e *Engine, d *fakeDevice) {
	rt := runtimeOf(e.state.Load(), d.name)
	b := newTransmitBuffers(d.BatchSize(), 1)
	for {
		n, err := d.Read(b.bufs, b.sizes, encap.Headroom)
		if n > 0 {
			e.transmitBatch(rt, b, n)
		}
		if err != nil {
			return
		}
	}
}

// fullBatch is the most packets one batch of the loops holds here: the
// fake TUN's BatchSize, and the receive buffers the tests make.
const fullBatch = 64

// receive runs the receive loop's body over one batch of outer packets, as
// the raw socket reads them from link 2.
func receive(e *Engine, send *fakeSender, outer ...[]byte) {
	b := newReceiveBuffers(fullBatch, time.Second)
	n, _ := (&fakeReceiver{in: outer}).Read(b.batch)
	e.receiveBatch(send, b, n)
}

// newQuietEngine is newTestEngine with fakes that record nothing, so that
// allocation tests and benchmarks measure the loops alone.
func newQuietEngine(t testing.TB, yaml string) (*Engine, *fakeSender) {
	t.Helper()
	e, devs, send := newTestEngine(t, yaml)
	send.keep = false
	for _, d := range devs {
		d.keep = false
	}
	return e, send
}

// fullTransmitBatch is fullBatch copies of the inner packet pkt, as one
// TUN read leaves them for the transmit loop.
func fullTransmitBatch(pkt []byte) *transmitBuffers {
	b := newTransmitBuffers(fullBatch, 1)
	for i := range fullBatch {
		copy(b.bufs[i][encap.Headroom:], pkt)
		b.sizes[i] = len(pkt)
	}
	return b
}

// fullReceiveBatch is fullBatch copies of the outer packet pkt, as one raw
// socket read from link 2 leaves them for the receive loop.
func fullReceiveBatch(pkt []byte) *receiveBuffers {
	b := newReceiveBuffers(fullBatch, time.Second)
	for i := range fullBatch {
		b.batch.Sizes[i] = copy(b.batch.Bufs[i], pkt)
		b.batch.Links[i] = 2
	}
	return b
}

func runtimeOf(st *state, name string) *runtime {
	for i := range st.tunnels {
		if st.tunnels[i].config.Name == name {
			return st.tunnels[i].rt
		}
	}
	return nil
}

func TestTransmitOuterDestinations(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	devs["tunl0"].in = [][]byte{
		innerPacket("192.168.41.0", "192.168.42.7", 84, true), // via route: 10.245.1.3
		innerPacket("192.168.41.0", "10.99.0.1", 84, true),    // no route in the config: the inner destination itself
	}
	devs["p2p"].in = [][]byte{innerPacket("172.16.0.1", "172.16.9.9", 84, false)} // connected: the remote
	runTransmit(e, devs["tunl0"])
	runTransmit(e, devs["p2p"])
	want := []string{"10.245.1.3", "10.99.0.1", "10.245.1.9"}
	if len(send.sent) != len(want) {
		t.Fatalf("sent %d packets, want %d", len(send.sent), len(want))
	}
	for i, w := range want {
		o := header.IPv4(send.sent[i])
		if o.DstAddr().String() != w || o.Protocol() != header.ProtocolIPIP || !o.HeaderChecksumValid() {
			t.Errorf("packet %d: outer to %s proto %d, want %s", i, o.DstAddr(), o.Protocol(), w)
		}
	}
	if o := header.IPv4(send.sent[2]); o.TTL() != 64 || !o.DontFragment() || o.SrcAddr().String() != "10.245.1.2" {
		t.Errorf("p2p outer: TTL %d DF %v src %s", o.TTL(), o.DontFragment(), o.SrcAddr())
	}
	s := e.Status()
	if s.Tunnels[1].Name != "tunl0" || s.Tunnels[1].Stats.TxPackets != 2 || s.Tunnels[1].Stats.TxBytes != 168 {
		t.Errorf("tunl0 counters %+v", s.Tunnels[1].Stats)
	}
}

func TestTransmitFragNeededAnswersIntoTheTUN(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	// p2p has mtu 1500 on a path of 1500: 1481 bytes with DF do not fit.
	devs["p2p"].in = [][]byte{innerPacket("172.16.0.1", "172.16.9.9", 1481, true), make([]byte, 40)}
	devs["p2p"].in[1][0] = 0x60 // IPv6 from the TUN
	runTransmit(e, devs["p2p"])
	if len(send.sent) != 0 {
		t.Fatalf("sent %d packets", len(send.sent))
	}
	if len(devs["p2p"].written) != 1 {
		t.Fatalf("wrote %d packets into the TUN, want the ICMP", len(devs["p2p"].written))
	}
	icmp := header.IPv4(devs["p2p"].written[0])
	if icmp.Protocol() != header.ProtocolICMP || icmp.Payload()[0] != 3 || icmp.Payload()[1] != 4 ||
		uint16(icmp.Payload()[6])<<8|uint16(icmp.Payload()[7]) != 1480 ||
		// From the inner destination: a source of this node's own would be
		// a martian on the TUN, which keeps accept_local=0.
		icmp.SrcAddr().String() != "172.16.9.9" || icmp.DstAddr().String() != "172.16.0.1" {
		t.Errorf("ICMP % x", []byte(icmp[:28]))
	}
	st := e.Status().Tunnels[0].Stats
	if st.TxErrors != 2 || st.ICMPSent != 1 || st.Drops["not_ipv4"] != 1 {
		t.Errorf("counters %+v", st)
	}
}

func TestTransmitFragmentsWithoutPMTUDisc(t *testing.T) {
	e, devs, send := newTestEngine(t, `
tunnels:
  - name: tunl0
    mtu: 4000
    routes: [{to: 192.168.42.0/24, via: 10.245.1.3}]
`)
	devs["tunl0"].in = [][]byte{innerPacket("192.168.41.0", "192.168.42.7", 3000, false)}
	runTransmit(e, devs["tunl0"])
	if len(send.sent) != 3 { // 1480-byte payload chunks of 3000 bytes
		t.Fatalf("sent %d fragments, want 3", len(send.sent))
	}
	total := 0
	for _, f := range send.sent {
		if len(f) > 1500 || header.IPv4(f).DontFragment() {
			t.Errorf("fragment of %d bytes, DF %v", len(f), header.IPv4(f).DontFragment())
		}
		total += len(f) - 20
	}
	if total != 3000 {
		t.Errorf("fragments carry %d bytes, want 3000", total)
	}
	if st := e.Status().Tunnels[0].Stats; st.TxPackets != 1 || st.TxBytes != 3000 {
		t.Errorf("a fragmented packet counts once: %+v", st)
	}
}

func TestReceiveDeliversAndCounts(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	ceNotECT := outerPacket("10.245.1.3", "10.245.1.2", innerPacket("192.168.42.0", "192.168.41.0", 84, false))
	ceNotECT[1] = 3 // outer CE over inner Not-ECT
	header.IPv4(ceNotECT).SetHeaderChecksum()
	receive(e, send,
		outerPacket("10.245.1.3", "10.245.1.2", innerPacket("192.168.42.0", "192.168.41.0", 84, true)), // fallback
		overP2P(innerPacket("172.16.9.1", "172.16.0.1", 100, true)),
		ceNotECT,
		[]byte{0x45, 0, 0}, // garbage
	)
	if len(devs["tunl0"].written) != 1 || len(devs["p2p"].written) != 1 {
		t.Fatalf("delivered %d to tunl0, %d to p2p", len(devs["tunl0"].written), len(devs["p2p"].written))
	}
	if got := header.IPv4(devs["p2p"].written[0]); got.SrcAddr().String() != "172.16.9.1" || len(got) != 100 {
		t.Errorf("p2p got %s, %d bytes", got.SrcAddr(), len(got))
	}
	s := e.Status()
	if p := s.Tunnels[0].Stats; p.RxPackets != 1 || p.RxBytes != 100 {
		t.Errorf("p2p %+v", p)
	}
	if f := s.Tunnels[1].Stats; f.RxPackets != 1 || f.RxFrameErrors != 1 || f.RxErrors != 1 || f.Drops["ecn_drop"] != 1 {
		t.Errorf("tunl0 %+v", f)
	}
	if s.Global.Drops["bad_outer"] != 1 {
		t.Errorf("global %+v", s.Global)
	}
}

func TestReceiveNoTunnelAnswersRateLimited(t *testing.T) {
	e, _, send := newTestEngine(t, `
tunnels:
  - name: p2p
    local: 10.245.1.2
    remote: 10.245.1.9
`)
	var unmatched [][]byte
	for i := 0; i < 20; i++ {
		unmatched = append(unmatched, outerPacket("10.245.1.3", "10.245.1.2", innerPacket("192.168.42.0", "192.168.41.0", 84, true)))
	}
	receive(e, send, unmatched...)
	if len(send.sent) != icmpBurst {
		t.Fatalf("%d ICMP sent for 20 unmatched packets, want the burst of %d", len(send.sent), icmpBurst)
	}
	icmp := header.IPv4(send.sent[0])
	if icmp.DstAddr().String() != "10.245.1.3" || icmp.Payload()[0] != 3 || icmp.Payload()[1] != 3 {
		t.Errorf("ICMP to %s type %d code %d", icmp.DstAddr(), icmp.Payload()[0], icmp.Payload()[1])
	}
	g := e.Status().Global
	if g.PortUnreachables != icmpBurst || g.RateLimited != 20-icmpBurst || g.Drops["no_tunnel"] != 20 {
		t.Errorf("global %+v", g)
	}
}

// TestLoopsAllocateNothing: the steady state of both loops, batch after
// batch, allocates nothing (buffers, queues and IDs are the loop's own).
func TestLoopsAllocateNothing(t *testing.T) {
	e, send := newQuietEngine(t, meshYAML)
	rt := runtimeOf(e.state.Load(), "tunl0")
	pkt := innerPacket("192.168.41.0", "192.168.42.7", 1400, true)
	tb := fullTransmitBatch(pkt)
	e.transmitBatch(rt, tb, fullBatch) // opens the sender once
	rb := fullReceiveBatch(outerPacket("10.245.1.3", "10.245.1.2", pkt))
	allocs := testing.AllocsPerRun(100, func() {
		for i := 0; i < fullBatch; i++ {
			copy(tb.bufs[i][encap.Headroom:encap.Headroom+20], pkt[:20])
		}
		e.transmitBatch(rt, tb, fullBatch)
		e.receiveBatch(send, rb, fullBatch)
	})
	if allocs != 0 {
		t.Errorf("a batch of 64 each way allocates %.1f times, want 0", allocs)
	}
}
