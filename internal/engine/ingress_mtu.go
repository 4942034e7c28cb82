package engine

import "time"

// ingressMTUs is the receive loop's cache of each ingress device's MTU,
// for decap.MergeConfirmed: a received inner packet longer than its
// device's MTU less the outer header can only be a merge, and need not be
// summed to tell it from a damaged plain segment. It is asked only for a
// packet whose checksum field holds the pseudo-header sum (a merge, or
// one plain segment in 65 536), so the netlink question is rare; an entry
// is asked again after ingressMTUTTL, as the engine does not follow the
// underlay's devices. It belongs to the receive loop: no locks.
type ingressMTUs struct {
	mtus map[int]ingressMTU
}

type ingressMTU struct {
	mtu int
	at  time.Time
}

const ingressMTUTTL = 10 * time.Second

// maxPlain is the longest inner packet device index carries unmerged, 0
// when unknown (lookup nil, as in tests, or no answer).
func (c *ingressMTUs) maxPlain(index int, lookup func(int) int) int {
	if lookup == nil || index <= 0 {
		return 0
	}
	now := time.Now()
	if m, ok := c.mtus[index]; ok && now.Sub(m.at) < ingressMTUTTL {
		return m.mtu
	}
	if c.mtus == nil || len(c.mtus) > 1024 {
		c.mtus = map[int]ingressMTU{}
	}
	mtu := lookup(index) - outerHeaderLen
	if mtu < 0 {
		mtu = 0
	}
	c.mtus[index] = ingressMTU{mtu: mtu, at: now}
	return mtu
}

// outerHeaderLen is the outer header without options.
const outerHeaderLen = 20
