package encap

// IDs hands out outer IP identification values, one counter per
// destination hash bucket, as the kernel's __ip_select_ident does with its
// hashed ip_idents table: packets to one destination get consecutive IDs
// (fragments of different datagrams must not share one), and the start of
// each counter is unpredictable. A raw IP_HDRINCL socket would leave ID 0
// on DF packets, so the datapath always sets it.
//
// An IDs belongs to one worker: no locks. Two workers sending to one
// destination draw from independent counters with random starts.
type IDs struct {
	key      uint32
	counters [idBuckets]uint16
}

const idBuckets = 2048 // as the kernel's IP_IDENTS_SZ

// NewIDs seeds the counters from seed, which the caller draws from a random
// source: the package itself does no I/O.
func NewIDs(seed uint64) *IDs {
	g := &IDs{key: uint32(seed>>32) | 1}
	x := seed
	for i := range g.counters {
		// splitmix64: each bucket gets an independent start.
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		g.counters[i] = uint16(z ^ z>>31)
	}
	return g
}

// Next returns the next ID for packets from src to dst.
func (g *IDs) Next(src, dst uint32) uint16 {
	h := (dst ^ src*0x9e3779b1) * g.key
	i := h >> (32 - 11) // top 11 bits: 2048 buckets
	g.counters[i]++
	if g.counters[i] == 0 { // 0 reads as "unset" to tools and to a raw socket
		g.counters[i]++
	}
	return g.counters[i]
}
