// Package netsetup configures a tunnel's TUN device in the kernel through
// netlink and /proc/sys: sysctls, MTU, addresses, link state and routes. Each
// step is documented with the ip or sysctl command it equals, so that an
// operator can reproduce or inspect it by hand.
//
// Package tun creates the device; Apply configures it and remembers exactly
// what it changed, so that Update can move to a new configuration and Remove
// can undo it. The functions act on the network namespace of the calling OS
// thread.
package netsetup
