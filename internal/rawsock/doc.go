// Package rawsock moves batches of whole IPv4 packets, outer header included,
// through raw sockets: the outer side of the tunnel.
//
// The flow, in the kernel's terms:
//
//  1. Receiver: one raw socket for IP protocol 4. The kernel hands every raw
//     socket of a protocol a clone of each locally delivered packet
//     (raw_local_deliver, before tunnel4_rcv), after reassembling outer
//     fragments, so each read is one whole outer datagram of up to 65535
//     bytes. recvmmsg fills a Batch; IP_PKTINFO gives the ingress ifindex that
//     ip_tunnel_lookup matches a tunnel's link against.
//  2. Sender: one socket(AF_INET, SOCK_RAW, IPPROTO_RAW), which implies
//     IP_HDRINCL: the caller's header goes out as written, except for the
//     fields raw_send_hdrinc fills in (see Sender). sendmmsg sends a batch;
//     each packet goes to its own header's destination address.
//
// The Receiver is non-blocking and registered with Go's netpoller, so a
// blocked Read parks the goroutine, not an OS thread, and Close ends it.
// The Sender is a blocking socket outside the poller, with a one-second
// send timeout: registered, every sent skb the kernel freed woke a poller
// thread for nothing (see Sender), and a send rarely waits.
//
// Why not golang.org/x/net/ipv4's ReadBatch/WriteBatch: measured with
// BenchmarkXNetReadBatch (x/net v0.62.0, batches of 64), ReadBatch makes 2
// allocations (52 bytes) per packet: each Message's source address is a new
// *net.IPAddr holding a new net.IP (internal/socket's parseInetAddr), though
// the source is in the header we keep anyway. Parsing IP_PKTINFO with
// ipv4.ControlMessage.Parse adds a third (76 bytes in all). WriteBatch
// needs a net.Addr per packet. So this package calls recvmmsg and sendmmsg
// itself (unix.Syscall6 through syscall.RawConn) with message headers,
// iovecs and control buffers allocated once, and parses IP_PKTINFO from the
// raw bytes: Read and Write allocate nothing in steady state
// (TestReadWriteNoAllocs, BenchmarkWriteRead).
package rawsock
