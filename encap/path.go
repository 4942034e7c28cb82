package encap

// Path is what the outer route tells the transmit path about the way to an
// outer destination (dst_mtu and ip_mtu_locked of the route).
type Path struct {
	// MTU is the route's MTU: the underlay's, or a lower one learned from
	// ICMP frag needed.
	MTU int
	// Locked: the MTU was learned below net.ipv4.route.min_pmtu (552) and
	// locked there. iptunnel_xmit then clears DF on every outer packet,
	// so IP output fragments what does not fit instead of refusing it;
	// only inner DF packets still earn ICMP frag needed.
	Locked bool
}
