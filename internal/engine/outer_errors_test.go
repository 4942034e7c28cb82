package engine

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/header"
)

func transmitOne(e *Engine, d *fakeDevice, pkt []byte) {
	d.in = append(d.in, pkt)
	runTransmit(e, d)
}

func icmpCodes(d *fakeDevice) (codes []uint8, mtus []int) {
	for _, w := range d.written {
		ip := header.IPv4(w)
		if ip.Protocol() == header.ProtocolICMP && ip.Payload()[0] == 3 {
			p := ip.Payload()
			codes = append(codes, p[1])
			mtus = append(mtus, int(p[6])<<8|int(p[7]))
		}
	}
	return codes, mtus
}

func TestFragNeededLowersThePathMTU(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	now := time.Now()
	// A router between us and the p2p remote reports a 1300-byte link.
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 1300, Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.9"), Link: 2}, now)
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1400, true))
	codes, mtus := icmpCodes(devs["p2p"])
	if len(send.sent) != 0 || len(codes) != 1 || codes[0] != 4 || mtus[0] != 1280 {
		t.Fatalf("sent %d, ICMP codes %v mtus %v; want frag needed with 1300-20", len(send.sent), codes, mtus)
	}
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1280, true))
	if len(send.sent) != 1 {
		t.Fatalf("a packet that fits the learned MTU was not sent")
	}
	// The fallback learns per destination too, and never below min_pmtu.
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 300, Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.3"), Link: 2}, now)
	transmitOne(e, devs["tunl0"], innerPacket("192.168.41.0", "192.168.42.7", 1000, true))
	if _, mtus := icmpCodes(devs["tunl0"]); len(mtus) != 1 || mtus[0] != minPMTU-20 {
		t.Fatalf("fallback ICMP mtus %v, want %d", mtus, minPMTU-20)
	}
}

// A frag needed below min_pmtu (here with no MTU at all: a router before
// RFC 1191, or ip_no_pmtu_disc = 1) locks the path at 552, as
// __ip_rt_update_pmtu does: the p2p tunnel (ttl 64, so DF) then sends
// without DF and fragments what does not fit instead of dropping it,
// still answers an inner DF packet with 532, and a later frag needed of
// 1300 does not unlock it.
func TestFragNeededBelowMinPMTULocksThePath(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	now := time.Now()
	local, remote := netip.MustParseAddr("10.245.1.2"), netip.MustParseAddr("10.245.1.9")
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 0, Local: local, Remote: remote, Link: 2}, now)
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 1300, Local: local, Remote: remote, Link: 2}, now)

	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1000, false))
	if len(send.sent) != 2 {
		t.Fatalf("a 1000-byte packet without DF went out as %d packets, want 2 fragments of a 552-byte path", len(send.sent))
	}
	for i, f := range send.sent {
		if ip := header.IPv4(f); len(f) > minPMTU || ip.DontFragment() {
			t.Errorf("fragment %d: %d bytes, DF %v; want at most %d, DF clear", i, len(f), ip.DontFragment(), minPMTU)
		}
	}
	if s := e.Status().Tunnels[0].Stats; s.TxDropped != 0 {
		t.Errorf("TxDropped %d on a locked path, want 0", s.TxDropped)
	}
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 600, true))
	if codes, mtus := icmpCodes(devs["p2p"]); len(codes) != 1 || codes[0] != 4 || mtus[0] != minPMTU-20 {
		t.Fatalf("an inner DF packet of 600 bytes: ICMP codes %v mtus %v, want frag needed with %d", codes, mtus, minPMTU-20)
	}
}

