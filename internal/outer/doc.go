// Package outer owns every socket of ipipd's outer side, as wireguard-go's
// conn.Bind owns its UDP side: the raw socket that receives IP protocol 4,
// the raw socket the daemon's own ICMP errors leave by, the reader of ICMP
// errors about outer packets, and one transmit socket per tunnel and
// underlay device, with the resolvers of next hops the packet-socket modes
// share and the tcx program packet-gso needs. A Bind opens them, shares and
// counts what is shared, and closes them; the engine only moves packets
// between them and the TUNs, and never asks what kind of socket it holds.
//
// The transmit modes, by what they skip:
//
//   - Raw (the default): a header-included raw socket: the kernel's IP
//     output, routing, netfilter (OUTPUT, POSTROUTING) and xfrm see every
//     outer packet, as they see the kernel tunnel's own (internal/rawsock).
//   - Packet: frames to the next hop's MAC on an AF_PACKET socket, resolved
//     through the kernel's routes and neighbours: less kernel work, but
//     netfilter and xfrm never see them; what it cannot address goes
//     through the raw socket (internal/packetsock).
//   - PacketGSO: Packet, and TCP super-packets handed to the kernel whole
//     with a virtio-net header, marked IPIP GSO by a tcx program, to be
//     segmented after ipipd (internal/packetsock, internal/tcxmark); needs
//     CAP_BPF, else it is Packet.
package outer
