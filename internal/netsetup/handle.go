package netsetup

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// handles holds one netlink handle per network namespace, by the namespace
// file's device and inode. The package functions of vishvananda/netlink
// open, bind and close a socket for every request; a routing table of
// 100 000 file routes makes that most of the start (measured: 69-124 µs a
// route against 35-45 µs through a kept handle). A Handle is safe for
// concurrent use: it locks its socket per request. One socket per
// namespace, not per tunnel, so 10 000 tunnels do not cost 10 000
// descriptors.
var handles sync.Map // [2]uint64 → *netlink.Handle

// rtnl returns the handle of the calling thread's network namespace, made on
// first use; if one cannot be made, the package's own (a socket a request).
func rtnl() *netlink.Handle { return handleOf(&handles, false) }

// strictHandles are the same, with NETLINK_GET_STRICT_CHK set, for route
// dumps: without it the kernel ignores a dump's filters and sends every
// route of every table, which the library then filters. A reload's check of
// one tunnel's routes read all 100 000 of a routing daemon's twice (0.7 s of
// a reload at 10 000 tunnels). Only route dumps use it: the kernel checks
// every dump request on such a socket strictly, and the library's address
// dump request is not one it accepts.
var strictHandles sync.Map

// rtnlStrict is rtnl with strict checking, for route dumps; where the kernel
// has no strict checking (before 4.20) it is rtnl's socket, unfiltered.
func rtnlStrict() *netlink.Handle { return handleOf(&strictHandles, true) }

func handleOf(cache *sync.Map, strict bool) *netlink.Handle {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st); err != nil {
		return &netlink.Handle{}
	}
	key := [2]uint64{st.Dev, st.Ino}
	if h, ok := cache.Load(key); ok {
		return h.(*netlink.Handle)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &netlink.Handle{}
	}
	if strict {
		h.SetStrictCheck(true) // an old kernel refuses: the dump is then filtered here
	}
	if prev, loaded := cache.LoadOrStore(key, h); loaded {
		h.Close()
		return prev.(*netlink.Handle)
	}
	return h
}
