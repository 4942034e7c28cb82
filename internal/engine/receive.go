package engine

import (
	"errors"
	"net"
	"time"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/rawsock"
	"github.com/ipipd/ipipd/lookup"
	"github.com/ipipd/ipipd/tun"
)

// The receive loop, once per batch:
//
//  1. read a batch of protocol-4 packets, outer header included, with the
//     ingress link of each (tunnel4_rcv's input);
//  2. load the current state once;
//  3. per packet: decap (validate, tunnel lookup, ECN) and count;
//  4. delivered inner packets are written into their tunnel's TUN in runs
//     of one tunnel each; unmatched ones earn an ICMP port unreachable
//     toward the outer source, rate-limited as the kernel does, unless
//     they were sent to a broadcast address.

// Receiver reads batches of outer packets; rawsock.Receiver is the real one.
type Receiver interface {
	Read(b *rawsock.Batch) (int, error)
}

// deliverOffset is the headroom in front of each inner packet written into
// a TUN: the outer header's minimum size, which is always there to reuse,
// and more than tun.WriteHeadroom.
const deliverOffset = header.MinSize

var _ [deliverOffset - tun.WriteHeadroom]struct{} // compile-time: deliverOffset >= tun.WriteHeadroom

// maxCoalescedSegments bounds the segments one coalesced packet is cut
// into: a 64 KiB packet for a 576-byte MTU makes 123.
const maxCoalescedSegments = 256

// coalescedSlabSize holds the segments of at least one coalesced packet of
// any size: its payload, and headroom and headers for every segment.
const coalescedSlabSize = 2 * header.MaxTotalLength

// receiveBuffers is everything the receive loop allocates, once.
type receiveBuffers struct {
	batch   *rawsock.Batch
	deliver [][]byte
	tunnels []int
	sources []uint32 // the outer source of each deliver, for the per-peer counters
	// segSlab and segs receive the segments of coalesced packets
	// (deliverCoalesced); segUsed is how much of segSlab this batch took.
	segSlab   []byte
	segs      [][]byte
	segUsed   int
	icmp      []byte
	icmpBatch [][]byte
	limiter   *icmpLimiter
	icmpID    uint16
	// peers are the peer filters of the state last seen (peer_filter.go).
	peers peerFilters
	// ingress caches the ingress devices' MTUs (ingress_mtu.go).
	ingress ingressMTUs
}

func newReceiveBuffers(batch int, rateLimit time.Duration) *receiveBuffers {
	return &receiveBuffers{
		batch:     rawsock.NewBatch(batch, rawsock.MaxPacketSize),
		deliver:   make([][]byte, 0, batch+maxCoalescedSegments),
		tunnels:   make([]int, 0, batch+maxCoalescedSegments),
		sources:   make([]uint32, 0, batch+maxCoalescedSegments),
		segSlab:   make([]byte, coalescedSlabSize),
		segs:      make([][]byte, maxCoalescedSegments),
		icmp:      make([]byte, header.ICMPErrorMaxSize),
		icmpBatch: make([][]byte, 1),
		limiter:   newICMPLimiter(rateLimit),
	}
}

// receive runs the loop until the socket is closed.
func (e *Engine) receive(recv Receiver, icmp Sender, b *receiveBuffers) {
	// Read the namespace's ICMP limits as the Engine starts; the broadcast
	// addresses icmp_send never answers come with the kernel's View.
	e.netns()
	for {
		n, err := recv.Read(b.batch)
		if n > 0 {
			e.receiveBatch(icmp, b, n)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.global.ReceiveErrors.Add(1)
			e.logLimited("raw receive failed", "err", err)
		}
	}
}

