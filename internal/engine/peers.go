package engine

import (
	"math"
	"math/bits"
	"net/netip"
	goruntime "runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/ipipd/ipipd/internal/header"
)

// Per-peer counters, as `wg show` answers per peer: the fallback tunnel
// talks to every node of a mesh, and an operator asks how much went to and
// came from each. A peer is an outer address: the source of what a tunnel
// received, the destination of what it sent.
//
// Each tunnel has two tables, one per direction, and each has one writer:
// the receive loop writes the receive table, the tunnel's transmit loop the
// transmit one. The writer finds or claims a peer's slot with plain atomic
// loads and adds (no lock, no CAS, no allocation once the table has grown
// to the peers it sees); readers (show, metrics) load the same atomics and
// merge the two tables by address.
//
//  1. A table is an open-addressing array of slots, claimed once by storing
//     the peer's address in the slot's tag. It starts at peerInitialSlots
//     and doubles (a copy published by pointer) while more than 3/4 full,
//     up to MaxPeers: an idle point-to-point tunnel costs one pointer.
//  2. A peer is looked for, or placed, in the peerProbes slots from its
//     hash. Slots are never emptied, so a search may stop at the first
//     empty one. A full table holds MaxPeers peers; the first refusal may
//     come at about 3/4 of that, when one window of 32 is full.
//  3. At MaxPeers, a peer that finds no free slot in its window takes the
//     one idle longest if that one has been idle for PeerIdle; its old
//     peer's counts move to the table's other bucket first. Otherwise the
//     packet counts in the other bucket, and the peer in an estimate of
//     distinct refused peers.
//  4. A slot being given to another peer has an odd generation in its tag;
//     a reader skips it, and skips what it read when the tag changed under
//     it (a seqlock per slot): it never shows one peer's counts under
//     another's address.
//
// Memory: at most MaxPeers slots of 40 bytes per direction, 80 KiB per
// tunnel, plus 1 KiB for the refusal estimate once a table is full.

// MaxPeers is the most peers a tunnel counts apart in each direction;
// packets of the others are summed in the other bucket.
const MaxPeers = 1024

// PeerIdle is how long a slot of a full table must have seen nothing before
// a new peer may take it. Long enough that a peer pinging now and then (a
// mesh's keepalives, a monitoring probe) keeps its slot through a flood of
// spoofed sources; short enough that a changed mesh is counted apart again
// within minutes.
const PeerIdle = 5 * time.Minute

const (
	peerInitialSlots = 8
	// peerProbes bounds the slots one peer is looked for in: a refused
	// peer costs this many loads, whatever the table holds.
	peerProbes = 32
	// peerEstimateRegisters is the HyperLogLog's register count: a
	// standard error of 1.04/√256 ≈ 6.5%.
	peerEstimateRegisters = 256
)

// peerEpoch is the base of peerClock: a monotonic clock, so that a wall
// clock step neither makes every slot idle nor none.
var peerEpoch = time.Now()

// peerClock is the time for last-seen stamps: nanoseconds since peerEpoch,
// plus one so that 0 means never. It reads only the monotonic clock.
func peerClock() int64 { return int64(time.Since(peerEpoch)) + 1 }

// peerTime turns a peerClock stamp back into a time; zero for never.
func peerTime(stamp int64) time.Time {
	if stamp == 0 {
		return time.Time{}
	}
	return peerEpoch.Add(time.Duration(stamp - 1))
}

// peerSlot is one peer's counts in one direction.
type peerSlot struct {
	// tag is generation<<32 | address; address 0 is an empty slot (no peer
	// is 0.0.0.0). The generation is odd while the slot changes peer.
	tag     atomic.Uint64
	packets atomic.Uint64
	bytes   atomic.Uint64
	drops   atomic.Uint64
	last    atomic.Int64 // peerClock of the latest packet or drop
}

// peerCounts are what the other bucket holds.
type peerCounts struct {
	packets, bytes, drops atomic.Uint64
}

// peerSlots is one generation of a table. The writer replaces it whole when
// it grows; readers keep the one they loaded.
type peerSlots struct {
	slots []peerSlot // a power of two long
	used  int        // slots claimed; the writer's alone
	other peerCounts
	// moves is odd while reuse moves a slot's counts into other, and
	// counts the moves: a reader that saw it change reads again, else it
	// could count the moved peer twice, in its slot and in other (a
	// counter that then falls, which Prometheus takes for a reset).
	moves atomic.Uint64
	// refused are the HyperLogLog registers of peers refused a slot, made
	// when the table reaches MaxPeers (no peer is refused before).
	refused []atomic.Uint32
}

