package lookup

import "fmt"

// None is the tunnel index meaning "no tunnel takes this packet"; the
// receive path then owes the sender an ICMP port unreachable (tunnel4_rcv).
const None = -1

// TunnelTable selects the tunnel for a received outer packet in the order of
// ip_tunnel_lookup:
//
//  1. local == D and remote == S            (the last one in list order)
//  2. remote == S and no local               (the first)
//  3. local == D and no remote, or remote == D when D is multicast (the first)
//  4. no local and no remote                 (the first)
//  5. the candidate from the earliest of 1-4 that had one
//  6. the fallback tunnel (the kernel's tunl0)
//
// In every phase a tunnel bound to the packet's ingress link wins at once,
// so an exact link match in a later phase beats a candidate from an earlier
// one. "List order" is the kernel's hash-bucket order, newest first: tunnels
// are created in the order given, and the fallback, like tunl0 which exists
// from module load, is the oldest of all.
//
// Each phase is a hash map from the key the kernel hashes on to the answer
// precomputed for that key, so a lookup costs at most four map probes, and
// one when no tunnel is bound to the packet's ingress link.
type TunnelTable struct {
	tunnels  []Tunnel
	exact    flatTable // phase 1, keyed by (remote, local)
	remote   flatTable // phase 2, keyed by remote
	local    flatTable // phase 3, keyed by local or multicast remote
	wildcard phase     // phase 4
	fallback int
	external int // phase 6, the collect_md tunnel
	// links holds every link some up tunnel is bound to. A packet from any
	// other link cannot meet an exact link match, so its lookup stops at the
	// first phase that has a candidate.
	links map[int]bool
}

// phase is what one phase of the lookup yields for one key.
type phase struct {
	candidate int         // when no tunnel's link equals the packet's; None if the phase is empty
	bound     []linkEntry // tunnels of the phase bound to a link, in list order
}

type linkEntry struct {
	link  int
	index int
}

var emptyPhase = phase{candidate: None}

// NewTunnelTable builds the table for tunnels, given in creation order; the
// index of a tunnel in that slice is what Lookup returns. Two tunnels with
// the same (local, remote, link) are refused, as the kernel refuses the
// second with EEXIST (ip_tunnel_find).
func NewTunnelTable(tunnels []Tunnel) (*TunnelTable, error) {
	t := &TunnelTable{
		tunnels:  tunnels,
		wildcard: emptyPhase,
		fallback: None,
		external: None,
		links:    map[int]bool{},
	}
	type identity struct {
		local, remote uint32
		link          int
	}
	seen := map[identity]int{}
	external := None
	for i := range tunnels {
		tu := &tunnels[i]
		if tu.External {
			// ip_tunnel_newlink: one collect_md device per netns; it is
			// exempt from the identity check.
			if external != None {
				return nil, &DuplicateError{First: tunnels[external], Second: *tu}
			}
			external = i
			continue
		}
		id := identity{addr32(tu.Local), addr32(tu.Remote), tu.Link}
		if j, dup := seen[id]; dup {
			return nil, &DuplicateError{First: tunnels[j], Second: *tu}
		}
		seen[id] = i
	}
	b := builder{exact: map[uint64]phase{}, remote: map[uint32]phase{}, local: map[uint32]phase{}}
	for _, i := range listOrder(tunnels) {
		t.add(&b, i)
	}
	t.exact, t.remote, t.local = newFlatTable(b.exact), newFlatTable(b.remote), newFlatTable(b.local)
	return t, nil
}

// builder collects the phases in maps before they are laid out flat.
type builder struct {
	exact  map[uint64]phase
	remote map[uint32]phase
	local  map[uint32]phase
}

// listOrder returns tunnel indexes newest first, the fallback last.
func listOrder(tunnels []Tunnel) []int {
	order := make([]int, 0, len(tunnels))
	fallback := None
	for i := len(tunnels) - 1; i >= 0; i-- {
		if tunnels[i].IsFallback() {
			fallback = i
			continue
		}
		order = append(order, i)
	}
	if fallback != None {
		order = append(order, fallback)
	}
	return order
}