// receiveBatch handles the n packets of one read.
func (e *Engine) receiveBatch(icmp Sender, b *receiveBuffers, n int) {
	st := e.state.Load()
	tr := e.tracer.Load()
	b.deliver, b.tunnels, b.sources, b.segUsed = b.deliver[:0], b.tunnels[:0], b.sources[:0], 0
	var now time.Time
	for p := 0; p < n; p++ {
		pkt := b.batch.Bufs[p][:b.batch.Sizes[p]]
		r := decap.Decap(pkt, len(pkt), b.batch.Links[p], st.tables.Tunnels)
		if r.Tunnel != lookup.None && b.peers.refuses(st, &r, pkt) {
			// accept_from, after selection, where ipip_rcv runs xfrm4_policy_check
			r = decap.Result{Verdict: decap.Drop, Reason: decap.PeerFiltered, Tunnel: r.Tunnel}
		}
		if tr != nil {
			tr.received(st, pkt, b.batch.Links[p], r)
		}
		if r.Tunnel == lookup.None {
			e.global.Drops[r.Reason].Add(1)
			if r.Verdict == decap.NoTunnel {
				if now.IsZero() {
					now = time.Now()
				}
				e.answerPortUnreachable(icmp, b, pkt, now)
			}
			continue
		}
		c := st.tunnels[r.Tunnel].rt.counters
		if r.Multicast {
			c.Multicast.Add(1)
		}
		switch r.Verdict {
		case decap.Deliver:
			// Hand the TUN the inner packet with the 20 bytes in front of
			// it (the end of the outer header, whatever its IHL): a TUN
			// with offloads writes its virtio-net header there.
			start := header.IPv4(pkt).HeaderLength()
			if decap.CouldBeCoalesced(r.Inner) && decap.MergeConfirmed(r.Inner, b.ingress.maxPlain(b.batch.Links[p], e.linkMTU)) {
				e.deliverCoalesced(st, b, r.Tunnel, header.IPv4(pkt).Src(), pkt[start-deliverOffset:start+len(r.Inner)])
				break
			}
			b.deliver = append(b.deliver, pkt[start-deliverOffset:start+len(r.Inner)])
			b.tunnels = append(b.tunnels, r.Tunnel)
			b.sources = append(b.sources, header.IPv4(pkt).Src())
		case decap.Drop:
			c.RxDrops[r.Reason].Add(1)
			c.RxPeers.drop(header.IPv4(pkt).Src(), 1)
			switch r.Reason {
			case decap.BadInner:
				// ip_tunnel_rcv has counted it (its 20-byte pull cannot
				// fail here: tunnel4_rcv's did, as short_inner); IP input
				// on the tunnel device then drops it, with no tunnel
				// counter. ipipd drops it before the TUN, which would
				// take anything.
				c.RxPackets.Add(1)
				c.RxBytes.Add(uint64(len(header.IPv4(pkt).Payload())))
			case decap.ECNDrop:
				c.RxErrors.Add(1)
				c.RxFrameErrors.Add(1)
			}
		}
		if r.ECN == decap.ECNLogged || r.ECN == decap.ECNDropped {
			outer := header.IPv4(pkt)
			e.logLimited("non-ECT packet under an ECN-marked outer header", "from", outer.SrcAddr(), "tos", outer.TOS(), "tunnel", st.tunnels[r.Tunnel].config.Name)
		}
	}
	e.deliver(st, b)
}

