package engine

import (
	"time"

	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/outer"
	"github.com/ipipd/ipipd/tun"
)

// A tunnel's transmit loop reads TCP super-packets from an offload TUN
// whole (tun.GSOReader), in every mode, and, per super-packet:
//
//  1. outer destination, loop guard and path MTU, as for any packet;
//  2. encap.RefuseGSO: segments too big for the path that may not be
//     fragmented refuse it whole (tnl_update_pmtu's verdict on its
//     first segment), and the loop judges it as one packet: one ICMP
//     frag needed to its sender, one count;
//  3. with TransmitPacketGSO, encap.EncapGSO: one outer header in front of
//     it, when each segment it stands for fits the path (the MTU decision
//     per segment);
//  4. and packetsock.GSOSender.WriteWhole: one frame with a virtio-net header
//     on the packet socket; the tcx program (internal/tcxmark) on the
//     egress device marks it SKB_GSO_IPXIP4, and the kernel or the NIC
//     cuts it into segments (ipip_gso_segment) after ipipd, or carries it
//     whole over veth;
//  5. otherwise (the raw and packet modes, segments to fragment, a
//     destination the packet socket cannot address yet, a device the
//     program could not be put on): encap.SplitGSO cuts it into segments
//     in the batch's spare buffers, and the loop handles each as any
//     packet.

// wholeWriter is what the loop needs of an outer.WholeSender: the loop
// closes its senders elsewhere, and tests' fakes need not.
type wholeWriter interface {
	WriteWhole(pkt []byte, mss int) (bool, error)
}

var _ wholeWriter = outer.WholeSender(nil)

// gsoReader returns the reader of whole super-packets for rt's device, or
// nil for a device without the offload backend (tun: water), which never
// has super-packets. Every mode reads through it: with TransmitPacketGSO a
// super-packet may leave whole, and in the others it is cut into segments
// in the batch's spare buffers (encap.SplitGSO, as the kernel's
// tcp_gso_segment would), as wireguard's Read cut it before; what the
// reader brings is a read of every queued frame at once (tun.GSOReader),
// where wireguard's Read takes one frame a call.
func (e *Engine) gsoReader(rt *runtime) *tun.GSOReader {
	r, err := tun.NewGSOReader(rt.dev)
	if err != nil {
		if e.opts.Transmit == TransmitPacketGSO {
			e.log.Info("--transmit packet-gso: this tunnel's packets are read one segment at a time", "tunnel", rt.name, "err", err)
		}
		return nil
	}
	return r
}

// transmitWhole handles b.bufs[p], a TCP super-packet of b.gso-byte
// segments read whole, the last packet of its batch, toward dst on path.
// It returns 0 when the super-packet was sent whole (or dropped, counted),
// and otherwise the number of segments it was cut into, written after it
// into b.bufs[p+1:] for the loop to handle one by one.
//
// A super-packet sent whole counts as its segments in TxPackets, TxBytes
// and TxPacketSocket (what the wire carries), and once in TxGSO. One
// dropped whole, here (the socket refused it, it could not be cut) or
// before (the loop guard, a tunnel down, segments too big for the path),
// counts once in every drop and error counter, as one packet dropped for
// the same reason: the kernel's tunnel counts a GSO skb it drops once
// (ip_tunnel_xmit's tx_error, iptunnel_xmit_stats). Once cut, each
// segment is a packet of its own.
func (e *Engine) transmitWhole(rt *runtime, ts *tunnelState, b *transmitBuffers, send Sender, p int, dst uint32, path encap.Path) int {
	buf, size, mss := b.bufs[p], b.sizes[p], b.gso
	b.gso = 0
	c := rt.counters
	inner := buf[encap.Headroom : encap.Headroom+size]
	if ws, ok := send.(wholeWriter); ok {
		if r, ok := ts.encap.EncapGSO(buf, size, mss, dst, b.ids, path); ok {
			if tr := e.tracer.Load(); tr != nil {
				tr.transmitted(ts, inner, dst, path.MTU, r, buf)
			}
			if rt.softErrors.count.Load() > 0 && rt.softErrors.spend(time.Now().UnixNano()) {
				e.answerInnerSender(rt, ts, b, inner, 0) // ip_tunnel_xmit's err_count, as for any packet
			}
			e.flush(ts, send, b) // what the batch queued before it goes first
			segments, bytes := encap.Segments(inner, mss)
			sent, err := ws.WriteWhole(r.Packet(buf), mss)
			switch {
			case sent && err == nil:
				c.TxPackets.Add(uint64(segments))
				c.TxBytes.Add(uint64(bytes))
				c.TxPacketSocket.Add(uint64(segments))
				c.TxGSO.Add(1)
				c.TxPeers.count(dst, uint64(segments), uint64(bytes), peerClock())
				return 0
			case sent:
				e.sendFailed(ts, b, dst, err)
				return 0
			}
		}
	}
	k := encap.SplitGSO(inner, mss, b.bufs[p+1:], b.sizes[p+1:], encap.Headroom)
	if k == 0 {
		// More segments than the batch has buffers (a path MTU of a few
		// hundred bytes under a 64 KiB packet), or a malformed header.
		c.TxErrors.Add(1)
		c.TxDrops[encap.BadHeader].Add(1)
		c.TxPeers.drop(dst, 1)
		e.logLimited("dropped a TCP super-packet that could not be cut into segments", "tunnel", rt.name, "bytes", size, "mss", mss)
	}
	return k
}
