package packetsock

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PathFinder resolves outer destinations for every Sender that shares it:
// one netlink handle, one set of notification subscriptions and one
// resolving goroutine, however many tunnels send. Each Sender keeps its own
// cache, owned by its writing goroutine, so Writes never wait for one
// another; the PathFinder answers into each cache and passes every
// invalidation to all of them.
type PathFinder struct {
	requests chan request
	done     chan struct{} // closed to stop the resolver and the subscriptions
	stopped  chan struct{} // closed when the resolver has returned
	stop     sync.Once
	clock    func() int64

	mu     sync.Mutex
	caches map[*paths]struct{}

	handle *netlink.Handle // nil with FinderOptions.Resolver
	neigh  *nl.SocketHandle
}

// FinderOptions configure NewPathFinder.
type FinderOptions struct {
	// Dev, if set, is the device route lookups are bound to (`ip route get
	// DST oif DEV`), as the raw socket is bound to it.
	Dev string
	// Resolver replaces the kernel's answers, for tests; no notification
	// is then listened to.
	Resolver Resolver
}

// NewPathFinder opens the netlink sockets in the calling thread's network
// namespace (it needs CAP_NET_ADMIN for the subscriptions) and starts the
// goroutine that resolves destinations.
func NewPathFinder(opts FinderOptions) (*PathFinder, error) {
	start := time.Now()
	f := &PathFinder{
		requests: make(chan request, queueSize),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		clock:    func() int64 { return int64(time.Since(start)) + 1 }, // never 0: 0 means "never" in the caches
		caches:   map[*paths]struct{}{},
	}
	resolver := opts.Resolver
	if resolver == nil {
		r, err := f.openNetlink(opts.Dev)
		if err != nil {
			return nil, err
		}
		resolver = r
	}
	go func() {
		defer close(f.stopped)
		f.resolve(resolver)
		f.closeNetlink() // here, so no Resolve is still using it
	}()
	return f, nil
}

// openNetlink opens the handle and the neighbour socket the resolver asks
// with, and subscribes to the notifications that void paths.
func (f *PathFinder) openNetlink(dev string) (*netlinkResolver, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("packetsock: netlink: %w", err)
	}
	// A kernel that does not answer must not hold the resolver, and
	// Close, forever.
	if err := h.SetSocketTimeout(time.Second); err != nil {
		h.Close()
		return nil, fmt.Errorf("packetsock: netlink: %w", err)
	}
	oif := 0
	if dev != "" {
		link, err := h.LinkByName(dev)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("packetsock: device %q: %w", dev, err)
		}
		oif = link.Attrs().Index
	}
	neigh, err := neighbourSocket()
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := subscribe(f, f.done); err != nil {
		close(f.done) // ends a subscription that did start
		h.Close()
		neigh.Close()
		return nil, err
	}
	f.handle, f.neigh = h, neigh
	return &netlinkResolver{h: h, dev: dev, oif: oif, neigh: neigh}, nil
}

func (f *PathFinder) closeNetlink() {
	if f.handle != nil {
		f.handle.Close()
		f.neigh.Close()
	}
}

// resolve answers requests until done is closed, each into the cache that
// asked, with the invalidation generation that cache had when the kernel
// was asked.
func (f *PathFinder) resolve(r Resolver) {
	for {
		select {
		case <-f.done:
			return
		case req := <-f.requests:
			gen := req.cache.void.gen.Load()
			a := answer{request: req, path: r.Resolve(req.dst), foundAt: f.clock(), gen: gen}
			select {
			case req.cache.answers <- a:
			default: // the writer is behind; it asks again after retryAfter
			}
		}
	}
}

// newCache returns a cache served by this PathFinder.
func (f *PathFinder) newCache() *paths {
	p := newPaths(f.requests)
	f.mu.Lock()
	f.caches[p] = struct{}{}
	f.mu.Unlock()
	return p
}

// dropCache stops passing invalidations to p (its Sender is closed).
func (f *PathFinder) dropCache(p *paths) {
	f.mu.Lock()
	delete(f.caches, p)
	f.mu.Unlock()
}

// The invalidations the kernel's notifications cause go to every cache.
func (f *PathFinder) voidAll() { f.each(func(v invalidations) { v.voidAll() }) }
func (f *PathFinder) voidPrefix(addr uint32, bits int) {
	f.each(func(v invalidations) { v.voidPrefix(addr, bits) })
}
func (f *PathFinder) voidHop(hop uint32) { f.each(func(v invalidations) { v.voidHop(hop) }) }
func (f *PathFinder) voidDevices()       { f.each(func(v invalidations) { v.voidDevices() }) }

func (f *PathFinder) each(fn func(invalidations)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.caches {
		fn(p.void)
	}
}

// Close stops the resolver and the subscriptions and waits until the
// netlink sockets are closed. The Senders that share it must be closed
// first.
func (f *PathFinder) Close() error {
	f.stop.Do(func() { close(f.done) })
	<-f.stopped
	return nil
}

// neighbourSocket opens the netlink socket of single-entry neighbour
// requests in the calling thread's namespace (netlink.Handle has no such
// request, and its sockets are its own), with the handle's one-second
// timeouts.
func neighbourSocket() (*nl.SocketHandle, error) {
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("packetsock: netlink: %w", err)
	}
	tv := unix.NsecToTimeval(int64(time.Second))
	if err := errors.Join(sock.SetSendTimeout(&tv), sock.SetReceiveTimeout(&tv)); err != nil {
		sock.Close()
		return nil, fmt.Errorf("packetsock: netlink: %w", err)
	}
	return &nl.SocketHandle{Socket: sock}, nil
}
