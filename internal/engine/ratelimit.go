package engine

import "time"

// icmpLimiter is the kernel's per-destination ICMP rate limit
// (inet_peer_xrlim_allow with net.ipv4.icmp_ratelimit = 1000 ms): a token
// bucket per destination that refills one token a second and holds at most
// six (XRLIM_BURST_FACTOR). It belongs to one loop: no locks.
type icmpLimiter struct {
	interval time.Duration
	peers    map[uint32]peerTokens
}

type peerTokens struct {
	tokens time.Duration
	last   time.Time
}

const (
	icmpBurst = 6
	// maxPeers bounds the map: a flood from random sources must not grow
	// it without end. When full it starts afresh, which at worst lets one
	// extra burst through per peer.
	maxPeers = 4096
)

func newICMPLimiter(interval time.Duration) *icmpLimiter {
	return &icmpLimiter{interval: interval, peers: make(map[uint32]peerTokens)}
}

// allow reports whether one more ICMP error may go to dst at now.
func (l *icmpLimiter) allow(dst uint32, now time.Time) bool {
	if l.interval <= 0 {
		return true
	}
	p, ok := l.peers[dst]
	if !ok {
		if len(l.peers) >= maxPeers {
			clear(l.peers)
		}
		p = peerTokens{tokens: icmpBurst * l.interval, last: now}
	}
	p.tokens = min(p.tokens+now.Sub(p.last), icmpBurst*l.interval)
	p.last = now
	allowed := p.tokens >= l.interval
	if allowed {
		p.tokens -= l.interval
	}
	l.peers[dst] = p
	return allowed
}
