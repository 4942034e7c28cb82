package lookup

// flatTable is a read-only hash table from a non-zero 64-bit key to a
// phase's answer, with open addressing and linear probing in one flat
// array. A probe reads one 16-byte slot, so a hit costs one cache miss
// where a Go map costs several at 10 000 tunnels (measured in
// bench_test.go). Key 0 marks an empty slot: every key the tunnel table
// uses holds a non-zero address.
type flatTable struct {
	slots  []slot
	shift  uint8 // 64 - log2(len(slots))
	phases []phase
}

type slot struct {
	key       uint64
	candidate int32 // the phase's candidate, for the common lookup
	phase     int32 // index into phases, for exact link matches
}

// newFlatTable builds the table from m, at most half full.
func newFlatTable[K ~uint32 | ~uint64](m map[K]phase) flatTable {
	size, bits := 2, uint8(1)
	for size < 2*len(m) {
		size, bits = size*2, bits+1
	}
	t := flatTable{slots: make([]slot, size), shift: 64 - bits, phases: make([]phase, 0, len(m))}
	for k, p := range m {
		i := t.home(uint64(k))
		for t.slots[i].key != 0 {
			i = (i + 1) & (len(t.slots) - 1)
		}
		t.slots[i] = slot{key: uint64(k), candidate: int32(p.candidate), phase: int32(len(t.phases))}
		t.phases = append(t.phases, p)
	}
	return t
}

// home is the key's first slot: Fibonacci hashing, the top bits of the
// product, which spreads the consecutive addresses of a subnet evenly.
func (t *flatTable) home(key uint64) int {
	return int((key * 0x9e3779b97f4a7c15) >> t.shift)
}

// find returns the slot of key, or nil. Key 0 is never stored (it marks
// empty slots), but packets can carry it: a source of 0.0.0.0.
func (t *flatTable) find(key uint64) *slot {
	if key == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return s
		}
		if s.key == 0 {
			return nil
		}
	}
}