// On an underlay whose MTU is below 552 the lock holds at the underlay's
// MTU (the kernel locks min(route MTU, min_pmtu)): a packet without DF is
// fragmented to it with DF clear, not dropped.
func TestLockBelowMinPMTUUnderlay(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	e.underlayMTU = func(netip.Addr, string) int { return 500 }
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 0, Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.9"), Link: 2}, time.Now())
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1000, false))
	if len(send.sent) < 2 {
		t.Fatalf("a 1000-byte packet without DF on a locked 500-byte path went out as %d packets (stats %+v), want fragments", len(send.sent), e.Status().Tunnels[0].Stats)
	}
	for i, f := range send.sent {
		if ip := header.IPv4(f); len(f) > 500 || ip.DontFragment() {
			t.Errorf("fragment %d: %d bytes, DF %v; want at most 500, DF clear", i, len(f), ip.DontFragment())
		}
	}
}

func TestSoftErrorWindowAnswersHostUnreachable(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	now := time.Now()
	unreachable := OuterError{Type: 3, Code: 3, Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.9"), Link: 2}
	e.HandleOuterError(unreachable, now)
	e.HandleOuterError(unreachable, now)
	for i := 0; i < 3; i++ {
		transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 100, false))
	}
	codes, _ := icmpCodes(devs["p2p"])
	if len(send.sent) != 3 || len(codes) != 2 || codes[0] != 1 || codes[1] != 1 {
		t.Fatalf("sent %d (want all 3), host unreachables %v (want two, one per error)", len(send.sent), codes)
	}
	// An error older than 30 s does not open a window.
	rt := runtimeOf(e.state.Load(), "p2p")
	rt.softErrors.count.Store(5)
	rt.softErrors.since.Store(now.Add(-31 * time.Second).UnixNano())
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 100, false))
	if codes, _ := icmpCodes(devs["p2p"]); len(codes) != 2 || rt.softErrors.count.Load() != 0 {
		t.Fatalf("expired window still answered: %v, count %d", codes, rt.softErrors.count.Load())
	}
}

func TestOuterErrorsIgnored(t *testing.T) {
	e, devs, _ := newTestEngine(t, meshYAML)
	now := time.Now()
	local := netip.MustParseAddr("10.245.1.2")
	for _, ev := range []OuterError{
		{Type: 3, Code: 5, Local: local, Remote: netip.MustParseAddr("10.245.1.9")},  // source route failed
		{Type: 11, Code: 1, Local: local, Remote: netip.MustParseAddr("10.245.1.9")}, // reassembly time exceeded
		{Type: 5, Code: 1, Local: local, Remote: netip.MustParseAddr("10.245.1.9")},  // redirect
		{Type: 3, Code: 3, Local: local, Remote: netip.MustParseAddr("10.245.1.3")},  // NBMA: no soft state
		{Type: 11, Code: 0, Local: local, Remote: netip.MustParseAddr("10.245.1.3")}, // fallback inherits TTL anyway
		{Type: 3, Code: 3, Local: local, Remote: netip.MustParseAddr("10.7.7.7")},    // matches the fallback, which has no remote
	} {
		e.HandleOuterError(ev, now)
	}
	for _, name := range []string{"p2p", "tunl0"} {
		if c := runtimeOf(e.state.Load(), name).softErrors.count.Load(); c != 0 {
			t.Errorf("%s: soft errors %d, want 0", name, c)
		}
	}
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 100, false))
	if codes, _ := icmpCodes(devs["p2p"]); len(codes) != 0 {
		t.Errorf("ICMP answered after ignored errors: %v", codes)
	}
}

// TestFragNeededToInnerSendersIsNeverRateLimited: icmpv4_mask_allow
// exempts frag needed from every ICMP rate limit ("don't limit PMTU
// discovery"), so each DF packet too big for the path gets its answer.
func TestFragNeededToInnerSendersIsNeverRateLimited(t *testing.T) {
	e, devs, _ := newTestEngine(t, meshYAML)
	for i := 0; i < 10; i++ {
		devs["p2p"].in = append(devs["p2p"].in, innerPacket("172.16.0.1", "172.16.9.9", 1481, true))
	}
	runTransmit(e, devs["p2p"])
	codes, _ := icmpCodes(devs["p2p"])
	s := e.Status().Tunnels[0].Stats
	if len(codes) != 10 || s.ICMPSent != 10 || s.ICMPRateLimited != 0 || s.TxErrors != 10 {
		t.Fatalf("%d ICMP written, stats %+v; want all 10 frag needed sent, none limited, 10 tx_errors", len(codes), s)
	}
}

