// Package icmperr reads the ICMP errors that concern ipipd's outer (IP
// protocol 4) packets: the input the kernel hands to ipip_err
// (net/ipv4/ipip.c), from which a daemon keeps the tunnel's soft error state
// and a per-remote path MTU.
//
// The kernel's path for such an error, and where this package stands in it:
//
//  1. ip_local_deliver_finish → raw_local_deliver: every raw IPPROTO_ICMP
//     socket gets a clone of each locally delivered ICMP datagram, after
//     reassembly and BEFORE icmp_rcv has looked at it. The Reader's socket
//     is one of those; its classic BPF filter (Filter) runs in
//     sock_queue_rcv_skb and lets only types 3, 5 and 11 quoting protocol 4
//     through, so echo traffic costs no copy to userspace.
//  2. icmp_rcv: checksum (skb_checksum_simple_validate), no error to a
//     multicast or broadcast destination, dispatch by type.
//  3. icmp_unreach (types 3, 4, 11, 12) / icmp_redirect (type 5): quoted
//     ihl ≥ 5, DEST_UNREACH code ≤ 15, TIME_EXCEEDED code 1 (reassembly)
//     ignored, FRAG_NEEDED info = next-hop MTU.
//  4. icmp_socket_deliver: quoted ihl*4 + 8 bytes present, then
//     tunnel4_err → ipip_err for quoted protocol 4.
//
// Parse redoes steps 2 to 4 in userspace on the bytes the raw socket
// delivered, since the raw socket sees them before the kernel's own checks.
// Each accepted datagram becomes an Event. Parse also leaves out the types
// ipip_err ignores anyway (source quench, parameter problem, TIME_EXCEEDED
// codes other than 0); DEST_UNREACH code 5 (SR_FAILED) is kept, as
// icmp_unreach hands it on and only ipip_err drops it: see Event.
//
// Reader batches the reads with recvmmsg and parses IP_PKTINFO in place, as
// internal/rawsock does (its Batch is tied to its protocol-4 Receiver, so
// this package has its own small copy): steady-state Read allocates nothing.
package icmperr
