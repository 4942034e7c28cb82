package engine

import (
	"errors"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/plan"
	"github.com/ipipd/ipipd/tun"
)

// The transmit loop of one tunnel, once per batch:
//
//  1. read a batch from the TUN, each packet at encap.Headroom;
//  2. load the current state once, find this tunnel in it;
//  3. per packet: outer destination (the remote, or the route's next hop,
//     or the inner destination itself: ip_tunnel_xmit), then encap;
//  4. by verdict: queue for sending, fragment into the fragment buffers,
//     write ICMP frag-needed back into the TUN, or count the drop;
//  5. send the queue with one batched raw-socket write.

// maxFragments bounds the fragments of one packet: a 65535-byte packet on
// a 576-byte path needs 119.
const maxFragments = 128

// transmitBuffers is everything one transmit loop allocates, once: what the
// tunnel keeps between batches, and the batch buffers it borrows.
type transmitBuffers struct {
	// batchBuffers are borrowed from the engine's pool while the device
	// has packets (transmit), or owned for the loop's life by a device
	// that cannot say when it has (tests' fakes).
	*batchBuffers
	// ids is made with the first batch, from seed: 4 KiB a tunnel (2 048
	// counters, as the kernel's ip_idents), 38 MiB of heap at 10 000
	// tunnels that had sent nothing.
	ids  *encap.IDs
	seed uint64
	// underlay caches the underlay MTU toward each outer destination.
	underlay underlayMTUs
	// limiter rate-limits the ICMP errors written back to inner senders per
	// destination, as the kernel's icmp_send does (icmp_ratelimit).
	limiter *icmpLimiter
	// senders holds one raw socket per underlay dev the tunnel has been
	// bound to, opened on first use, so a reload that changes dev needs no
	// restart of the loop.
	senders map[string]Sender
	// gso is the segment size of the batch's last packet when it is a TCP
	// super-packet read whole, else 0.
	gso int
	// whole reads the device's packets, super-packets whole
	// (tun.GSOReader); nil for tun: water, and the loop then reads the
	// device itself.
	whole *tun.GSOReader
}

// batchBuffers is what handling one batch needs: a buffer of the largest
// IPv4 packet and its headroom per packet of a read (128 of them for an
// offload device, 8 MiB), the fragments' slab and the ICMP answer. Nothing
// in it outlives the batch, so loops can share them.
type batchBuffers struct {
	bufs      [][]byte
	sizes     []int
	queue     [][]byte
	innerLens []int
	fragSlab  []byte
	fragBufs  [][]byte
	fragSizes []int
	icmp      []byte
	icmpBatch [][]byte
}

// newTransmitBuffers is a loop's state with batch buffers of its own.
func newTransmitBuffers(batch int, seed uint64) *transmitBuffers {
	b := newTunnelBuffers(seed)
	b.batchBuffers = newBatchBuffers(batch)
	return b
}

// newTunnelBuffers is a loop's state without batch buffers: a few hundred
// bytes until it sends.
func newTunnelBuffers(seed uint64) *transmitBuffers {
	return &transmitBuffers{
		seed:     seed,
		senders:  map[string]Sender{},
		limiter:  newICMPLimiter(time.Second),
		underlay: underlayMTUs{mtus: map[uint32]int{}},
	}
}

func newBatchBuffers(batch int) *batchBuffers {
	b := &batchBuffers{
		bufs:      make([][]byte, batch),
		sizes:     make([]int, batch),
		queue:     make([][]byte, 0, batch*4),
		innerLens: make([]int, 0, batch*4),
		fragSlab:  make([]byte, 2*header.MaxTotalLength),
		fragBufs:  make([][]byte, maxFragments),
		fragSizes: make([]int, maxFragments),
		icmp:      make([]byte, tun.WriteHeadroom+header.ICMPErrorMaxSize),
		icmpBatch: make([][]byte, 1),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, encap.Headroom+header.MaxTotalLength)
	}
	return b
}

// batchPool lends batch buffers of one batch size to the transmit loops.
// It makes at most its limit of them, and a loop that finds none free
// waits for one: the memory follows the loops that run at once (bounded by
// the cores), not the tunnels, of which most are idle at any moment.
type batchPool struct {
	batch int
	free  chan *batchBuffers
	made  chan struct{} // one token per set made, up to the limit
}

