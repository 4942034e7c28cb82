package packetsock

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func neighUpdate(typ uint16, state int, ip string, mac string) netlink.NeighUpdate {
	hw, _ := net.ParseMAC(mac)
	return netlink.NeighUpdate{Type: typ, Neigh: netlink.Neigh{Family: unix.AF_INET, State: state, IP: net.ParseIP(ip), HardwareAddr: hw}}
}

func TestNeighbourChange(t *testing.T) {
	macs := map[uint32][6]byte{}
	steps := []struct {
		name string
		u    netlink.NeighUpdate
		void bool
	}{
		{"first sight of a hop", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, "10.245.7.2", "02:00:00:00:00:02"), true},
		{"the kernel's own recheck, same address", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_STALE, "10.245.7.2", "02:00:00:00:00:02"), false},
		{"confirmed again", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, "10.245.7.2", "02:00:00:00:00:02"), false},
		{"a new address (failover)", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, "10.245.7.2", "02:00:00:00:00:99"), true},
		{"unreachable", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_FAILED, "10.245.7.2", ""), true},
		{"back, same address as before failing", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, "10.245.7.2", "02:00:00:00:00:99"), true},
		{"deleted", neighUpdate(unix.RTM_DELNEIGH, unix.NUD_REACHABLE, "10.245.7.2", "02:00:00:00:00:99"), true},
		{"IPv6 is not ours", neighUpdate(unix.RTM_NEWNEIGH, unix.NUD_REACHABLE, "fe80::1", "02:00:00:00:00:01"), false},
	}
	for _, s := range steps {
		if s.u.IP.To4() == nil {
			s.u.Family = unix.AF_INET6
		}
		hop, void := neighbourChange(s.u, macs)
		if void != s.void {
			t.Errorf("%s: void %v, want %v", s.name, void, s.void)
		}
		if void && hop != 0x0af50702 {
			t.Errorf("%s: hop %#x", s.name, hop)
		}
	}
}

// An invalidated path is not used, and the answer to a request made before
// the invalidation is not applied: it may carry the old address.
func TestApplyInvalidations(t *testing.T) {
	p := newTestPaths()
	const dst, other = 0x0af50702, 0x0af50703
	otherPath := peerPath
	otherPath.NextHop = 0x0af50709
	onLink := peerPath
	onLink.NextHop = dst
	p.lookup(dst, 1)
	answerNow(t, p, onLink, 2)
	p.lookup(other, 1)
	answerNow(t, p, otherPath, 2)

	p.void.voidHop(dst)
	p.apply()
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("a path through an invalidated next hop is used")
	}
	if _, ok := p.lookup(other, 3); !ok {
		t.Fatal("a path through another next hop was invalidated too")
	}
	stale := <-p.requests // the request lookup made for dst just now
	p.void.voidHop(dst)   // and the address changes again before its answer
	p.apply()
	p.answers <- answer{request: stale, path: onLink, foundAt: 4}
	p.apply()
	if _, ok := p.lookup(dst, 5); ok {
		t.Fatal("an answer to a request made before the invalidation was applied")
	}

	p.void.voidAll()
	p.apply()
	if _, ok := p.lookup(other, 6); ok {
		t.Fatal("voidAll left a path in use")
	}
}

// A path that waits for its neighbour is voided when the neighbour becomes
// usable: the next packet asks again at once, not after refreshAfter. (A
// tunnel's first packets would otherwise all go through the raw socket for
// a second.)
func TestUnresolvedNeighbourIsAskedAgainOnItsNotification(t *testing.T) {
	p := newTestPaths()
	const dst, hop = 0x0af50702, 0x0af50701
	p.lookup(dst, 1)
	req := <-p.requests
	waiting := Path{Ifindex: 3, NextHop: hop} // route found, no neighbour entry yet
	p.answers <- answer{request: req, path: waiting, foundAt: 2, gen: p.void.gen.Load()}
	p.apply()
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("a path without a neighbour is used")
	}
	select {
	case <-p.requests:
		t.Fatal("asked again before refreshAfter with nothing changed")
	default:
	}
	p.void.voidHop(hop) // the ARP reply came
	p.apply()
	p.lookup(dst, 4)
	select {
	case req = <-p.requests:
	default:
		t.Fatal("the neighbour's notification did not make the next packet ask again")
	}
	resolved := peerPath
	resolved.NextHop = hop
	p.answers <- answer{request: req, path: resolved, foundAt: 5, gen: p.void.gen.Load()}
	p.apply()
	if _, ok := p.lookup(dst, 6); !ok {
		t.Fatal("the answer after the notification was not used")
	}
}

// The answer the resolver found before a notification about its next hop
// is not used, even for a destination that had no path yet (so nothing
// to void in the cache): it may carry the old MAC address.
func TestAnswerFoundBeforeAHopChangeIsDropped(t *testing.T) {
	p := newTestPaths()
	const dst, hop = 0x0af50702, 0x0af50701
	p.lookup(dst, 1)
	req := <-p.requests
	gen := p.void.gen.Load() // the resolver starts
	p.void.voidHop(hop)      // the peer fails over meanwhile
	path := peerPath
	path.NextHop = hop
	p.answers <- answer{request: req, path: path, foundAt: 2, gen: gen}
	p.apply()
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("an answer found before the hop's change was used")
	}
	// The entry asks again at once, and the new answer counts.
	select {
	case req = <-p.requests:
	default:
		t.Fatal("no new request after the dropped answer")
	}
	p.answers <- answer{request: req, path: path, foundAt: 4, gen: p.void.gen.Load()}
	p.apply()
	if _, ok := p.lookup(dst, 5); !ok {
		t.Fatal("the answer found after the change was not used")
	}
	// The same for a change of every path.
	p.lookup(dst, 5+refreshAfter)
	req = <-p.requests
	gen = p.void.gen.Load()
	p.void.voidAll()
	p.answers <- answer{request: req, path: path, foundAt: 6 + refreshAfter, gen: gen}
	p.apply()
	if _, ok := p.lookup(dst, 7+refreshAfter); ok {
		t.Fatal("an answer found before a route change was used")
	}
}

