package engine

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"syscall"
	"testing"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// fakeWholeSender is a fakeSender that also takes super-packets whole,
// unless refuse is set (a destination the packet socket cannot address).
// With err set, the socket refuses every packet, whole or not, with it.
type fakeWholeSender struct {
	fakeSender
	refuse bool
	err    error
	whole  [][]byte
	mss    []int
}

func (s *fakeWholeSender) Write(pkts [][]byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	return s.fakeSender.Write(pkts)
}

func (s *fakeWholeSender) WriteWhole(pkt []byte, mss int) (bool, error) {
	if s.refuse {
		return false, nil
	}
	if s.err != nil {
		return true, s.err
	}
	if s.keep {
		s.whole = append(s.whole, append([]byte(nil), pkt...))
		s.mss = append(s.mss, mss)
	}
	return true, nil
}

// superPacketFrom is a TCP super-packet from src to dst of count segments
// of mss bytes, as a GSOReader returns it (partial checksum).
func superPacketFrom(src, dst string, count, mss int) []byte {
	h := packettest.IP{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), ID: 1, DF: true}
	payload := packettest.Pattern(count * mss)
	var segs [][]byte
	for i := range count {
		segs = append(segs, h.TCP(40000, 5201, uint32(1+i*mss), 1, packettest.FlagACK, payload[i*mss:(i+1)*mss]))
	}
	return packettest.GROMerge(segs)
}

// transmitSuper runs one batch holding the super-packet pkt of mss-byte
// segments (mss 0: an ordinary packet) through tunl0's transmit loop, with
// send as its sender.
func transmitSuper(t *testing.T, e *Engine, send Sender, pkt []byte, mss int) {
	t.Helper()
	e.newSender = func(string, string, *Counters) Sender { return send }
	rt := runtimeOf(e.state.Load(), "tunl0")
	b := newTransmitBuffers(fullBatch, 1)
	b.sizes[0] = copy(b.bufs[0][encap.Headroom:], pkt)
	b.gso = mss
	e.transmitBatch(rt, b, 1)
}

func TestTransmitWhole(t *testing.T) {
	e, _, _ := newTestEngine(t, meshYAML)
	send := &fakeWholeSender{fakeSender: fakeSender{keep: true}}
	pkt := superPacketFrom("192.168.41.0", "192.168.42.7", 44, 1440)
	transmitSuper(t, e, send, pkt, 1440)
	if len(send.whole) != 1 || len(send.sent) != 0 {
		t.Fatalf("%d sent whole, %d one by one; want the super-packet whole", len(send.whole), len(send.sent))
	}
	o := header.IPv4(send.whole[0])
	if send.mss[0] != 1440 || len(o) != 20+len(pkt) || o.DstAddr().String() != "10.245.1.3" || o.Protocol() != header.ProtocolIPIP || !o.HeaderChecksumValid() {
		t.Errorf("sent whole: mss %d, %d bytes to %s, header % x", send.mss[0], len(o), o.DstAddr(), []byte(o[:20]))
	}
	s := e.Status().Tunnels[1].Stats
	if s.TxGSO != 1 || s.TxPackets != 44 || s.TxPacketSocket != 44 || s.TxBytes != uint64(len(pkt)+43*40) {
		t.Errorf("counters: gso %d, packets %d, packet socket %d, bytes %d; want 1, 44, 44, %d", s.TxGSO, s.TxPackets, s.TxPacketSocket, s.TxBytes, len(pkt)+43*40)
	}
}

// What the packet socket cannot take whole is cut into segments, each
// encapsulated and sent as any packet.
func TestTransmitWholeRefusedIsSegmented(t *testing.T) {
	e, _, _ := newTestEngine(t, meshYAML)
	send := &fakeWholeSender{fakeSender: fakeSender{keep: true}, refuse: true}
	transmitSuper(t, e, send, superPacketFrom("192.168.41.0", "192.168.42.7", 10, 1440), 1440)
	if len(send.sent) != 10 {
		t.Fatalf("sent %d packets, want the 10 segments", len(send.sent))
	}
	for i, p := range send.sent {
		o := header.IPv4(p)
		inner := header.IPv4(p[20:])
		if len(p) != 1500 || o.DstAddr().String() != "10.245.1.3" || !packettest.TCPChecksumWhole(inner) {
			t.Fatalf("segment %d: %d bytes to %s, whole inner checksum %v", i, len(p), o.DstAddr(), packettest.TCPChecksumWhole(inner))
		}
	}
	if s := e.Status().Tunnels[1].Stats; s.TxGSO != 0 || s.TxPackets != 10 {
		t.Errorf("counters: gso %d, packets %d; want 0, 10", s.TxGSO, s.TxPackets)
	}
}

