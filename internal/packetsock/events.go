package packetsock

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel changes its routes and neighbours at once, and so must the
// Sender: a peer that fails over announces its new MAC address with a
// gratuitous ARP, and frames sent to the old one for the rest of a refresh
// period would be lost. So the Sender also listens to the kernel's
// neighbour and route notifications:
//
//   - a neighbour entry that is deleted, becomes unusable (FAILED,
//     INCOMPLETE) or changes its MAC address invalidates the paths through
//     that next hop;
//   - an IPv4 route change invalidates the paths to destinations inside
//     its prefix (a default route's: every path), so a routing daemon's
//     churn elsewhere in the table leaves the tunnel's paths alone;
//   - a device that changes (its MAC address, up or down) or comes or goes
//     invalidates what a GSOSender learnt of its egress devices: their
//     addresses, and whether the tcx program is on them. Any device's
//     notification does, for every device: a Sender has one or two, and
//     learning one again is two ioctls, while a notification is rare.
//
// An invalidated path sends through the fallback until it is resolved
// again, which also means the kernel, not a stale copy, addresses those
// packets. Refreshing every refreshAfter stays, for notifications lost to
// a full socket buffer.

// invalidations carries the listener's findings to the writer, which owns
// the cache. Every invalidation takes the next generation number; the
// resolver notes the generation before it asks the kernel, so an answer
// older than an invalidation that concerns it is known and not used.
type invalidations struct {
	gen      *atomic.Uint64 // the last generation handed out
	allGen   *atomic.Uint64 // the generation of the last invalidation of every path
	hops     chan hopInvalidation
	prefixes chan prefixInvalidation
	// devices counts the changes of devices (and the losses of
	// notifications, which may have hidden one): a GSOSender learns an
	// egress device again when it has moved since.
	devices *atomic.Uint64
}

// prefixInvalidation voids the paths to destinations in addr/bits.
type prefixInvalidation struct {
	addr uint32
	bits int
	gen  uint64
}

// contains reports whether dst is inside the prefix.
func (p prefixInvalidation) contains(dst uint32) bool {
	if p.bits == 0 {
		return true
	}
	mask := ^uint32(0) << (32 - p.bits)
	return dst&mask == p.addr&mask
}

// hopInvalidation voids the paths through hop.
type hopInvalidation struct {
	hop uint32
	gen uint64
}

func newInvalidations() invalidations {
	return invalidations{gen: new(atomic.Uint64), allGen: new(atomic.Uint64),
		hops: make(chan hopInvalidation, queueSize), prefixes: make(chan prefixInvalidation, queueSize),
		devices: new(atomic.Uint64)}
}

// voidAll voids every path and what was learnt of every device.
func (v invalidations) voidAll() {
	v.allGen.Store(v.gen.Add(1))
	v.devices.Add(1)
}

// voidDevices voids what was learnt of every device.
func (v invalidations) voidDevices() { v.devices.Add(1) }

// voidPrefix voids the paths to destinations in addr/bits, without
// blocking: when the queue is full, every path.
func (v invalidations) voidPrefix(addr uint32, bits int) {
	select {
	case v.prefixes <- prefixInvalidation{addr: addr, bits: bits, gen: v.gen.Add(1)}:
	default:
		v.voidAll()
	}
}

// voidHop voids the paths through hop, without blocking: when the queue is
// full, every path.
func (v invalidations) voidHop(hop uint32) {
	select {
	case v.hops <- hopInvalidation{hop: hop, gen: v.gen.Add(1)}:
	default:
		v.voidAll()
	}
}

// voider takes invalidations: one cache's (invalidations) or every cache
// of a PathFinder's.
type voider interface {
	voidAll()
	voidPrefix(addr uint32, bits int)
	voidHop(hop uint32)
	voidDevices()
}

// subscribe starts listening, in the calling thread's network namespace,
// until done is closed. A subscription that fails later voids every path
// once and leaves the Senders on their periodic refresh.
func subscribe(v voider, done <-chan struct{}) error {
	neighbours := make(chan netlink.NeighUpdate, queueSize)
	routes := make(chan netlink.RouteUpdate, queueSize)
	links := make(chan netlink.LinkUpdate, queueSize)
	lost := func(error) { v.voidAll() }
	if err := netlink.NeighSubscribeWithOptions(neighbours, done, netlink.NeighSubscribeOptions{ErrorCallback: lost}); err != nil {
		return fmt.Errorf("packetsock: neighbour notifications: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: lost}); err != nil {
		return fmt.Errorf("packetsock: route notifications: %w", err)
	}
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: lost}); err != nil {
		return fmt.Errorf("packetsock: device notifications: %w", err)
	}
	go listen(v, neighbours, routes, links)
	return nil
}

// listen turns notifications into invalidations until every channel is
// closed (the library closes them when done is closed or the socket fails).
func listen(v voider, neighbours <-chan netlink.NeighUpdate, routes <-chan netlink.RouteUpdate, links <-chan netlink.LinkUpdate) {
	macs := map[uint32][6]byte{} // the last usable address seen for each next hop
	for neighbours != nil || routes != nil || links != nil {
		select {
		case _, ok := <-links:
			if !ok {
				links = nil
				continue
			}
			v.voidDevices()
		case u, ok := <-neighbours:
			if !ok {
				neighbours = nil
				continue
			}
			if hop, void := neighbourChange(u, macs); void {
				v.voidHop(hop)
			}
		case u, ok := <-routes:
			if !ok {
				routes = nil
				continue
			}
			if u.Family != unix.AF_INET {
				continue
			}
			if u.Dst == nil || u.Dst.IP.To4() == nil {
				v.voidPrefix(0, 0) // the default route
				continue
			}
			bits, _ := u.Dst.Mask.Size()
			v.voidPrefix(binary.BigEndian.Uint32(u.Dst.IP.To4()), bits)
		}
	}
}

// neighbourChange reports whether update u voids the paths through its
// next hop, and which hop that is. A usable entry whose address is the one
// last seen changes nothing: the kernel's own reachability checks
// (REACHABLE → STALE → DELAY → REACHABLE) come as notifications too.
func neighbourChange(u netlink.NeighUpdate, macs map[uint32][6]byte) (uint32, bool) {
	ip := u.IP.To4()
	if u.Family != unix.AF_INET || ip == nil {
		return 0, false
	}
	hop := binary.BigEndian.Uint32(ip)
	if u.Type == unix.RTM_DELNEIGH || u.State&usableNeighbour == 0 || len(u.HardwareAddr) != 6 {
		delete(macs, hop)
		return hop, true
	}
	mac := [6]byte(u.HardwareAddr)
	last, seen := macs[hop]
	if len(macs) >= maxPaths {
		clear(macs)
	}
	macs[hop] = mac
	return hop, !seen || last != mac
}
