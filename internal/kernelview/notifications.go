package kernelview

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"

	"github.com/ipipd/ipipd/internal/nldump"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ipipd's one netlink socket for the kernel's notifications. One socket,
// subscribed to links, IPv4 addresses and IPv4 routes together, receives
// them in the order the kernel made the changes: a route added after an
// `ip link set up` comes after the up, which three sockets, one per kind,
// do not promise. And the reply to a request sent on it comes behind every
// notification queued before it, which makes the follower's barrier:
//
//  1. Fresh's caller asks; the follower sends RTM_GETLINK for loopback,
//     with a sequence number of its own, on this socket (barrier);
//  2. the kernel queues its reply on the socket's receive queue, behind
//     every notification already there (netlink_unicast appends, as
//     netlink_broadcast does for notifications);
//  3. the reader hands the follower, in order, each notification and then
//     the reply (a notice of kind barrierReply);
//  4. by then the follower has applied every change the kernel made before
//     step 1, and answers Fresh.
//
// If the socket overflows (ENOBUFS), notifications and replies are lost
// alike; the follower opens a new socket and reads the tables, which is at
// least as new as any barrier.

// noticeKind says which field of a notice is set.
type noticeKind uint8

const (
	routeNotice   noticeKind = iota + 1 // RTM_NEWROUTE, RTM_DELROUTE
	linkNotice                          // RTM_NEWLINK, RTM_DELLINK
	addressNotice                       // RTM_NEWADDR, RTM_DELADDR
	barrierReply                        // the kernel's reply to barrier(seq)
	socketLost                          // the socket failed: the last notice
)

// notice is one thing the socket said, handed to the follower in the order
// the kernel queued it.
type notice struct {
	kind    noticeKind
	route   *netlink.RouteUpdate
	link    *netlink.LinkUpdate
	address *netlink.AddrUpdate
	seq     uint32 // barrierReply: the barrier's sequence number
	err     error  // socketLost: why
}

// notifications is the socket and the goroutine that reads it.
type notifications struct {
	socket *nl.NetlinkSocket
	// port is the socket's netlink port id. The kernel sends a reply to a
	// request from this socket with it; a notification carries the port of
	// the socket that made the change, never this one's, since nothing is
	// changed through this socket.
	port    uint32
	notices chan notice // read by the follower alone
	// sent holds the sequence numbers of the barriers not yet answered:
	// stored by the follower, taken by the reader.
	sent    sync.Map
	closing chan struct{}
	once    sync.Once
	done    chan struct{} // closed when the reader has returned
}

// openNotifications subscribes to the kernel's link, IPv4 address and IPv4
// route notifications in network namespace ns, and starts reading them.
func openNotifications(ns netns.NsHandle) (*notifications, error) {
	// The socket must open in the watched namespace. Naming it makes
	// SubscribeAt setns, which needs CAP_SYS_ADMIN, a capability ipipd
	// runs without: so only when this thread is elsewhere (a test's
	// namespace, entered by another thread), never in the daemon.
	at := netns.None()
	if here, err := netns.Get(); err == nil {
		if !here.Equal(ns) {
			at = ns
		}
		here.Close()
	}
	socket, err := nl.SubscribeAt(at, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV4_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open a netlink socket for the kernel's link, address and route notifications: %w", err)
	}
	if err := socket.SetReceiveBufferSize(receiveBuffer, true); err != nil {
		socket.Close()
		return nil, fmt.Errorf("set the notification socket's receive buffer to %d bytes (SO_RCVBUFFORCE, needs CAP_NET_ADMIN): %w", receiveBuffer, err)
	}
	port, err := socket.GetPid()
	if err != nil {
		socket.Close()
		return nil, fmt.Errorf("find the notification socket's netlink port id: %w", err)
	}
	n := &notifications{socket: socket, port: port, notices: make(chan notice, 4096), closing: make(chan struct{}), done: make(chan struct{})}
	go n.read()
	return n, nil
}

// barrier asks the kernel for loopback's link (ifindex 1, in every
// namespace) with sequence number seq; its reply, or an error in its place,
// comes back as a barrierReply notice behind everything queued before.
//
// Equivalent to: `ip link show dev lo`, on the notification socket.
func (n *notifications) barrier(seq uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	req.Seq = seq
	n.sent.Store(seq, struct{}{})
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = 1
	req.AddData(msg)
	// Not socket.Send: it addresses the socket's own groups, and the
	// kernel relays a message sent to a group to every other listener of
	// it (`ip monitor` prints "Unknown message: type=0x00000012"). The
	// request is for the kernel alone: port 0, no group. The kernel takes
	// it within the call, so the non-blocking socket never says EAGAIN.
	if err := unix.Sendto(n.socket.GetFd(), req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send a barrier request (RTM_GETLINK) on the notification socket: %w", err)
	}
	return nil
}

// read hands the follower every notice, in the order the socket holds
// them, until the socket fails or is closed.
func (n *notifications) read() {
	defer close(n.done)
	for {
		msgs, from, err := n.socket.Receive()
		if err != nil {
			n.hand(notice{kind: socketLost, err: fmt.Errorf("read the kernel's notifications: %w", err)})
			return
		}
		if from.Pid != nl.PidKernel {
			continue // only the kernel speaks for the kernel; a privileged process may write to any port
		}
		for i := range msgs {
			nt, ok, err := n.decode(&msgs[i])
			if err != nil {
				// A notification that cannot be read is one lost: start
				// over from the tables, as after an overflow.
				n.hand(notice{kind: socketLost, err: err})
				return
			}
			if ok && !n.hand(nt) {
				return
			}
		}
	}
}

// decode turns one message into a notice; ok is false for a message the
// follower has no use for.
func (n *notifications) decode(m *syscall.NetlinkMessage) (nt notice, ok bool, err error) {
	if n.isBarrierReply(m) {
		return notice{kind: barrierReply, seq: m.Header.Seq}, true, nil
	}
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		u, err := nldump.DecodeRoute(m)
		return notice{kind: routeNotice, route: &u}, err == nil, err
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		u, err := nldump.DecodeLink(m)
		return notice{kind: linkNotice, link: &u}, err == nil, err
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		u, err := nldump.DecodeAddress(m)
		return notice{kind: addressNotice, address: &u}, err == nil, err
	}
	return notice{}, false, nil
}

// isBarrierReply reports whether m answers a barrier this socket sent: to
// its port, with a barrier's sequence number, and loopback's link or an
// error in its place. The port alone is not enough: ports are unique within
// a network namespace, and a change made from another one (a device moved
// in) carries its maker's port, which may equal this one.
func (n *notifications) isBarrierReply(m *syscall.NetlinkMessage) bool {
	if m.Header.Pid != n.port {
		return false
	}
	switch {
	case m.Header.Type == unix.NLMSG_ERROR:
	case m.Header.Type == unix.RTM_NEWLINK && len(m.Data) >= unix.SizeofIfInfomsg &&
		binary.NativeEndian.Uint32(m.Data[4:8]) == 1:
	default:
		return false
	}
	_, sent := n.sent.LoadAndDelete(m.Header.Seq)
	return sent
}

// hand gives the follower one notice, and reports false once the socket
// is being closed.
func (n *notifications) hand(nt notice) bool {
	select {
	case n.notices <- nt:
		return true
	case <-n.closing:
		return false
	}
}

// close closes the socket and waits for the reader. It may be called more
// than once.
func (n *notifications) close() {
	n.once.Do(func() {
		close(n.closing)
		n.socket.Close()
	})
	<-n.done
}
