// Package kernelview follows what the kernel holds for ipipd's devices: each
// device's link state and MTU, its IPv4 addresses, and every IPv4 route
// whose next hop leaves through it, in the routing table the device's
// tunnel reads. It is the control plane's one source of truth: a route
// added with `ip route add P via G dev tunl0 onlink`, by hand or by a
// routing daemon such as BIRD, reaches the datapath through here exactly as
// the kernel's own ipip module would see it in its FIB.
//
// A Watcher reads the kernel's tables once (a netlink dump), then follows
// its notifications (RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWLINK, RTM_DELLINK,
// RTM_NEWADDR, RTM_DELADDR) in order, and hands the result to its owner as
// an immutable View, coalescing bursts: a routing daemon that installs
// 100 000 routes causes a few Views, not 100 000. If the kernel's
// notifications overflow the socket (ENOBUFS), the Watcher reads the tables
// again from the start rather than go on with a view that missed changes.
//
// The notifications come on one socket, in the kernel's order across
// links, addresses and routes. Watcher.Fresh sends a request on that same
// socket and waits for its reply, which the kernel queues behind every
// notification already queued: a barrier, whose cost is the backlog, not
// the size of the tables.
//
// Devices that join the watched set later, a few at a time, and a device
// that comes up, are read alone, with dumps the kernel filters by device
// (device_read.go). What the kernel removes without a notification the
// follower removes itself, as the kernel does: a device going down loses its
// routes and broadcast addresses, and its last IPv4 address takes its routes
// with it (fib_disable_ip).
package kernelview