// add files tunnel i under the phase it qualifies for; called in list order.
func (t *TunnelTable) add(b *builder, i int) {
	tu := &t.tunnels[i]
	if tu.Down {
		return
	}
	if tu.Link != 0 {
		t.links[tu.Link] = true
	}
	local, remote := addr32(tu.Local), addr32(tu.Remote)
	switch {
	case tu.External:
		t.external = i
		t.wildcard = t.wildcard.with(i, tu.Link, false)
	case tu.IsFallback():
		t.fallback = i
		// tunl0 also qualifies in phase 4, but as the oldest wildcard with no
		// link it can only be that phase's candidate when it is the only
		// one, and then phase 6 returns it all the same.
	case remote != 0 && !isMulticast(remote) && local != 0:
		addTo(b.exact, pairKey(remote, local), i, tu.Link, true)
	case remote != 0 && !isMulticast(remote):
		addTo(b.remote, remote, i, tu.Link, false)
	case remote != 0: // multicast: matched when D is the group, local ignored
		addTo(b.local, remote, i, tu.Link, false)
	case local != 0:
		addTo(b.local, local, i, tu.Link, false)
	default:
		t.wildcard = t.wildcard.with(i, tu.Link, false)
	}
}

// with returns p with tunnel i appended in list order. Phase 1 keeps the
// last match as its candidate, the other phases the first.
func (p phase) with(i, link int, keepLast bool) phase {
	if p.candidate == None || keepLast {
		p.candidate = i
	}
	if link != 0 {
		p.bound = append(p.bound, linkEntry{link, i})
	}
	return p
}

// Lookup returns the index of the tunnel that receives an outer packet from
// src to dst (addresses as the header carries them) that arrived on ingress
// link, or None. src and dst are not 0.0.0.0: IP input drops such martian
// packets before the tunnel code, and so does decap. (Were they 0, the
// kernel's phases would compare them with unset addresses; this table only
// guarantees it does not fail.)
func (t *TunnelTable) Lookup(src, dst uint32, link int) int {
	if len(t.links) == 0 || !t.links[link] {
		return t.firstCandidate(src, dst)
	}
	candidate := None
	for _, probe := range [3]struct {
		table *flatTable
		key   uint64
	}{{&t.exact, pairKey(src, dst)}, {&t.remote, uint64(src)}, {&t.local, uint64(dst)}} {
		s := probe.table.find(probe.key)
		if s == nil {
			continue
		}
		if i := probe.table.phases[s.phase].boundTo(link); i != None {
			return i
		}
		if candidate == None {
			candidate = int(s.candidate)
		}
	}
	if i := t.wildcard.boundTo(link); i != None {
		return i
	}
	if candidate == None {
		candidate = t.wildcard.candidate
	}
	if candidate != None {
		return candidate
	}
	return t.last()
}

// last is phases 6 and 7: the collect_md tunnel, then the fallback.
func (t *TunnelTable) last() int {
	if t.external != None {
		return t.external
	}
	return t.fallback
}

// firstCandidate is Lookup for a packet whose link no tunnel is bound to.
func (t *TunnelTable) firstCandidate(src, dst uint32) int {
	if s := t.exact.find(pairKey(src, dst)); s != nil {
		return int(s.candidate)
	}
	if s := t.remote.find(uint64(src)); s != nil {
		return int(s.candidate)
	}
	if s := t.local.find(uint64(dst)); s != nil {
		return int(s.candidate)
	}
	if t.wildcard.candidate != None {
		return t.wildcard.candidate
	}
	return t.last()
}

func addTo[K comparable](m map[K]phase, k K, i, link int, keepLast bool) {
	p, ok := m[k]
	if !ok {
		p = emptyPhase
	}
	m[k] = p.with(i, link, keepLast)
}

func (p *phase) boundTo(link int) int {
	for _, e := range p.bound {
		if e.link == link {
			return e.index
		}
	}
	return None
}

// Tunnel returns the tunnel at index i.
func (t *TunnelTable) Tunnel(i int) *Tunnel { return &t.tunnels[i] }

// Len is the number of tunnels, up or down.
func (t *TunnelTable) Len() int { return len(t.tunnels) }

// DuplicateError reports two tunnels with one identity.
type DuplicateError struct{ First, Second Tunnel }

func (e *DuplicateError) Error() string {
	if e.First.External && e.Second.External {
		return fmt.Sprintf("tunnels %q and %q are both external; the kernel allows one collect_md tunnel (EEXIST)", e.First.Name, e.Second.Name)
	}
	return fmt.Sprintf("tunnels %q and %q have the same identity (%s); the kernel refuses the second (EEXIST): give one of them a different local, remote or dev",
		e.First.Name, e.Second.Name, e.First.identity())
}
