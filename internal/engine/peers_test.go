package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
)

// peerSums are a table read whole: each peer's counts, the other bucket,
// and the summary.
type peerSums struct {
	peers                 map[uint32]peerRead
	other                 peerRead
	slots, tracked        int
	refused               uint64
	packets, bytes, drops uint64 // over peers and other
}

func readPeers(t *peerTable) peerSums {
	s := peerSums{peers: map[uint32]peerRead{}}
	s.slots, s.tracked, s.other, s.refused = t.read(func(r peerRead) { s.peers[r.addr] = r })
	s.packets, s.bytes, s.drops = s.other.packets, s.other.bytes, s.other.drops
	for _, r := range s.peers {
		s.packets += r.packets
		s.bytes += r.bytes
		s.drops += r.drops
	}
	return s
}

// A few peers each get their own counts, the table grows from its first
// size as they come, and nothing goes to other.
func TestPeerTableCountsApart(t *testing.T) {
	var tbl peerTable
	const peers = 100
	for round := range 3 {
		for p := uint32(1); p <= peers; p++ {
			tbl.count(p, 2, uint64(p)*10, int64(round+1))
		}
	}
	tbl.drop(7, 1)
	s := readPeers(&tbl)
	if s.tracked != peers || len(s.peers) != peers || s.slots != 256 {
		t.Fatalf("tracked %d (%d read) in %d slots, want %d in 256 (8 doubled while over 3/4 full)", s.tracked, len(s.peers), s.slots, peers)
	}
	for p := uint32(1); p <= peers; p++ {
		r := s.peers[p]
		if r.packets != 6 || r.bytes != uint64(p)*30 {
			t.Errorf("peer %d: %d packets %d bytes, want 6 and %d", p, r.packets, r.bytes, p*30)
		}
	}
	if s.peers[7].drops != 1 || s.other != (peerRead{}) || s.refused != 0 {
		t.Errorf("peer 7 drops %d, other %+v, refused %d; want 1, nothing, 0", s.peers[7].drops, s.other, s.refused)
	}
}

// Drops never take a slot: packets a peer filter refuses, or a flood of
// spoofed sources, land in the other peers' bucket and leave the table
// (and the metrics' first series) to peers that got packets through.
func TestPeerTableDropsTakeNoSlot(t *testing.T) {
	var tbl peerTable
	for p := uint32(1); p <= 200; p++ {
		tbl.drop(p, 1)
	}
	tbl.count(7, 1, 10, 1)
	tbl.drop(7, 1)
	s := readPeers(&tbl)
	if s.tracked != 1 || s.peers[7].drops != 1 || s.other.drops != 200 {
		t.Errorf("tracked %d, peer 7 drops %d, other drops %d; want 1, 1, 200", s.tracked, s.peers[7].drops, s.other.drops)
	}
}

// TestPeerTableBound: 100 000 distinct peers, all within PeerIdle of each
// other, fill at most MaxPeers slots; the rest are counted in other, every
// packet accounted for once, and the estimate of refused peers is within
// 20% of the truth (its standard error is 6.5%).
func TestPeerTableBound(t *testing.T) {
	var tbl peerTable
	const peers = 100_000
	for p := uint32(1); p <= peers; p++ {
		tbl.count(0x0a800000+p, 1, 100, int64(p))
	}
	s := readPeers(&tbl)
	if s.slots != MaxPeers || s.tracked > MaxPeers || s.tracked < MaxPeers*3/4 {
		t.Errorf("%d peers tracked in %d slots; want the table at its bound, %d, and at least 3/4 of it used", s.tracked, s.slots, MaxPeers)
	}
	if s.packets != peers || s.bytes != 100*peers || s.other.packets != uint64(peers-s.tracked) {
		t.Errorf("%d packets %d bytes counted, other %d; want %d, %d and %d", s.packets, s.bytes, s.other.packets, peers, 100*peers, peers-s.tracked)
	}
	refused := float64(peers - s.tracked)
	if e := float64(s.refused); e < 0.8*refused || e > 1.2*refused {
		t.Errorf("refused estimate %.0f, truth %.0f", e, refused)
	}
	// The same peers again: the tracked ones still have their slots.
	before := s.tracked
	for p := uint32(1); p <= peers; p++ {
		tbl.count(0x0a800000+p, 1, 100, int64(peers+p))
	}
	if s := readPeers(&tbl); s.tracked != before || s.packets != 2*peers {
		t.Errorf("second round: %d tracked (was %d), %d packets; want the same peers and %d", s.tracked, before, s.packets, 2*peers)
	}
}

