// Package decap takes a received outer IPIP packet apart, in the kernel's
// order (net/ipv4/tunnel4.c, ipip.c, ip_tunnel.c):
//
//  1. IP input: a valid IPv4 header, protocol 4, not a fragment (the
//     kernel reassembles before raw delivery, so one here is malformed);
//  2. tunnel4_rcv: 20 bytes of inner header present, else dropped;
//  3. ip_tunnel_lookup: the tunnel by (outer source, destination, ingress
//     link); none → the sender is owed ICMP port unreachable;
//  4. ipip_tunnel_rcv: the tunnel's mode must accept protocol 4;
//  5. ip_tunnel_rcv: a valid inner IPv4 header (the kernel's IP input on
//     the tunnel device would check it; a TUN takes anything, so ipipd
//     checks here), then ECN decapsulation (RFC 6040, drop CE over Not-ECT);
//  6. the inner packet, a sub-slice of the input, goes to the tunnel's TUN.
//
// Nothing here does I/O, keeps globals or allocates; the one write is the
// inner TOS byte and checksum when ECN decapsulation changes them.
package decap
