// Package encap builds the outer IPv4 header of an IPIP packet in place, as
// the kernel's ip_tunnel_xmit and iptunnel_xmit do (net/ipv4/ip_tunnel.c,
// ip_tunnel_core.c), and decides what an oversize packet becomes: sent,
// answered with ICMP "fragmentation needed", or fragmented.
//
// The inner packet is read from the TUN at offset Headroom of its buffer, so
// the 20-byte outer header is written into the bytes in front of it: no
// copy. Nothing here does I/O, keeps globals or allocates.
//
// The flow of one packet (Tunnel.Encap):
//
//  1. validate the inner header (ipip_tunnel_xmit: IPv4 only);
//  2. outer DF = the tunnel's pmtudisc (forced by a fixed TTL) OR inner DF;
//  3. PMTU: an inner DF packet larger than path MTU - 20 gets ICMP 3/4
//     (tnl_update_pmtu); a non-DF one with DF forced is dropped (the
//     kernel's IP output refuses it); without pmtudisc it is fragmented;
//  4. TOS fixed or inherited, ECN encapsulated (INET_ECN_encapsulate);
//  5. TTL fixed or inherited;
//  6. ID from a per-destination counter, total length, checksum.
package encap