// TestPeerTableReuse: in a full table a new peer takes a slot only once it
// has been idle for PeerIdle, and the old peer's counts move to other, so
// that the sum over the table stays what was counted.
func TestPeerTableReuse(t *testing.T) {
	var tbl peerTable
	var p uint32
	for p = 1; readPeers(&tbl).refused == 0; p++ {
		tbl.count(p, 1, 10, 1) // until one is refused: its window is full
	}
	refusedPeer := p - 1
	busy := uint32(1)
	idle := int64(PeerIdle)
	tbl.count(busy, 1, 10, idle) // peer 1 stays fresh
	tbl.count(refusedPeer, 1, 10, 2+idle)
	s := readPeers(&tbl)
	if _, ok := s.peers[refusedPeer]; !ok {
		t.Errorf("peer %d refused at first holds no slot after the others' PeerIdle", refusedPeer)
	}
	if counted := uint64(p-1) + 2; s.packets != counted || s.bytes != 10*counted {
		t.Errorf("%d packets %d bytes over the table, want %d and %d", s.packets, s.bytes, counted, 10*counted)
	}
	if r := s.peers[busy]; r.packets != 2 {
		t.Errorf("busy peer: %+v, want its slot kept with 2 packets", r)
	}
}

// TestPeerTableConcurrentReader: one writer churns a full table (peers
// come, go and take each other's slots) while readers read it. Each peer
// p always counts bytes = p × packets, so a reader that took one peer's
// counts for another's would see the ratio broken; one packet either way
// is a read between the writer's two adds, as for any pair of counters.
// Run it under -race.
func TestPeerTableConcurrentReader(t *testing.T) {
	var tbl peerTable
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		now := int64(1)
		for round := uint32(0); !stop.Load(); round++ {
			for p := uint32(1); p <= 4*MaxPeers; p++ {
				peer := p + round%8*MaxPeers
				tbl.count(peer, 1, uint64(peer), now)
				written.Add(1)
			}
			now += int64(PeerIdle) // every slot idle: the next round takes them over
		}
	}()
	deadline := time.Now().Add(500 * time.Millisecond)
	reads := 0
	for time.Now().Before(deadline) || reads < 10 {
		s := readPeers(&tbl)
		for addr, r := range s.peers {
			if q := r.bytes / uint64(addr); r.bytes%uint64(addr) != 0 || q+1 < r.packets || q > r.packets+1 {
				t.Fatalf("peer %d read with %d packets and %d bytes: counts of another peer", addr, r.packets, r.bytes)
			}
		}
		if s.slots > MaxPeers || s.tracked > s.slots {
			t.Fatalf("%d tracked in %d slots, bound %d", s.tracked, s.slots, MaxPeers)
		}
		// written is bumped after count, so it may trail by one: a read
		// above that counted a peer taken over twice, in its slot and in
		// other.
		if w := written.Load(); s.packets > w+1 {
			t.Fatalf("a read counted %d packets, more than the %d ever counted", s.packets, w)
		}
		reads++
	}
	stop.Store(true)
	wg.Wait()
	if s := readPeers(&tbl); s.packets != written.Load() || s.other.packets == 0 {
		t.Errorf("after the writer stopped: %d packets over the table, %d written, %d in other (want slots taken over)", s.packets, written.Load(), s.other.packets)
	}
}

