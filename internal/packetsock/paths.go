package packetsock

// Path is how the Sender reaches one outer destination on the link layer.
type Path struct {
	Ifindex int     // the device the route goes out of
	NextHop uint32  // the gateway, or the destination itself on-link; also set while its neighbour is unresolved
	MAC     [6]byte // the next hop's address
	// Src is the route's preferred source address, written into packets
	// that carry none (a tunnel without a local address), as the raw
	// socket's IP output does.
	Src uint32
	// Usable is false when the destination must go through the fallback:
	// no route, a route that is not unicast over an Ethernet device, or no
	// usable neighbour entry yet.
	Usable bool
	// Stale: the neighbour entry was NUD_STALE; one packet goes through
	// the fallback so that the kernel confirms the neighbour.
	Stale bool
}

// Resolver finds the Path to an outer destination. It may block (it asks
// the kernel over netlink); the Sender calls it off the transmit path.
type Resolver interface {
	Resolve(dst uint32) Path
}

// Timing of the path cache, in nanoseconds of the Sender's clock.
const (
	// refreshAfter: a path this old is resolved again, and used meanwhile.
	refreshAfter = int64(1e9)
	// expireAfter: a path this old is no longer used (the resolver may
	// be stuck); packets go through the fallback until a new one comes.
	expireAfter = int64(5e9)
	// retryAfter: a request with no answer this old is sent again (the
	// queue was full, or the answer was dropped).
	retryAfter = int64(1e9)
	// maxPaths bounds the cache: past it, the cache starts over (a
	// fallback tunnel's outer destination can be any inner destination).
	maxPaths = 4096
	// queueSize is the capacity of the request and answer queues.
	queueSize = 256
)

type entry struct {
	path        Path
	resolvedAt  int64  // when path was found; 0: never
	requestedAt int64  // when the outstanding request was queued; 0: none
	requestSeq  uint64 // the outstanding request's number: only its answer counts
	confirm     bool   // send the next packet through the fallback
}

// request asks for dst's path for cache; seq numbers it, so that an answer
// to a request made before the entry was forgotten or asked again is not
// applied.
type request struct {
	dst   uint32
	seq   uint64
	cache *paths // where the answer goes: the resolver serves every Sender of a PathFinder
}

type answer struct {
	request
	path    Path
	foundAt int64
	// gen is the invalidation generation the resolver read before it asked
	// the kernel: an invalidation with a later one may have changed what
	// the kernel answered, and the answer is then not used.
	gen uint64
}

// paths is a Sender's cache of destinations. lookup, apply and forget
// belong to the goroutine that writes; the resolver goroutine only reads
// requests and writes answers.
type paths struct {
	entries  map[uint32]*entry
	requests chan request // the resolver's queue, shared by the Senders of a PathFinder
	answers  chan answer
	void     invalidations
	nextSeq  uint64
	// allGen and hopGen are the generations of the last invalidation of
	// every path and of the paths through each next hop that apply took;
	// prefixLog the last route changes, and evictedGen the newest
	// generation that fell out of it (an answer older than that is not
	// known to be clear of it).
	allGen     uint64
	hopGen     map[uint32]uint64
	hopFloor   uint64 // the newest generation hopGen forgot when it was cleared
	prefixLog  []prefixInvalidation
	evictedGen uint64
}

// prefixLogSize is how many route changes apply remembers to check answers
// against: more during one resolution only costs that answer.
const prefixLogSize = 64

// newPaths returns a cache whose requests go to the resolver's queue.
func newPaths(requests chan request) *paths {
	return &paths{
		entries:   map[uint32]*entry{},
		requests:  requests,
		answers:   make(chan answer, queueSize),
		void:      newInvalidations(),
		hopGen:    map[uint32]uint64{},
		prefixLog: make([]prefixInvalidation, 0, prefixLogSize),
	}
}

// lookup returns dst's path and true when a packet to dst may go out on
// the packet socket now, and otherwise false: the packet goes through the
// fallback. It asks the resolver for a missing or old path, without
// waiting for it.
func (p *paths) lookup(dst uint32, now int64) (Path, bool) {
	e := p.entries[dst]
	if e == nil {
		if len(p.entries) >= maxPaths {
			clear(p.entries)
		}
		e = &entry{}
		p.entries[dst] = e
	}
	if e.resolvedAt == 0 || now-e.resolvedAt >= refreshAfter {
		if e.requestedAt == 0 || now-e.requestedAt >= retryAfter {
			select {
			case p.requests <- request{dst: dst, seq: p.nextSeq + 1, cache: p}:
				p.nextSeq++
				e.requestedAt, e.requestSeq = now, p.nextSeq
			default: // the resolver is behind; ask again on a later packet
			}
		}
	}
	if e.resolvedAt == 0 || now-e.resolvedAt >= expireAfter || !e.path.Usable || e.confirm {
		return Path{}, false
	}
	return e.path, true
}

// fellBack records that a packet to dst was handed to the fallback: if the
// kernel was to confirm dst's neighbour, that packet does it.
func (p *paths) fellBack(dst uint32) {
	if e := p.entries[dst]; e != nil {
		e.confirm = false
	}
}

// apply takes the invalidations and the resolver's answers that have
// arrived. An invalidated path is dropped, and so is an answer the kernel
// gave before an invalidation that may concern it; the entry then asks
// again on its next packet.
func (p *paths) apply() {
	if gen := p.void.allGen.Load(); gen > p.allGen {
		p.allGen = gen
		for _, e := range p.entries {
			e.resolvedAt, e.requestedAt = 0, 0
		}
	}
	for drained := false; !drained; {
		select {
		case v := <-p.void.prefixes:
			if len(p.prefixLog) == prefixLogSize {
				p.evictedGen = p.prefixLog[0].gen
				p.prefixLog = append(p.prefixLog[:0], p.prefixLog[1:]...)
			}
			p.prefixLog = append(p.prefixLog, v)
			for dst, e := range p.entries {
				if v.contains(dst) {
					e.resolvedAt, e.requestedAt = 0, 0
				}
			}
		case v := <-p.void.hops:
			if len(p.hopGen) >= maxPaths {
				clear(p.hopGen)
				p.hopFloor = v.gen // what the cleared generations guarded, this one guards
			}
			p.hopGen[v.hop] = v.gen
			for _, e := range p.entries {
				if e.path.NextHop == v.hop {
					e.resolvedAt, e.requestedAt = 0, 0
				}
			}
		default:
			drained = true
		}
	}
	for {
		select {
		case a := <-p.answers:
			e := p.entries[a.dst]
			if e == nil || e.requestSeq != a.seq {
				continue // forgotten or asked again meanwhile: a later answer counts
			}
			if p.changedSince(a) {
				e.requestedAt = 0 // found before a change: ask again
				continue
			}
			e.path, e.resolvedAt, e.requestedAt = a.path, a.foundAt, 0
			e.confirm = a.path.Usable && a.path.Stale
		default:
			return
		}
	}
}

// changedSince reports whether an invalidation that may concern a came
// after the resolver started on it.
func (p *paths) changedSince(a answer) bool {
	if a.gen < p.allGen || a.gen < p.hopGen[a.path.NextHop] || a.gen < p.hopFloor || a.gen < p.evictedGen {
		return true
	}
	for _, v := range p.prefixLog {
		if a.gen < v.gen && v.contains(a.dst) {
			return true
		}
	}
	return false
}

// forget drops dst's path, after the packet socket refused a packet to it
// (the device may be gone): the next packet asks again.
func (p *paths) forget(dst uint32) { delete(p.entries, dst) }
