package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

// A trace reports each packet's path through the datapath for `ipipd
// trace`: one TraceRecord per packet, with the packet's bytes, named after
// the kernel's steps.
//
// The loops check for a tracer once per batch with one atomic load; with
// no trace running that load is the whole cost. While one runs, the loops
// copy each packet and its verdict into an event (time, bytes, indexes:
// no formatting) and go on; the Trace goroutine formats the events, names
// interfaces and sends them. A slow reader loses events (counted), never
// slows the datapath.
type tracer struct {
	events  chan traceEvent
	dropped atomic.Uint64
	// queued is the bytes of packets held by events not yet formatted:
	// GRO-merged packets are up to 64 KiB each, so the event count alone
	// does not bound the memory a stalled reader holds.
	queued atomic.Int64
}

// traceBuffer is how many events may wait for a slow reader, and
// traceBytes how many bytes of packets they may hold together.
const (
	traceBuffer = 4096
	traceBytes  = 32 << 20
)

// traceEvent is what a loop hands the tracer for one packet: copies and
// indexes, turned into a TraceRecord off the datapath.
type traceEvent struct {
	at       time.Time
	transmit bool
	// packet is a copy of the outer packet (received, or built for Send
	// and Fragment), or of the inner packet alone (transmit without an
	// outer header); the inner packet is packet[innerAt:innerAt+innerLen],
	// innerLen 0 when there is none.
	packet            []byte
	outer             bool
	innerAt, innerLen int
	// link is the ingress ifindex of a received packet.
	link int
	// tunnel is the selected (receive) or sending (transmit) tunnel's
	// name, "" when none was selected; dev its underlay dev, if bound.
	tunnel, dev string
	rx          decap.Result // Inner is cleared: the copy is in packet
	tx          encap.Result
	dst         uint32 // transmit: the outer destination chosen
	mtu         int    // transmit: the path MTU
}

// ErrTraceBusy is returned when another trace is already running.
var ErrTraceBusy = errors.New("another ipipd trace is already running on this daemon; stop it first")

// Trace streams one JSON TraceRecord per line to emit until ctx ends or
// emit fails. One trace runs at a time.
func (e *Engine) Trace(ctx context.Context, emit func(line string) error) error {
	tr := &tracer{events: make(chan traceEvent, traceBuffer)}
	if !e.tracer.CompareAndSwap(nil, tr) {
		return ErrTraceBusy
	}
	defer e.tracer.Store(nil)
	names := &linkNames{names: map[int]string{}}
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-tr.events:
			tr.queued.Add(-int64(len(ev.packet)))
			if d := tr.dropped.Load(); d != reported {
				line := fmt.Sprintf("trace: %d packets not traced: the reader is slower than the traffic", d-reported)
				if err := emitRecord(emit, TraceRecord{Time: time.Now(), Line: line, Dropped: d - reported}); err != nil {
					return err
				}
				reported = d
			}
			if err := emitRecord(emit, ev.record(names)); err != nil {
				return err
			}
		}
	}
}

// emitRecord sends rec as one JSON line.
func emitRecord(emit func(line string) error, rec TraceRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return emit(string(b))
}

// push queues ev with a copy of pkt, or counts it lost when the reader is
// behind; it runs on the datapath, and only while a trace runs.
func (tr *tracer) push(ev traceEvent, pkt []byte) {
	if tr.queued.Add(int64(len(pkt))) > traceBytes {
		tr.queued.Add(-int64(len(pkt)))
		tr.dropped.Add(1)
		return
	}
	ev.packet = append([]byte(nil), pkt...)
	select {
	case tr.events <- ev:
	default:
		tr.queued.Add(-int64(len(pkt)))
		tr.dropped.Add(1)
	}
}

// received records one outer packet after decap. Decap may have rewritten
// the inner ECN field in place (the record says so); the outer header is
// as it arrived.
func (tr *tracer) received(st *state, pkt []byte, link int, r decap.Result) {
	ev := traceEvent{at: time.Now(), outer: true, link: link, rx: r}
	ev.rx.Inner = nil
	if r.Tunnel != lookup.None {
		ev.tunnel = st.tunnels[r.Tunnel].config.Name
	}
	if r.Inner != nil {
		ev.innerAt, ev.innerLen = header.IPv4(pkt).HeaderLength(), len(r.Inner)
	}
	tr.push(ev, pkt)
}

// transmitted records one inner packet read from ts's TUN and what encap
// made of it: buf holds the outer packet for Send and Fragment.
func (tr *tracer) transmitted(ts *tunnelState, inner []byte, dst uint32, mtu int, r encap.Result, buf []byte) {
	ev := traceEvent{at: time.Now(), transmit: true, tunnel: ts.config.Name, dev: ts.config.Dev, tx: r, dst: dst, mtu: mtu}
	pkt := inner
	ev.innerLen = len(inner)
	if r.Verdict == encap.Send || r.Verdict == encap.Fragment {
		pkt = r.Packet(buf)
		ev.outer, ev.innerAt, ev.innerLen = true, encap.Headroom, len(pkt)-encap.Headroom
	}
	tr.push(ev, pkt)
}

