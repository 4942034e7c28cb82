package engine

import "sync/atomic"

// netns is what the kernel keeps once per network namespace rather than per
// tunnel device, and ipipd therefore once per Engine, shared by every loop:
// the path MTUs learned toward outer destinations (PMTU exceptions on the
// outer routes, whichever tunnel's ICMP taught them), the host-wide ICMP
// rate limit (icmp_global), and the broadcast addresses of the local
// routing table.
type netns struct {
	// pmtu is replaced whole on each update (copy on write, rare) and read
	// once per transmit batch without locks.
	pmtu atomic.Pointer[pmtuTable]
	// icmp limits every ICMP error ipipd sends or writes in the kernel's
	// stead, frag needed excepted.
	icmp icmpGlobal
	// local is the local routing table's broadcast addresses, replaced
	// whole with each View of the kernel (kernelChanged); nil
	// until read.
	local atomic.Pointer[localTable]
}

// newNetns reads the namespace's ICMP limits: once, as the Engine starts.
func newNetns() *netns {
	ns := &netns{}
	ns.pmtu.Store(&pmtuTable{})
	ns.icmp.readLimits()
	return ns
}

// netns returns e's per-namespace state, made on first use, so that the
// tests' Engines built without New have one too.
func (e *Engine) netns() *netns {
	e.nsOnce.Do(func() { e.ns = newNetns() })
	return e.ns
}