// The loops count each peer apart: two sources on tunl0's receive side, two
// destinations on its transmit side, drops against the peer they concern;
// peers and other add up to the tunnel's own counters.
func TestPeersOfTheLoops(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	pkt := innerPacket("192.168.42.1", "192.168.41.0", 100, true)
	ce := outerPacket("10.245.1.4", "10.245.1.2", innerPacket("192.168.43.1", "192.168.41.0", 100, false))
	header.IPv4(ce).SetTOS(3) // outer CE over inner Not-ECT: an ECN drop
	receive(e, send,
		outerPacket("10.245.1.3", "10.245.1.2", pkt), outerPacket("10.245.1.3", "10.245.1.2", pkt),
		outerPacket("10.245.1.4", "10.245.1.2", pkt), ce)
	devs["tunl0"].in = [][]byte{
		innerPacket("192.168.41.0", "192.168.42.7", 84, true), // via 10.245.1.3
		innerPacket("192.168.41.0", "10.99.0.1", 84, true),    // no route: the inner destination
		innerPacket("192.168.41.0", "192.168.42.8", 84, true),
	}
	runTransmit(e, devs["tunl0"])
	var ts TunnelStatus
	for _, t := range e.Status().Tunnels {
		if t.Name == "tunl0" {
			ts = t
		}
	}
	want := map[string]PeerStats{
		"10.99.0.1":  {TxPackets: 1, TxBytes: 84},
		"10.245.1.3": {RxPackets: 2, RxBytes: 200, TxPackets: 2, TxBytes: 168},
		// Its CE drop came before its first delivered packet was counted
		// (at the end of the batch): a drop never claims a slot, so it
		// went to the other peers' bucket.
		"10.245.1.4": {RxPackets: 1, RxBytes: 100},
	}
	if len(ts.Peers) != len(want) {
		t.Fatalf("peers %+v, want %d", ts.Peers, len(want))
	}
	var rx, tx uint64
	for i, p := range ts.Peers {
		w := want[p.Addr.String()]
		if i > 0 && !ts.Peers[i-1].Addr.Less(p.Addr) {
			t.Errorf("peers not sorted: %v before %v", ts.Peers[i-1].Addr, p.Addr)
		}
		if p.RxPackets != w.RxPackets || p.RxBytes != w.RxBytes || p.RxDrops != w.RxDrops || p.TxPackets != w.TxPackets || p.TxBytes != w.TxBytes {
			t.Errorf("peer %v: %+v, want %+v", p.Addr, p, w)
		}
		if (p.RxPackets+p.RxDrops > 0) == p.LastRx.IsZero() || (p.TxPackets > 0) == p.LastTx.IsZero() {
			t.Errorf("peer %v: last rx %v, last tx %v", p.Addr, p.LastRx, p.LastTx)
		}
		if age := time.Since(p.LastRx); !p.LastRx.IsZero() && (age < 0 || age > time.Minute) {
			t.Errorf("peer %v last seen %v ago", p.Addr, age)
		}
		rx += p.RxPackets
		tx += p.TxPackets
	}
	if rx != ts.Stats.RxPackets || tx != ts.Stats.TxPackets || ts.PeerTables.Other != (PeerStats{RxDrops: 1}) {
		t.Errorf("peers sum to rx %d tx %d, tunnel counts %d and %d; other %+v", rx, tx, ts.Stats.RxPackets, ts.Stats.TxPackets, ts.PeerTables.Other)
	}
	if pt := ts.PeerTables; pt.RxTracked != 2 || pt.TxTracked != 2 || pt.RxSlots != peerInitialSlots {
		t.Errorf("tables %+v", pt)
	}
}

// TestPeersAllocateNothing: counting a batch of several peers, each way,
// allocates nothing once the tables have met them.
func TestPeersAllocateNothing(t *testing.T) {
	e, send := newQuietEngine(t, meshYAML)
	rt := runtimeOf(e.state.Load(), "tunl0")
	pkt := innerPacket("192.168.41.0", "192.168.42.7", 1400, true)
	tb := fullTransmitBatch(pkt)
	for i := 0; i < fullBatch; i += 2 { // a second destination: no route, the inner destination
		header.IPv4(tb.bufs[i][20:]).SetDst(ip4("10.99.0.1"))
	}
	saved := make([][]byte, fullBatch)
	for i := range saved {
		saved[i] = append([]byte(nil), tb.bufs[i][20:40]...)
	}
	rb := fullReceiveBatch(outerPacket("10.245.1.3", "10.245.1.2", pkt))
	for i := 0; i < fullBatch; i += 3 {
		header.IPv4(rb.batch.Bufs[i]).SetSrc(ip4("10.245.1.4"))
	}
	run := func() {
		for i := range saved {
			copy(tb.bufs[i][20:40], saved[i])
		}
		e.transmitBatch(rt, tb, fullBatch)
		e.receiveBatch(send, rb, fullBatch)
	}
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("a batch of 64 each way to and from two peers allocates %.1f times, want 0", allocs)
	}
	var tbl peerTable
	tbl.count(1, 1, 1, 1)
	if allocs := testing.AllocsPerRun(1000, func() { tbl.count(1, 1, 1, 2); tbl.drop(1, 1) }); allocs != 0 {
		t.Errorf("counting a known peer allocates %.1f times", allocs)
	}
}

// BenchmarkPeerTable is the cost of one table update, what a run of one
// peer's packets in a batch pays once: a known peer, and one a full table
// refuses (the flood's case).
func BenchmarkPeerTable(b *testing.B) {
	b.Run("known", func(b *testing.B) {
		var tbl peerTable
		tbl.count(ip4("10.245.1.3"), 1, 84, 1)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tbl.count(ip4("10.245.1.3"), 64, 64*1400, 2)
		}
	})
	b.Run("refused", func(b *testing.B) {
		var tbl peerTable
		for p := uint32(1); p <= 4*MaxPeers; p++ {
			tbl.count(p, 1, 84, 1)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tbl.count(0x0a800000+uint32(i), 1, 84, 2)
		}
	})
}
