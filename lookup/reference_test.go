package lookup

// referenceLookup is ip_tunnel_lookup transcribed literally: one scan of the
// bucket list per phase, no indexes. It is slow and obviously right, the
// oracle the indexed TunnelTable is checked against.
func referenceLookup(tunnels []Tunnel, src, dst uint32, link int) int {
	list := listOrder(tunnels)
	up := func(i int) bool { return !tunnels[i].Down }
	l := func(i int) uint32 { return addr32(tunnels[i].Local) }
	r := func(i int) uint32 { return addr32(tunnels[i].Remote) }
	// ip_bucket: a multicast remote is filed under remote 0.
	bucketRemote := func(i int) uint32 {
		if isMulticast(r(i)) {
			return 0
		}
		return r(i)
	}
	cand := None
	for _, i := range list { // phase 1
		if bucketRemote(i) != src || l(i) != dst || r(i) != src || !up(i) {
			continue
		}
		if tunnels[i].Link == link {
			return i
		}
		cand = i
	}
	for _, i := range list { // phase 2
		if bucketRemote(i) != src || r(i) != src || l(i) != 0 || !up(i) {
			continue
		}
		if tunnels[i].Link == link {
			return i
		}
		if cand == None {
			cand = i
		}
	}
	for _, i := range list { // phase 3
		if bucketRemote(i) != 0 || !up(i) {
			continue
		}
		if (dst != l(i) || r(i) != 0) && (dst != r(i) || !isMulticast(dst)) {
			continue
		}
		if tunnels[i].Link == link {
			return i
		}
		if cand == None {
			cand = i
		}
	}
	for _, i := range list { // phase 4
		if bucketRemote(i) != 0 || l(i) != 0 || r(i) != 0 || !up(i) {
			continue
		}
		if tunnels[i].Link == link {
			return i
		}
		if cand == None {
			cand = i
		}
	}
	if cand != None {
		return cand
	}
	for i := range tunnels { // phase 6
		if tunnels[i].External && up(i) {
			return i
		}
	}
	for i := range tunnels { // phase 7
		if tunnels[i].IsFallback() && up(i) {
			return i
		}
	}
	return None
}