// Requests are told apart by number, not by time: two made at the same
// clock reading are not confused.
func TestRequestsSameTick(t *testing.T) {
	p := newTestPaths()
	const dst = 0x0af50702
	p.lookup(dst, 1)
	first := <-p.requests
	p.forget(dst)
	p.lookup(dst, 1) // a new entry, same tick
	second := <-p.requests
	if first.seq == second.seq {
		t.Fatal("two requests got the same number")
	}
	p.answers <- answer{request: first, path: peerPath, foundAt: 1}
	p.apply()
	if _, ok := p.lookup(dst, 1); ok {
		t.Fatal("the answer to the first request was applied to the second entry")
	}
}

func TestPrefixContains(t *testing.T) {
	for _, tt := range []struct {
		addr uint32
		bits int
		dst  uint32
		in   bool
	}{
		{0, 0, 0x0af50702, true},            // default route
		{0x0af50700, 24, 0x0af50702, true},  // 10.245.7.0/24
		{0x0af50700, 24, 0x0af50802, false}, // 10.245.8.2
		{0x0af50702, 32, 0x0af50702, true},  // a host route
		{0x0af50702, 32, 0x0af50703, false}, //
		{0x0a000000, 8, 0x0aff0001, true},   // 10/8
		{0x0af50799 /* host bits set */, 24, 0x0af50701, true},
	} {
		p := prefixInvalidation{addr: tt.addr, bits: tt.bits}
		if got := p.contains(tt.dst); got != tt.in {
			t.Errorf("%#x/%d contains %#x = %v, want %v", tt.addr, tt.bits, tt.dst, got, tt.in)
		}
	}
}

// A route change voids the paths to destinations inside its prefix, and
// the answers found before it for those; others are left alone, so a
// routing daemon's churn elsewhere costs the tunnel nothing.
func TestRouteChangeVoidsItsPrefixOnly(t *testing.T) {
	p := newTestPaths()
	const inside, outside = 0x0af50702, 0x0af50802
	for _, dst := range []uint32{inside, outside} {
		p.lookup(dst, 1)
		answerNow(t, p, peerPath, 2)
	}
	p.void.voidPrefix(0x0af50700, 24)
	p.apply()
	if _, ok := p.lookup(inside, 3); ok {
		t.Fatal("a path inside the changed prefix is still used")
	}
	if _, ok := p.lookup(outside, 3); !ok {
		t.Fatal("a path outside the changed prefix was voided")
	}
	// An answer for inside found before a second change of its prefix is
	// dropped; one for outside, found before a change elsewhere, is kept.
	req := <-p.requests
	gen := p.void.gen.Load()
	p.void.voidPrefix(0x0af50700, 24)
	p.answers <- answer{request: req, path: peerPath, foundAt: 4, gen: gen}
	p.apply()
	if _, ok := p.lookup(inside, 5); ok {
		t.Fatal("an answer found before its prefix changed was used")
	}
	p.lookup(outside, 2+refreshAfter)
	req = <-p.requests
	for req.dst != outside {
		req = <-p.requests
	}
	gen = p.void.gen.Load()
	p.void.voidPrefix(0x0a630000, 16) // 10.99/16: unrelated
	p.answers <- answer{request: req, path: peerPath, foundAt: 3 + refreshAfter, gen: gen}
	p.apply()
	if e := p.entries[outside]; e.resolvedAt != 3+refreshAfter {
		t.Fatal("an answer was dropped for a route change outside its destination")
	}
}

// A voidAll whose generation was taken before a hop invalidation's but
// stored after apply read it (voidAll's Add and Store are two steps) must
// still void every path, even when that hop invalidation finds hopGen
// full and clears it.
func TestVoidAllSurvivesAHopGenClear(t *testing.T) {
	p := newTestPaths()
	const dst = 0x0af50702
	p.lookup(dst, 1)
	answerNow(t, p, peerPath, 2)
	for hop := range uint32(maxPaths) {
		p.hopGen[0x0a000000+hop] = 1
	}
	all := p.void.gen.Add(1) // voidAll has taken its generation…
	p.void.voidHop(0x0af50799)
	p.apply() // …the hop invalidation is applied and clears hopGen…
	p.void.allGen.Store(all)
	p.apply() // …and then voidAll's store lands.
	if _, ok := p.lookup(dst, 3); ok {
		t.Fatal("a path survived a voidAll stored after a hopGen clear")
	}
}

// Any device's notification, and a lost notification, void what a
// GSOSender learnt of its devices.
func TestDeviceNotificationsVoidDevices(t *testing.T) {
	v := newInvalidations()
	links := make(chan netlink.LinkUpdate, 1)
	links <- netlink.LinkUpdate{Header: unix.NlMsghdr{Type: unix.RTM_NEWLINK}}
	close(links)
	listen(v, nil, nil, links)
	if n := v.devices.Load(); n != 1 {
		t.Fatalf("%d device changes after one notification; want 1", n)
	}
	v.voidAll()
	if n := v.devices.Load(); n != 2 {
		t.Fatalf("%d device changes after voidAll; want 2", n)
	}
}