// A super-packet whose segments are too big for the path is refused whole,
// as one packet: its sender hears one ICMP frag needed, not one per
// segment, and it counts once (the kernel sends at most one ICMP per GSO
// skb, and counts the skb once). Segments that may be fragmented are cut
// and fragmented, as if the TUN had handed them over one by one.
func TestTransmitWholeTooBigAnswersOnce(t *testing.T) {
	const sender = "192.168.41.0"
	for _, tc := range []struct {
		name      string
		pmtudisc  bool
		df, local bool
		// What the 4 segments of 1500 inner bytes on a 1500-byte path
		// become: ICMP codes written into the TUN, packets sent, counts.
		icmp                    int
		sent                    int
		errors, dropped, tooBig uint64
	}{
		{name: "inner DF: frag needed", df: true, icmp: 1, errors: 1},
		{name: "no DF, pmtudisc, this host's sender", pmtudisc: true, local: true, icmp: 1, dropped: 1, tooBig: 1},
		{name: "no DF, pmtudisc, a forwarded packet", pmtudisc: true, dropped: 1, tooBig: 1},
		{name: "no DF, nopmtudisc: each segment fragmented", sent: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, devs, _ := newTestEngine(t, fmt.Sprintf(`
tunnels:
  - name: tunl0
    mtu: 1500
    pmtudisc: %v
    addresses: [192.168.41.0/32]
    routes:
      - {to: 192.168.42.0/24, via: 10.245.1.3}
`, tc.pmtudisc))
			if tc.local {
				e.netns().local.Store(&localTable{local: map[uint32]struct{}{ip4(sender): {}}})
			}
			send := &fakeWholeSender{fakeSender: fakeSender{keep: true}}
			// 1460 + 40 = 1500 inner bytes: 1520 outer on a 1500-byte path.
			pkt := superPacketFrom(sender, "192.168.42.7", 4, 1460)
			if !tc.df {
				header.IPv4(pkt).SetFlagsFragmentOffset(0)
				header.IPv4(pkt).SetHeaderChecksum()
			}
			transmitSuper(t, e, send, pkt, 1460)
			codes, mtus := icmpCodes(devs["tunl0"])
			if len(codes) != tc.icmp || len(send.whole) != 0 || len(send.sent) != tc.sent {
				t.Errorf("ICMP codes %v, %d sent whole, %d sent; want %d ICMP, %d sent", codes, len(send.whole), len(send.sent), tc.icmp, tc.sent)
			}
			if tc.icmp > 0 && len(codes) > 0 {
				// Frag needed with the path's inner MTU, to the inner
				// sender, quoting the super-packet's headers: its TCP
				// ports, for the sender's socket to take it.
				icmp := header.IPv4(devs["tunl0"].written[0])
				quote := header.IPv4(icmp.Payload()[8:])
				port := binary.BigEndian.Uint16(quote[quote.HeaderLength():])
				if codes[0] != 4 || mtus[0] != 1480 || icmp.Dst() != ip4(sender) || quote.Src() != ip4(sender) || port != 40000 {
					t.Errorf("ICMP code %d, MTU %d, to %s, quoting %s port %d; want frag needed, 1480, to %s port 40000", codes[0], mtus[0], icmp.DstAddr(), quote.SrcAddr(), port, sender)
				}
			}
			s := runtimeOf(e.state.Load(), "tunl0").counters.Stats()
			_, tables := runtimeOf(e.state.Load(), "tunl0").counters.peers()
			refused := tc.errors + tc.dropped
			if s.TxErrors != tc.errors || s.TxDropped != tc.dropped || s.Drops["too_big"] != tc.tooBig || s.ICMPSent != uint64(tc.icmp) || tables.Other.TxDrops != refused {
				t.Errorf("tx_errors %d, tx_dropped %d, too_big %d, ICMP sent %d, peer drops %d; want %d, %d, %d, %d, %d",
					s.TxErrors, s.TxDropped, s.Drops["too_big"], s.ICMPSent, tables.Other.TxDrops, tc.errors, tc.dropped, tc.tooBig, tc.icmp, refused)
			}
			if tc.sent > 0 && s.TxPackets != 4 {
				t.Errorf("tx_packets %d for 4 fragmented segments, want 4", s.TxPackets)
			}
		})
	}
}