// linkNames names ingress interfaces by ifindex for one trace, off the
// datapath. A name is looked up once per trace: a trace is short, and a
// link renamed meanwhile keeps its old name in it.
type linkNames struct{ names map[int]string }

func (l *linkNames) name(index int) string {
	if n, ok := l.names[index]; ok {
		return n
	}
	n := fmt.Sprintf("link %d", index)
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		n = ifi.Name
	}
	l.names[index] = n
	return n
}

// TraceRecord is one packet's path through the datapath, one JSON line on
// the control socket: what `ipipd trace` prints, and what `trace --pcap`
// writes with the packet's bytes.
type TraceRecord struct {
	Time time.Time `json:"time"`
	// Direction is "rx" (an outer packet received) or "tx" (an inner
	// packet read from a TUN); "" for a record that only reports Dropped.
	Direction string `json:"dir,omitempty"`
	// Link is the ingress ifindex of a received packet, Device its name;
	// for a transmitted packet Device is the tunnel's underlay dev, if bound.
	Link   int    `json:"link,omitempty"`
	Device string `json:"dev,omitempty"`
	// Tunnel is the selected (rx) or sending (tx) tunnel, "" when none.
	Tunnel string `json:"tunnel,omitempty"`
	// Verdict is decap's or encap's verdict (deliver, no_tunnel, drop;
	// send, fragment, frag_needed, drop), Reason the drop reason.
	Verdict string `json:"verdict,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Step is the kernel function whose rule decided the verdict.
	Step string `json:"step,omitempty"`
	// Line is the record as one line of text, without the time.
	Line string `json:"line"`
	// Note says how the bytes differ from the wire, when they do.
	Note string `json:"note,omitempty"`
	// Packet holds the outer packet when Outer, else the inner packet
	// alone; the inner packet is Packet[InnerOffset:InnerOffset+InnerLength],
	// absent when InnerLength is 0.
	Packet      []byte `json:"packet,omitempty"`
	Outer       bool   `json:"outer,omitempty"`
	InnerOffset int    `json:"inner_offset,omitempty"`
	InnerLength int    `json:"inner_length,omitempty"`
	// Dropped counts the packets not traced before this record because
	// the reader was slower than the traffic.
	Dropped uint64 `json:"dropped,omitempty"`
}

// OuterPacket returns the outer packet, nil if there is none.
func (r *TraceRecord) OuterPacket() []byte {
	if !r.Outer {
		return nil
	}
	return r.Packet
}

// InnerPacket returns the inner packet, nil if there is none (or the
// record's offsets do not fit its packet).
func (r *TraceRecord) InnerPacket() []byte {
	if r.InnerLength == 0 || r.InnerOffset < 0 || r.InnerOffset+r.InnerLength > len(r.Packet) {
		return nil
	}
	return r.Packet[r.InnerOffset : r.InnerOffset+r.InnerLength]
}

// OuterSource describes an outer source address as ipipd writes it: a
// tunnel without local leaves 0.0.0.0, and as the packet leaves the host's
// route toward the destination supplies its preferred source (the kernel's
// raw_send_hdrinc for the raw socket, packetsock for --transmit packet),
// as ip_tunnel_xmit's route lookup does for the kernel's tunnel. explain
// and trace both print it this way.
func OuterSource(src netip.Addr) string {
	if src.IsUnspecified() {
		return "0.0.0.0 (the route's source is filled in as it leaves)"
	}
	return src.String()
}

// fragmentFields is tcpdump's view of an IPv4 header's flags and offset.
func fragmentFields(ip header.IPv4) string {
	w := ip.FlagsFragmentOffset()
	var flags string
	if w&header.FlagMF != 0 {
		flags += "+"
	}
	if w&header.FlagDF != 0 {
		flags += "DF"
	}
	if flags == "" {
		flags = "none"
	}
	return fmt.Sprintf("flags [%s] offset %d", flags, int(w&0x1fff)*8)
}

// receiveStep names the kernel function whose rule gave each receive
// verdict and reason.
func receiveStep(r decap.Result) string {
	switch {
	case r.Verdict == decap.Deliver:
		return "ip_tunnel_rcv → gro_cells_receive"
	case r.Verdict == decap.NoTunnel:
		return "ip_tunnel_lookup (none) → tunnel4_rcv icmp_send"
	}
	switch r.Reason {
	case decap.BadOuter:
		return "ip_rcv"
	case decap.NotIPIP:
		return "ip_local_deliver"
	case decap.ShortInner:
		return "tunnel4_rcv (pskb_may_pull)"
	case decap.ModeMismatch:
		return "ipip_tunnel_rcv"
	case decap.BadInner:
		return "ip_tunnel_rcv (pskb_inet_may_pull)"
	case decap.ECNDrop:
		return "IP_ECN_decapsulate"
	}
	return "ip_tunnel_rcv"
}

// transmitStep names the kernel function whose rule gave each transmit
// verdict and reason.
func transmitStep(r encap.Result) string {
	switch r.Verdict {
	case encap.Send:
		return "iptunnel_xmit"
	case encap.Fragment:
		return "iptunnel_xmit → ip_fragment"
	case encap.FragNeeded:
		return "tnl_update_pmtu"
	}
	switch r.Reason {
	case encap.NotIPv4, encap.BadHeader:
		return "ipip_tunnel_xmit"
	case encap.TooBig:
		return "ip_fragment (DF set: EMSGSIZE)"
	case encap.NoRoute:
		return "ip_route_output_key"
	case encap.Loop:
		return "ip_tunnel_xmit (rt->dst.dev == dev: collisions)"
	}
	return "ip_tunnel_xmit"
}

// record formats ev; it runs in the Trace goroutine.
func (ev *traceEvent) record(names *linkNames) TraceRecord {
	rec := TraceRecord{Time: ev.at, Tunnel: ev.tunnel, Packet: ev.packet, Outer: ev.outer, InnerOffset: ev.innerAt, InnerLength: ev.innerLen}
	if ev.transmit {
		rec.Direction, rec.Device = "tx", ev.dev
		rec.Verdict, rec.Step = ev.tx.Verdict.String(), transmitStep(ev.tx)
		if ev.tx.Verdict == encap.Drop {
			rec.Reason = ev.tx.Reason.String()
		}
		rec.Line = ev.transmitLine(&rec)
		return rec
	}
	rec.Direction, rec.Link, rec.Device = "rx", ev.link, names.name(ev.link)
	rec.Verdict, rec.Step = ev.rx.Verdict.String(), receiveStep(ev.rx)
	if ev.rx.Verdict == decap.Drop {
		rec.Reason = ev.rx.Reason.String()
	}
	switch ev.rx.ECN {
	case decap.ECNSetCE:
		rec.Note = "the inner header is shown after ECN decapsulation set CE; on the wire it was ECT(0) or ECT(1)"
	case decap.ECNSetECT1:
		rec.Note = "the inner header is shown after ECN decapsulation set ECT(1); on the wire it was ECT(0)"
	}
	rec.Line = ev.receiveLine(&rec)
	return rec
}

func (ev *traceEvent) receiveLine(rec *TraceRecord) string {
	var b strings.Builder
	pkt := ev.packet
	outer := header.IPv4(pkt)
	if !outer.IsValid(len(pkt)) {
		fmt.Fprintf(&b, "rx %s: %d bytes: ip_rcv: %s", rec.Device, len(pkt), outer.Check(len(pkt)))
	} else {
		fmt.Fprintf(&b, "rx %s: %s > %s tos %#x ttl %d id %d %s len %d", rec.Device, outer.SrcAddr(), outer.DstAddr(), outer.TOS(), outer.TTL(), outer.ID(), fragmentFields(outer), len(pkt))
	}
	r := ev.rx
	if r.Tunnel != lookup.None {
		fmt.Fprintf(&b, " | ip_tunnel_lookup: %s", ev.tunnel)
		fmt.Fprintf(&b, " | ECN decapsulate: %s", r.ECN)
	}
	switch r.Verdict {
	case decap.Deliver:
		inner := header.IPv4(rec.InnerPacket())
		fmt.Fprintf(&b, " | deliver %s > %s proto %d %s len %d", inner.SrcAddr(), inner.DstAddr(), inner.Protocol(), fragmentFields(inner), len(inner))
	case decap.NoTunnel:
		b.WriteString(" | ip_tunnel_lookup: no tunnel | tunnel4_rcv: ICMP port unreachable (rate-limited)")
	default:
		fmt.Fprintf(&b, " | drop: %s (%s)", r.Reason, rec.Step)
	}
	return b.String()
}

func (ev *traceEvent) transmitLine(rec *TraceRecord) string {
	var b strings.Builder
	inner := header.IPv4(rec.InnerPacket())
	fmt.Fprintf(&b, "tx %s: ", ev.tunnel)
	if inner.IsValid(len(inner)) {
		fmt.Fprintf(&b, "%s > %s tos %#x ttl %d %s len %d | next hop %s | path MTU %d",
			inner.SrcAddr(), inner.DstAddr(), inner.TOS(), inner.TTL(), fragmentFields(inner), len(inner), header.AddrFrom32(ev.dst), ev.mtu)
	} else {
		fmt.Fprintf(&b, "%d bytes", len(inner))
	}
	r := ev.tx
	switch r.Verdict {
	case encap.Send, encap.Fragment:
		out := header.IPv4(rec.OuterPacket())
		fmt.Fprintf(&b, " | iptunnel_xmit: %s > %s tos %#x ttl %d %s id %d len %d", OuterSource(out.SrcAddr()), out.DstAddr(), out.TOS(), out.TTL(), fragmentFields(out), out.ID(), len(out))
		if r.Verdict == encap.Fragment {
			b.WriteString(" | fragmented (no pmtudisc, too big for the path)")
		}
	case encap.FragNeeded:
		fmt.Fprintf(&b, " | tnl_update_pmtu: ICMP frag needed mtu %d to %s", r.MTU, inner.SrcAddr())
	default:
		fmt.Fprintf(&b, " | drop: %s (%s)", r.Reason, rec.Step)
	}
	return b.String()
}
