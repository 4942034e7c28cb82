// Package packetsock sends finished outer IPv4 packets on AF_PACKET sockets,
// addressed to the next hop's MAC address, instead of through a raw IP
// socket.
//
// Why: on this project's machines the kernel spends about a third less per
// packet when it is handed a frame for a device than when a raw socket's
// packet goes through IP output (route lookup, netfilter's OUTPUT and
// POSTROUTING hooks, neighbour output); `BenchmarkPacketSocketWriteRead`
// in internal/rawsock measures it. An IPIP sender has no segmentation
// offload, so that cost is paid for every segment, and it bounds the
// tunnel's throughput.
//
// What it gives up, which is why it is an option (ipipd run --transmit
// packet) and not the default: outer packets skip netfilter (no OUTPUT or
// POSTROUTING rules, no SNAT of the outer header, no conntrack), xfrm
// (IPsec policies on the outer packet) and policy routing by firewall
// mark. The route and the neighbour are still the kernel's: the Sender
// asks for them over netlink (`ip route get`, the neighbour table), drops
// what it learnt as soon as the kernel announces a change of a neighbour
// or a route, and a GSOSender what it learnt of its devices at a change of
// a device (events.go), and asks again every second regardless; tc and
// the queueing discipline still see every frame.
//
// The asking is a PathFinder's (finder.go): one netlink handle, one set of
// subscriptions and one resolving goroutine, shared by every Sender of an
// engine, while each Sender keeps its own cache of answers, so Writes of
// different tunnels never wait for one another.
//
// A destination the Sender cannot address yet goes through the fallback,
// the raw socket, which also makes the kernel resolve its neighbour: the
// first packets to a new destination, destinations whose route is not an
// Ethernet device, local and broadcast destinations, and one packet after
// each refresh that found the neighbour entry stale, so the kernel keeps
// confirming it (NUD_STALE → DELAY → PROBE) as it would if it sent every
// packet itself.
package packetsock