// A super-packet dropped whole counts as one packet dropped for the same
// reason, in every counter and in its peer's drops, as the kernel's tunnel
// counts a GSO skb it drops once (ip_tunnel_xmit's tx_error,
// iptunnel_xmit_stats): the oracle is one segment of the same flow,
// dropped the same way.
func TestSuperPacketDroppedWholeCountsOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(e *Engine, send *fakeWholeSender, pkt []byte)
	}{
		{"loop guard", func(e *Engine, _ *fakeWholeSender, _ []byte) {
			// The outer route leads back into one of ipipd's TUNs.
			e.outerDevice = func(netip.Addr, string) int { return 77 }
			e.state.Load().devices = map[int]int{77: 0}
		}},
		{"tunnel down", func(e *Engine, _ *fakeWholeSender, _ []byte) {
			st := e.state.Load()
			st.tunnels[st.index[runtimeOf(st, "tunl0")]].down = true
		}},
		{"bad header", func(_ *Engine, _ *fakeWholeSender, pkt []byte) {
			header.IPv4(pkt).SetTotalLength(uint16(len(pkt) + 1))
		}},
		{"device gone", func(_ *Engine, send *fakeWholeSender, _ []byte) { send.err = syscall.ENETDOWN }},
		{"path narrower than thought", func(_ *Engine, send *fakeWholeSender, _ []byte) { send.err = syscall.EMSGSIZE }},
		{"send buffer full", func(_ *Engine, send *fakeWholeSender, _ []byte) { send.err = syscall.EAGAIN }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := func(count int) (Stats, uint64) {
				e, _, _ := newTestEngine(t, meshYAML)
				send := &fakeWholeSender{}
				pkt := superPacketFrom("192.168.41.0", "192.168.42.7", count, 1440)
				tc.drop(e, send, pkt)
				mss := 1440
				if count == 1 {
					mss = 0 // an ordinary packet
				}
				transmitSuper(t, e, send, pkt, mss)
				peers, tables := runtimeOf(e.state.Load(), "tunl0").counters.peers()
				drops := tables.Other.TxDrops
				for _, p := range peers {
					drops += p.TxDrops
				}
				return runtimeOf(e.state.Load(), "tunl0").counters.Stats(), drops
			}
			wantStats, wantDrops := counts(1)
			stats, drops := counts(44)
			if !reflect.DeepEqual(stats, wantStats) || drops != wantDrops {
				t.Errorf("a super-packet of 44 segments dropped: %+v, peer drops %d\none segment dropped:         %+v, peer drops %d", stats, drops, wantStats, wantDrops)
			}
			if wantStats.TxErrors+wantStats.TxDropped == 0 {
				t.Error("the segment was counted neither as an error nor as dropped: the case drops nothing")
			}
		})
	}
}

func TestTransmitWholeAllocatesNothing(t *testing.T) {
	e, _ := newQuietEngine(t, meshYAML)
	send := &fakeWholeSender{}
	e.newSender = func(string, string, *Counters) Sender { return send }
	rt := runtimeOf(e.state.Load(), "tunl0")
	pkt := superPacketFrom("192.168.41.0", "192.168.42.7", 44, 1440)
	b := newTransmitBuffers(fullBatch, 1)
	run := func() {
		b.sizes[0] = copy(b.bufs[0][encap.Headroom:], pkt)
		b.gso = 1440
		e.transmitBatch(rt, b, 1)
	}
	run() // opens the sender once
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("a super-packet sent whole allocates %.1f times, want 0", a)
	}
	send.refuse = true
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("a super-packet cut into segments allocates %.1f times, want 0", a)
	}
}