func newBatchPool(batch, limit int) *batchPool {
	return &batchPool{batch: batch, free: make(chan *batchBuffers, limit), made: make(chan struct{}, limit)}
}

// get returns a free set, makes one while under the limit, or waits.
func (p *batchPool) get() *batchBuffers {
	select {
	case b := <-p.free:
		return b
	default:
	}
	select {
	case b := <-p.free:
		return b
	case p.made <- struct{}{}:
		return newBatchBuffers(p.batch)
	}
}

// put returns a set; it never blocks, since no more were made than free
// holds.
func (p *batchPool) put(b *batchBuffers) { p.free <- b }

// batchPoolFor is the engine's pool of batch size n, made on first use.
func (e *Engine) batchPoolFor(n int) *batchPool {
	e.poolsMu.Lock()
	defer e.poolsMu.Unlock()
	if p, ok := e.pools[n]; ok {
		return p
	}
	if e.pools == nil {
		e.pools = map[int]*batchPool{}
	}
	// Two per core: one loop handling a batch while another waits in a
	// send, on every core.
	p := newBatchPool(n, 2*goruntime.GOMAXPROCS(0))
	e.pools[n] = p
	return p
}

// transmit runs the loop until the device is closed. A device that can
// say when it has packets (tun.Waiter) lends the loop's batch buffers back
// to the pool whenever it is idle: the loop keeps them while reads find
// packets waiting, and gives them up before it blocks.
func (e *Engine) transmit(rt *runtime, b *transmitBuffers) {
	defer close(rt.done)
	waiter, lends := rt.dev.(tun.Waiter)
	whole := b.whole
	var pool *batchPool
	switch {
	case lends && b.batchBuffers == nil:
		pool = e.batchPoolFor(rt.dev.BatchSize())
	case b.batchBuffers == nil:
		b.batchBuffers = newBatchBuffers(rt.dev.BatchSize())
	}
	defer func() {
		if pool != nil && b.batchBuffers != nil {
			pool.put(b.batchBuffers)
		}
		for _, s := range b.senders {
			if c, ok := s.(interface{ Close() error }); ok {
				c.Close()
			}
		}
	}()
	var backoff time.Duration
	for {
		if pool != nil {
			if b.batchBuffers != nil && !waiter.Readable() {
				pool.put(b.batchBuffers)
				b.batchBuffers = nil
			}
			if b.batchBuffers == nil {
				if err := waiter.WaitReadable(); err != nil {
					return // closed: WaitReadable fails for nothing else
				}
				b.batchBuffers = pool.get()
			}
		}
		var n int
		var err error
		if whole != nil {
			n, b.gso, err = whole.Read(b.bufs[:e.readRoom(rt, len(b.bufs))], b.sizes, encap.Headroom)
		} else {
			n, err = rt.dev.Read(b.bufs, b.sizes, encap.Headroom)
		}
		if n > 0 {
			e.transmitBatch(rt, b, n)
			backoff = 0
		}
		if err != nil {
			if tun.IsClosed(err) {
				return
			}
			e.logLimited("tun read failed", "tunnel", rt.name, "err", err)
			if n == 0 {
				// A read that keeps failing with the packet still queued
				// (the device's offloads could not be set up: no
				// descriptor or memory left) must not spin on a core.
				backoff = min(max(2*backoff, time.Millisecond), time.Second)
				time.Sleep(backoff)
			}
		}
	}
}

// readRoom is how many of a batch's buffers a read may fill: a TCP
// super-packet read last that cannot leave whole is cut into the buffers
// after it (transmitWhole), as many as its segments, 65 535 bytes of TCP
// over the tunnel MTU's segment size at most (123 at an MTU of 576, 45 at
// 1480); the read leaves that many free.
func (e *Engine) readRoom(rt *runtime, batch int) int {
	st := e.state.Load()
	i, ok := st.index[rt]
	if !ok {
		return 1
	}
	mss := max(st.tunnels[i].tunMTU-40, 1)
	return max(batch-(header.MaxTotalLength/mss+1), 1)
}