// peerTable counts one direction of one tunnel per peer. The zero value is
// an empty table; one goroutine may write it, any number read it.
type peerTable struct {
	p atomic.Pointer[peerSlots]
}

// peerHash spreads addresses over the table (murmur3's finalizer), so that
// a /24 of sources fills it evenly; its top bits also feed the estimate.
func peerHash(addr uint32) uint64 {
	x := uint64(addr)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// slot is peer's slot, claimed or taken over if need be, or nil when the
// table has no room for it (its packets then go to the other bucket). Only
// the writer calls it.
func (t *peerTable) slot(s *peerSlots, peer uint32, now int64) (*peerSlots, *peerSlot) {
	h := peerHash(peer)
	for {
		mask := uint64(len(s.slots) - 1)
		probes := min(peerProbes, len(s.slots))
		var idlest *peerSlot
		for i := range probes {
			sl := &s.slots[(h+uint64(i))&mask]
			tag := sl.tag.Load()
			switch uint32(tag) {
			case peer:
				return s, sl
			case 0:
				if len(s.slots) < MaxPeers && (s.used+1)*4 > len(s.slots)*3 {
					break // grow first: a fuller table makes longer searches
				}
				sl.tag.Store(tag | uint64(peer))
				s.used++
				return s, sl
			default:
				if idlest == nil || sl.last.Load() < idlest.last.Load() {
					idlest = sl
				}
				continue
			}
			break
		}
		if len(s.slots) < MaxPeers {
			s = t.grow(s)
			continue
		}
		if idlest != nil && now-idlest.last.Load() >= int64(PeerIdle) {
			s.reuse(idlest, peer, now)
			return s, idlest
		}
		s.refuse(h)
		return s, nil
	}
}

// grow publishes a table twice the size of s (or the first one), with
// every peer and count of s. Readers that loaded s keep reading it; the
// writer writes only the new one from here on.
func (t *peerTable) grow(s *peerSlots) *peerSlots {
	size := peerInitialSlots
	if s != nil {
		size = 2 * len(s.slots)
	}
	n := &peerSlots{slots: make([]peerSlot, size)}
	if size == MaxPeers {
		n.refused = make([]atomic.Uint32, peerEstimateRegisters)
	}
	if s != nil {
		mask := uint64(size - 1)
		for i := range s.slots {
			old := &s.slots[i]
			tag := old.tag.Load()
			if uint32(tag) == 0 {
				continue
			}
			// The new table is not published yet: its first free slot
			// from the peer's hash is free for good. A peer whose window
			// is full stays in a later slot, found by the scan up to the
			// first empty one, or, past peerProbes, counted in other from
			// now on; with the table at most 3/4 full this is rare.
			h := peerHash(uint32(tag))
			for j := range size {
				sl := &n.slots[(h+uint64(j))&mask]
				if sl.tag.Load() != 0 {
					continue
				}
				if j >= peerProbes {
					n.other.add(old)
					break
				}
				sl.tag.Store(uint64(uint32(tag)))
				sl.packets.Store(old.packets.Load())
				sl.bytes.Store(old.bytes.Load())
				sl.drops.Store(old.drops.Load())
				sl.last.Store(old.last.Load())
				n.used++
				break
			}
		}
		n.other.packets.Add(s.other.packets.Load())
		n.other.bytes.Add(s.other.bytes.Load())
		n.other.drops.Add(s.other.drops.Load())
	}
	t.p.Store(n)
	return n
}

func (c *peerCounts) add(sl *peerSlot) {
	c.packets.Add(sl.packets.Load())
	c.bytes.Add(sl.bytes.Load())
	c.drops.Add(sl.drops.Load())
}

// reuse gives slot sl to peer: its old peer's counts move to the other
// bucket, under an odd generation so that no reader takes them for either
// peer's.
func (s *peerSlots) reuse(sl *peerSlot, peer uint32, now int64) {
	tag := sl.tag.Load()
	gen := tag >> 32
	s.moves.Add(1)
	defer s.moves.Add(1)
	sl.tag.Store((gen+1)<<32 | uint64(uint32(tag)))
	s.other.add(sl)
	sl.packets.Store(0)
	sl.bytes.Store(0)
	sl.drops.Store(0)
	sl.last.Store(now)
	sl.tag.Store((gen+2)<<32 | uint64(peer))
}

// refuse adds a refused peer to the estimate: register = the hash's top 8
// bits, value = the position of the first 1 in the rest (HyperLogLog).
func (s *peerSlots) refuse(h uint64) {
	reg := &s.refused[h>>56]
	if rank := uint32(bits.LeadingZeros64(h<<8|0x80)) + 1; rank > reg.Load() {
		reg.Store(rank)
	}
}

// count adds packets and bytes sent to or received from peer.
func (t *peerTable) count(peer uint32, packets, bytes uint64, now int64) {
	s := t.p.Load()
	if s == nil {
		s = t.grow(nil)
	}
	if peer == 0 {
		s.other.packets.Add(packets)
		s.other.bytes.Add(bytes)
		return
	}
	s, sl := t.slot(s, peer, now)
	if sl != nil {
		sl.packets.Add(packets)
		sl.bytes.Add(bytes)
		sl.last.Store(now)
		return
	}
	s.other.packets.Add(packets)
	s.other.bytes.Add(bytes)
}

// drop counts n packets to or from peer that were dropped once their
// tunnel was selected: against the peer if it holds a slot, else in the
// other peers' bucket. Drops are the rare path: it reads the clock itself.
func (t *peerTable) drop(peer uint32, n uint64) {
	s := t.p.Load()
	if s == nil {
		s = t.grow(nil)
	}
	// A drop counts against a peer that holds a slot already, and never
	// takes one: packets a filter refuses, or spoofed sources, would
	// otherwise fill the table (and the first metric series) with peers
	// that never got a packet through.
	if sl := s.find(peer); sl != nil {
		sl.drops.Add(n)
		sl.last.Store(peerClock())
		return
	}
	s.other.drops.Add(n)
}

// find returns peer's slot if it holds one, without claiming one.
func (s *peerSlots) find(peer uint32) *peerSlot {
	if peer == 0 {
		return nil
	}
	h := peerHash(peer)
	mask := uint64(len(s.slots) - 1)
	for i := range min(peerProbes, len(s.slots)) {
		sl := &s.slots[(h+uint64(i))&mask]
		switch uint32(sl.tag.Load()) {
		case peer:
			return sl
		case 0:
			return nil
		}
	}
	return nil
}

// peerRun sums consecutive packets of one peer, so that a batch of one
// flow costs one table update instead of one per packet.
type peerRun struct {
	peer           uint32
	packets, bytes uint64
}

func (r *peerRun) add(t *peerTable, peer uint32, bytes uint64, now int64) {
	if peer != r.peer && r.packets > 0 {
		t.count(r.peer, r.packets, r.bytes, now)
		r.packets, r.bytes = 0, 0
	}
	r.peer = peer
	r.packets++
	r.bytes += bytes
}

func (r *peerRun) flush(t *peerTable, now int64) {
	if r.packets > 0 {
		t.count(r.peer, r.packets, r.bytes, now)
	}
}

// delivered counts a run written into a TUN: run[i] (inner packet at
// deliverOffset) came from sources[i]; the first written went in, the rest
// were dropped.
func (t *peerTable) delivered(sources []uint32, run [][]byte, written int) {
	now := peerClock()
	var r peerRun
	for i, buf := range run[:written] {
		r.add(t, sources[i], uint64(len(buf)-deliverOffset), now)
	}
	r.flush(t, now)
	for _, src := range sources[written:len(run)] {
		t.drop(src, 1)
	}
}

// sent counts outer packets a socket took: queue[i] starts at its outer
// header, and lens[i] is its inner length, 0 for a fragment before the
// last (a packet counts once, as TxPackets).
func (t *peerTable) sent(queue [][]byte, lens []int) {
	now := peerClock()
	var r peerRun
	for i, l := range lens {
		if l > 0 {
			r.add(t, header.IPv4(queue[i]).Dst(), uint64(l), now)
		}
	}
	r.flush(t, now)
}

// PeerStats is one peer of a tunnel: what came from it (Rx) and went to it
// (Tx). Drops are packets dropped once the tunnel was selected: on receive
// against their outer source, on transmit against the outer destination
// they were going to. Rx counts what was written into the TUN, so a
// packet with a bad inner header, which RxPackets counts as the kernel
// does, is a drop here only. LastRx and LastTx are zero when nothing was
// counted that way.
type PeerStats struct {
	Addr                        netip.Addr
	RxPackets, RxBytes, RxDrops uint64
	TxPackets, TxBytes, TxDrops uint64
	LastRx, LastTx              time.Time
}

// PeerTables sums up a tunnel's two tables beyond the peers they hold.
type PeerTables struct {
	// Other is what peers without a slot sent and received (Addr is
	// invalid): those refused one, and those whose slot went to another
	// peer after PeerIdle.
	Other PeerStats
	// Per direction: the table's size now (it grows to MaxPeers), the
	// peers holding a slot, and an estimate of the distinct peers refused
	// one (HyperLogLog, a standard error of about 6.5%).
	RxSlots, TxSlots     int
	RxTracked, TxTracked int
	RxRefused, TxRefused uint64
}

// peerRead is one slot as a reader found it.
type peerRead struct {
	addr                  uint32
	packets, bytes, drops uint64
	last                  int64
}

// read calls each for every peer holding a slot, skipping a slot that
// changes peer meanwhile (its counts are on their way to other), and
// returns the table's size, the peers it holds, the other bucket and the
// refusal estimate.
func (t *peerTable) read(each func(peerRead)) (slots, tracked int, other peerRead, refused uint64) {
	s := t.p.Load()
	if s == nil {
		return 0, 0, peerRead{}, 0
	}
	// Read the slots and other between two equal, even move counts, so
	// a peer moved into other meanwhile is not counted twice; a few tries,
	// then the last read, as a takeover is rare (a full table and a slot
	// idle for PeerIdle).
	var peers []peerRead
	for try := 0; ; try++ {
		before := s.moves.Load()
		peers = peers[:0]
		for i := range s.slots {
			sl := &s.slots[i]
			tag := sl.tag.Load()
			if uint32(tag) == 0 || tag>>32&1 == 1 {
				continue
			}
			r := peerRead{addr: uint32(tag), packets: sl.packets.Load(), bytes: sl.bytes.Load(), drops: sl.drops.Load(), last: sl.last.Load()}
			if sl.tag.Load() != tag {
				continue
			}
			peers = append(peers, r)
		}
		other = peerRead{packets: s.other.packets.Load(), bytes: s.other.bytes.Load(), drops: s.other.drops.Load()}
		if after := s.moves.Load(); (before == after && before%2 == 0) || try == 8 {
			break
		}
		goruntime.Gosched()
	}
	for _, r := range peers {
		each(r)
	}
	return len(s.slots), len(peers), other, estimate(s.refused)
}

// estimate is HyperLogLog's count of the distinct values in registers,
// with its small-range correction (linear counting).
func estimate(registers []atomic.Uint32) uint64 {
	if len(registers) == 0 {
		return 0
	}
	m := float64(len(registers))
	var sum float64
	zeros := 0
	for i := range registers {
		v := registers[i].Load()
		if v == 0 {
			zeros++
		}
		sum += math.Ldexp(1, -int(v))
	}
	if zeros == len(registers) {
		return 0
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(math.Round(e))
}

// peers reads both tables of c and merges them by address, sorted.
func (c *Counters) peers() ([]PeerStats, PeerTables) {
	byAddr := map[uint32]int{}
	var out []PeerStats
	at := func(addr uint32) *PeerStats {
		i, ok := byAddr[addr]
		if !ok {
			i = len(out)
			byAddr[addr] = i
			out = append(out, PeerStats{Addr: header.AddrFrom32(addr)})
		}
		return &out[i]
	}
	var pt PeerTables
	var rxOther, txOther peerRead
	pt.RxSlots, pt.RxTracked, rxOther, pt.RxRefused = c.RxPeers.read(func(r peerRead) {
		p := at(r.addr)
		p.RxPackets, p.RxBytes, p.RxDrops, p.LastRx = r.packets, r.bytes, r.drops, peerTime(r.last)
	})
	pt.TxSlots, pt.TxTracked, txOther, pt.TxRefused = c.TxPeers.read(func(r peerRead) {
		p := at(r.addr)
		p.TxPackets, p.TxBytes, p.TxDrops, p.LastTx = r.packets, r.bytes, r.drops, peerTime(r.last)
	})
	pt.Other = PeerStats{RxPackets: rxOther.packets, RxBytes: rxOther.bytes, RxDrops: rxOther.drops,
		TxPackets: txOther.packets, TxBytes: txOther.bytes, TxDrops: txOther.drops}
	sort.Slice(out, func(a, b int) bool { return out[a].Addr.Less(out[b].Addr) })
	return out, pt
}