// TestHostUnreachableToInnerSendersIsRateLimited: the soft-error window's
// host unreachable (dst_link_failure → icmp_send) is limited like any
// ICMP 3/x in icmp_ratemask: a burst of six to one inner sender, then one
// a second.
func TestHostUnreachableToInnerSendersIsRateLimited(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	rt := runtimeOf(e.state.Load(), "p2p")
	rt.softErrors.since.Store(time.Now().UnixNano())
	rt.softErrors.count.Store(10)
	for i := 0; i < 10; i++ {
		devs["p2p"].in = append(devs["p2p"].in, innerPacket("172.16.0.1", "172.16.9.9", 100, false))
	}
	runTransmit(e, devs["p2p"])
	codes, _ := icmpCodes(devs["p2p"])
	s := e.Status().Tunnels[0].Stats
	if len(codes) != icmpBurst || s.ICMPSent != icmpBurst || s.ICMPRateLimited != 10-icmpBurst || len(send.sent) != 10 {
		t.Fatalf("%d ICMP written, %d sent, stats %+v; want %d host unreachables, %d limited, all 10 sent", len(codes), len(send.sent), s, icmpBurst, 10-icmpBurst)
	}
}

// A soft error is spent on the first packet past tnl_update_pmtu, as
// ip_tunnel_xmit spends err_count before iptunnel_xmit: also on a packet
// without DF that the outer DF then makes IP output refuse (too_big), but
// not on one answered with frag needed (tnl_update_pmtu's -E2BIG).
func TestSoftErrorSpentOnPacketsIPOutputDrops(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	rt := runtimeOf(e.state.Load(), "p2p")
	rt.softErrors.since.Store(time.Now().UnixNano())
	rt.softErrors.count.Store(1)
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1481, true)) // frag needed: not spent
	if c := rt.softErrors.count.Load(); c != 1 {
		t.Fatalf("a packet answered with frag needed spent a soft error: count %d, want 1", c)
	}
	transmitOne(e, devs["p2p"], innerPacket("172.16.0.1", "172.16.9.9", 1481, false)) // too_big after the PMTU check
	codes, _ := icmpCodes(devs["p2p"])
	s := e.Status().Tunnels[0].Stats
	if len(send.sent) != 0 || len(codes) != 2 || codes[1] != 1 || rt.softErrors.count.Load() != 0 || s.Drops["too_big"] != 1 {
		t.Fatalf("sent %d, ICMP codes %v, soft errors left %d, stats %+v; want frag needed, then host unreachable for the too_big packet", len(send.sent), codes, rt.softErrors.count.Load(), s)
	}
}

// A path MTU belongs to the outer destination, as the kernel keeps it on
// the outer route (a PMTU exception per destination), not to the tunnel
// whose lookup the ICMP matched: after a frag needed about the p2p
// tunnel's remote, the fallback's DF packets to that remote are answered
// with the learned MTU too, instead of vanishing on the path.
func TestPathMTUIsPerOuterDestination(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	e.HandleOuterError(OuterError{Type: 3, Code: 4, MTU: 1300, Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.9"), Link: 2}, time.Now())
	// No route in the config: the fallback sends to the inner destination.
	transmitOne(e, devs["tunl0"], innerPacket("192.168.41.0", "10.245.1.9", 1400, true))
	codes, mtus := icmpCodes(devs["tunl0"])
	if len(send.sent) != 0 || len(codes) != 1 || codes[0] != 4 || mtus[0] != 1280 {
		t.Fatalf("fallback to the p2p remote: sent %d, ICMP codes %v mtus %v; want frag needed with 1300-20", len(send.sent), codes, mtus)
	}
}