// transmitBatch handles the n packets of one read.
func (e *Engine) transmitBatch(rt *runtime, b *transmitBuffers, n int) {
	if b.ids == nil {
		b.ids = encap.NewIDs(b.seed)
	}
	st := e.state.Load()
	i, ok := st.index[rt]
	c := rt.counters
	if !ok { // the tunnel is being removed
		c.TxDropped.Add(uint64(n))
		return
	}
	ts := &st.tunnels[i]
	if ts.down {
		// `ip link set NAME down`: the kernel routes nothing into a down
		// device, and what was read before goes nowhere.
		c.TxDropped.Add(uint64(n))
		return
	}
	send, ok := b.senders[ts.config.Dev]
	if !ok {
		send = e.newSender(rt.name, ts.config.Dev, c)
		b.senders[ts.config.Dev] = send
	}
	b.queue, b.innerLens = b.queue[:0], b.innerLens[:0]
	slab := b.fragSlab
	// What ICMP errors about outer packets taught (ipip_err): the path MTUs
	// learned toward outer destinations, whichever tunnel's error taught
	// them, and this tunnel's soft-error window. The clock is read only
	// when either is in play.
	pmtu := e.netns().pmtu.Load()
	tr := e.tracer.Load()
	var now int64
	if len(*pmtu) > 0 || rt.softErrors.count.Load() > 0 {
		now = time.Now().UnixNano()
	}
	for p := 0; p < n; p++ {
		buf, size := b.bufs[p], b.sizes[p]
		dst := ts.remote
		if dst == 0 && size >= header.MinSize {
			var found bool
			inner := header.IPv4(buf[encap.Headroom:])
			if dst, found = plan.OuterDestination(st.tables.Routes, rt.slot, 0, inner); !found && e.routeGateway != nil {
				// Not in the table yet: the route was added a moment ago
				// and its notification is still on its way (the seed's
				// ping right after ip route add). Ask the kernel which
				// gateway it used, once per destination and state.
				if gw := b.underlay.gateway(st, inner.Dst(), rt.ifindex, e.routeGateway); gw != 0 {
					dst = gw
				}
			}
		}
		if e.outerDevice != nil {
			if loop, ok := st.devices[b.underlay.device(st, ts, dst, e.outerDevice)]; ok {
				// The loop guard of ip_tunnel_xmit (rt->dst.dev == dev): the
				// outer packet would come back into a TUN of ipipd's and be
				// encapsulated again, and again.
				c.Collisions.Add(1)
				c.TxErrors.Add(1)
				c.TxDrops[encap.Loop].Add(1)
				c.TxPeers.drop(dst, 1)
				if tr != nil {
					tr.transmitted(ts, buf[encap.Headroom:encap.Headroom+size], dst, 0, encap.Result{Verdict: encap.Drop, Reason: encap.Loop}, buf)
				}
				e.logLimited("dropped an outer packet whose route leads back into a tunnel device: a routing loop (the route to the outer destination, or a route without a via)",
					"tunnel", rt.name, "outer_dst", header.AddrFrom32(dst), "into", st.tunnels[loop].config.Name,
					"inner_dst", header.IPv4(buf[encap.Headroom:]).DstAddr())
				continue
			}
		}
		path := pathMTU(b.underlay.get(st, ts, dst, e.underlayMTU), pmtu, dst, now)
		var r encap.Result
		if b.gso > 0 && p == n-1 {
			// A TCP super-packet read whole: refused whole when its
			// segments are too big for the path, and then judged below as
			// one packet (one ICMP to its sender, one count); otherwise
			// sent whole, or cut into segments after it, which the loop
			// goes on with.
			var refused bool
			if r, refused = ts.encap.RefuseGSO(buf, size, b.gso, path); !refused {
				n += e.transmitWhole(rt, ts, b, send, p, dst, path)
				continue
			}
			b.gso = 0
		} else {
			r = ts.encap.Encap(buf, size, dst, b.ids, path)
		}
		mtu := path.MTU
		if tr != nil {
			tr.transmitted(ts, buf[encap.Headroom:encap.Headroom+size], dst, mtu, r, buf)
		}
		if now != 0 && r.PastPMTUCheck() && rt.softErrors.spend(now) {
			e.answerInnerSender(rt, ts, b, buf[encap.Headroom:encap.Headroom+size], 0)
		}
		switch r.Verdict {
		case encap.Send:
			b.queue = append(b.queue, r.Packet(buf))
			b.innerLens = append(b.innerLens, len(r.Packet(buf))-encap.Headroom)
		case encap.Fragment:
			if len(slab) < 2*len(r.Packet(buf)) {
				// The slab is spent for this batch: send what is queued first.
				e.flush(ts, send, b)
				slab = b.fragSlab
			}
			for f := range b.fragBufs {
				b.fragBufs[f] = slab[min(f*mtu, len(slab)):min((f+1)*mtu, len(slab))]
			}
			count := encap.FragmentPacket(r.Packet(buf), mtu, b.fragBufs, b.fragSizes)
			if count == 0 {
				c.TxDropped.Add(1)
				c.TxDrops[encap.TooBig].Add(1)
				c.TxPeers.drop(dst, 1)
				continue
			}
			for f := 0; f < count; f++ {
				b.queue = append(b.queue, b.fragBufs[f][:b.fragSizes[f]])
				b.innerLens = append(b.innerLens, 0) // the packet is counted once, with its last fragment
			}
			b.innerLens[len(b.innerLens)-1] = len(r.Packet(buf)) - encap.Headroom
			slab = slab[count*mtu:]
		case encap.FragNeeded:
			c.TxErrors.Add(1)
			c.TxPeers.drop(dst, 1)
			e.answerInnerSender(rt, ts, b, buf[encap.Headroom:encap.Headroom+size], int(r.MTU))
		case encap.Drop:
			c.TxDrops[r.Reason].Add(1)
			c.TxPeers.drop(dst, 1)
			if r.Reason != encap.TooBig {
				c.TxErrors.Add(1)
				continue
			}
			c.TxDropped.Add(1)
			inner := header.IPv4(buf[encap.Headroom : encap.Headroom+size])
			if e.netns().isLocal(inner.Src()) {
				// A packet of this host's own without DF, on a pmtudisc
				// tunnel: tnl_update_pmtu has put the path MTU on the
				// sender's route, and IP output refuses the packet. The
				// kernel's sender then fragments its next datagrams to fit;
				// a TUN can put that MTU on the sender's route only with an
				// ICMP frag needed, which the local stack takes (as it takes
				// ip_fragment's own). A forwarded packet's sender learns
				// nothing, as with the kernel.
				e.answerInnerSender(rt, ts, b, inner, int(r.MTU))
			}
		}
	}
	e.flush(ts, send, b)
}

