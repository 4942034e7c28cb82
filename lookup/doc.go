// Package lookup holds ipipd's two read-mostly tables and nothing else:
//
//   - the tunnel table, which picks the tunnel for a received outer packet
//     from its (source, destination, ingress link) exactly as the kernel's
//     ip_tunnel_lookup does (net/ipv4/ip_tunnel.c), fallback last;
//   - the route table, a longest-prefix match of an inner destination to the
//     tunnel that carries it and the outer destination to send it to.
//
// Both are immutable once built. A (re)load builds a new Snapshot and the
// datapath publishes it with an atomic.Pointer, so readers never lock: the
// userspace analogue of the kernel's RCU-protected hash table. Lookups do no
// I/O and allocate nothing.
package lookup