// deliverCoalesced delivers inner (at deliverOffset in buf), a packet the
// underlay's GRO merged (decap.Coalesced), as segments for tunnel t's MTU:
// whole, as a GSO write, to a TUN that takes one (the offload backend), or
// cut into segments queued like any packet. What is queued before it is
// written first, so order is kept. It counts one RxCoalesced and, like any
// delivery, each segment in RxPackets (and against src, its outer source).
func (e *Engine) deliverCoalesced(st *state, b *receiveBuffers, t int, src uint32, buf []byte) {
	ts := &st.tunnels[t]
	c := ts.rt.counters
	inner := buf[deliverOffset:]
	mss := decap.SegmentSize(inner, ts.tunMTU)
	count, need := decap.SplitSpace(inner, mss, deliverOffset)
	if count == 0 || count > len(b.segs) || need > len(b.segSlab) {
		c.RxDrops[decap.BadCoalesced].Add(1)
		c.RxDropped.Add(1)
		c.RxPeers.drop(src, 1)
		return
	}
	c.RxCoalesced.Add(1)
	if w, ok := ts.rt.dev.(tun.GSOWriter); ok {
		e.flushDeliveries(st, b)
		if err := w.WriteTCPv4GSO(buf, deliverOffset, mss); err != nil {
			c.RxDropped.Add(uint64(count))
			c.RxPeers.drop(src, uint64(count))
			e.logLimited("tun write failed", "tunnel", ts.rt.name, "err", err)
			return
		}
		c.RxPackets.Add(uint64(count))
		c.RxBytes.Add(uint64(need - count*deliverOffset)) // the segments' bytes: need less their headroom
		c.RxPeers.count(src, uint64(count), uint64(need-count*deliverOffset), peerClock())

		return
	}
	if need > len(b.segSlab)-b.segUsed || len(b.deliver)+count > cap(b.deliver) {
		e.flushDeliveries(st, b)
	}
	n := decap.SplitCoalesced(inner, mss, b.segSlab[b.segUsed:], deliverOffset, b.segs)
	b.segUsed += need
	for _, seg := range b.segs[:n] {
		b.deliver = append(b.deliver, seg)
		b.tunnels = append(b.tunnels, t)
		b.sources = append(b.sources, src)
	}
}

// flushDeliveries writes what is queued and empties the queue and the
// segment slab, so that what comes next keeps its order and finds room.
func (e *Engine) flushDeliveries(st *state, b *receiveBuffers) {
	e.deliver(st, b)
	b.deliver, b.tunnels, b.sources, b.segUsed = b.deliver[:0], b.tunnels[:0], b.sources[:0], 0
}

// deliver writes the delivered packets into their TUNs, one Write per run
// of packets for the same tunnel.
func (e *Engine) deliver(st *state, b *receiveBuffers) {
	for start := 0; start < len(b.deliver); {
		t := b.tunnels[start]
		end := start + 1
		for end < len(b.deliver) && b.tunnels[end] == t {
			end++
		}
		rt := st.tunnels[t].rt
		run := b.deliver[start:end]
		written, err := rt.dev.Write(run, deliverOffset)
		var bytes uint64
		for _, buf := range run[:written] {
			bytes += uint64(len(buf) - deliverOffset)
		}
		rt.counters.RxPackets.Add(uint64(written))
		rt.counters.RxBytes.Add(bytes)
		rt.counters.RxPeers.delivered(b.sources[start:end], run, written)
		if written < len(run) {
			rt.counters.RxDropped.Add(uint64(len(run) - written))
			if err != nil {
				e.logLimited("tun write failed", "tunnel", rt.name, "err", err)
			}
		}
		start = end
	}
}

// answerPortUnreachable is tunnel4_rcv's icmp_send(ICMP_DEST_UNREACH,
// ICMP_PORT_UNREACH) for a packet no tunnel took, limited as __icmp_send
// limits it: the host-wide bucket first (checked, not spent), then the
// destination's, then one message's credits from the host-wide bucket. A
// flood from spoofed sources, each new to the per-destination limit, is
// then answered no faster than icmp_msgs_per_sec.
func (e *Engine) answerPortUnreachable(icmp Sender, b *receiveBuffers, pkt []byte, now time.Time) {
	outer := header.IPv4(pkt)
	ns := e.netns()
	if ns.isBroadcast(outer.Dst()) {
		return // icmp_send: no answer to RTCF_BROADCAST, before any limit
	}
	global := &ns.icmp
	if !global.allow(now.UnixNano()) || !b.limiter.allow(outer.Src(), now) {
		e.global.RateLimited.Add(1)
		return
	}
	global.consume()
	b.icmpID++
	n := decap.BuildPortUnreachable(b.icmp, pkt, b.icmpID)
	if n == 0 {
		return
	}
	b.icmpBatch[0] = b.icmp[:n]
	if _, err := icmp.Write(b.icmpBatch); err != nil {
		e.logLimited("sending ICMP port unreachable failed", "to", outer.SrcAddr(), "err", err)
		return
	}
	e.global.PortUnreachables.Add(1)
}