// flush sends the queue, counting what went out and what the socket
// refused, one packet at a time past each refusal.
func (e *Engine) flush(ts *tunnelState, send Sender, b *transmitBuffers) {
	c := ts.rt.counters
	queue, lens := b.queue, b.innerLens
	for len(queue) > 0 {
		sent, err := send.Write(queue)
		var packets, bytes uint64
		for _, l := range lens[:sent] {
			if l > 0 {
				packets++
				bytes += uint64(l)
			}
		}
		c.TxPackets.Add(packets) // one atomic add per batch, not per packet
		c.TxBytes.Add(bytes)
		c.TxPeers.sent(queue[:sent], lens[:sent])
		if err == nil {
			break
		}
		// pkts[sent] failed: count it and carry on after it.
		e.sendFailed(ts, b, header.IPv4(queue[sent]).Dst(), err)
		queue, lens = queue[sent+1:], lens[sent+1:]
	}
	b.queue, b.innerLens = b.queue[:0], b.innerLens[:0]
}

// sendFailed counts one outer packet to dst that the socket refused with
// err: a packet of the queue, or a TCP super-packet sent whole, which
// counts once as the kernel counts a GSO skb that ip_local_out refused
// (iptunnel_xmit_stats), so that the same refusal has the same counters
// whichever way the packet went.
func (e *Engine) sendFailed(ts *tunnelState, b *transmitBuffers, dst uint32, err error) {
	c := ts.rt.counters
	switch {
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH),
		// the packet socket's device is down or gone
		errors.Is(err, syscall.ENETDOWN) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV):
		c.TxCarrierErrors.Add(1)
		c.TxErrors.Add(1)
	case errors.Is(err, syscall.EMSGSIZE):
		// The path toward this destination is narrower than the cache
		// said (a route or device MTU changed): look it up again, so
		// the next DF packet gets ICMP frag needed instead.
		b.underlay.forget(dst)
		c.TxDropped.Add(1)
		c.TxDrops[encap.TooBig].Add(1)
	default:
		c.TxDropped.Add(1)
	}
	c.TxPeers.drop(dst, 1)
	e.logLimited("sending an outer packet failed", "tunnel", ts.rt.name, "err", err)
}
