package engine

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

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

// icmpGlobal is the kernel's host-wide ICMP limit (icmp_global_allow and
// icmp_global_consume, net/ipv4/icmp.c): a token bucket of at most
// net.ipv4.icmp_msgs_burst credits, refilled at icmp_msgs_per_sec in steps
// of at least 20 ms (HZ/50). It applies, on top of the per-destination
// limit, to every error type in icmp_ratemask but frag needed; one message
// sent costs a random 0, 1 or 2 credits, so that its state cannot be read
// from outside (the side channel of CVE-2020-25705). It is one per Engine,
// shared by the receive loop and every transmit loop: atomics, no lock, the
// kernel's lock-free version.
type icmpGlobal struct {
	perSec, burst int64
	credit        atomic.Int64
	stamp         atomic.Int64 // unix nanoseconds of the last refill
}

// The kernel's defaults, when /proc/sys has none to read.
const (
	defaultICMPMsgsPerSec = 1000
	defaultICMPMsgsBurst  = 50
)

// setLimits sets the rate and burst; before any message is sent.
func (g *icmpGlobal) setLimits(perSec, burst int64) { g.perSec, g.burst = perSec, burst }

// readLimits takes net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst of this
// network namespace, each left at the kernel's default where it cannot be
// read.
func (g *icmpGlobal) readLimits() {
	g.setLimits(sysctlInt("icmp_msgs_per_sec", defaultICMPMsgsPerSec), sysctlInt("icmp_msgs_burst", defaultICMPMsgsBurst))
}

func sysctlInt(name string, fallback int64) int64 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		return fallback
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 {
		return fallback
	}
	return v
}

// allow reports whether the bucket lets one more message go at now (unix
// nanoseconds); it consumes nothing: the caller checks the per-destination
// limit next, and calls consume only when that one allows too, the order
// of __icmp_send since v6.12 ("icmp: change the order of rate limits").
func (g *icmpGlobal) allow(now int64) bool {
	if g.credit.Load() > 0 {
		return true
	}
	stamp := g.stamp.Load()
	delta := min(now-stamp, int64(time.Second))
	if delta < int64(time.Second/50) {
		return false
	}
	incr := g.perSec * delta / int64(time.Second)
	if incr == 0 {
		return false
	}
	if g.stamp.CompareAndSwap(stamp, now) {
		for {
			old := g.credit.Load()
			if g.credit.CompareAndSwap(old, min(old+incr, g.burst)) {
				break
			}
		}
	}
	return true
}

// consume spends the credits of one message sent. The credit may go
// below zero, as the kernel's may.
func (g *icmpGlobal) consume() {
	if n := rand.Int64N(3); n > 0 {
		g.credit.Add(-n)
	}
}
