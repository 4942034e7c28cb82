package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

// A trace reports each packet's path through the datapath as one line,
// named after the kernel's steps, for `ipipd trace`. The loops check for a
// tracer once per batch with one atomic load; formatting (and its
// allocations) happens only while a trace runs, and a slow reader loses
// lines (counted) rather than slowing the datapath.
type tracer struct {
	lines   chan string
	dropped atomic.Uint64
}

// traceBuffer is how many lines may wait for a slow reader.
const traceBuffer = 4096

// ErrTraceBusy is returned when another trace is already running.
var ErrTraceBusy = errors.New("another ipipd trace is already running on this daemon; stop it first")

// Trace streams one line per packet to emit until ctx ends or emit fails.
// One trace runs at a time.
func (e *Engine) Trace(ctx context.Context, emit func(line string) error) error {
	tr := &tracer{lines: make(chan string, traceBuffer)}
	if !e.tracer.CompareAndSwap(nil, tr) {
		return ErrTraceBusy
	}
	defer e.tracer.Store(nil)
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-tr.lines:
			if d := tr.dropped.Load(); d != reported {
				if err := emit(fmt.Sprintf("trace: %d lines dropped: the reader is slower than the traffic", d-reported)); err != nil {
					return err
				}
				reported = d
			}
			if err := emit(line); err != nil {
				return err
			}
		}
	}
}

func (tr *tracer) emit(format string, args ...any) {
	select {
	case tr.lines <- fmt.Sprintf(format, args...):
	default:
		tr.dropped.Add(1)
	}
}

// received describes one outer packet through tunnel4_rcv.
func (tr *tracer) received(st *state, pkt []byte, link int, r decap.Result) {
	var b strings.Builder
	outer := header.IPv4(pkt)
	if !outer.IsValid(len(pkt)) {
		fmt.Fprintf(&b, "rx link %d: %d bytes: ip_rcv: %s", link, len(pkt), outer.Check(len(pkt)))
	} else {
		fmt.Fprintf(&b, "rx link %d: %s > %s tos %#x ttl %d id %d len %d", link, outer.SrcAddr(), outer.DstAddr(), outer.TOS(), outer.TTL(), outer.ID(), len(pkt))
	}
	if r.Tunnel != lookup.None {
		fmt.Fprintf(&b, " | ip_tunnel_lookup: %s", st.tunnels[r.Tunnel].config.Name)
		fmt.Fprintf(&b, " | ECN decapsulate: %s", r.ECN)
	}
	switch r.Verdict {
	case decap.Deliver:
		inner := header.IPv4(r.Inner)
		fmt.Fprintf(&b, " | deliver %s > %s proto %d len %d", inner.SrcAddr(), inner.DstAddr(), inner.Protocol(), len(r.Inner))
	case decap.NoTunnel:
		b.WriteString(" | ip_tunnel_lookup: no tunnel | tunnel4_rcv: ICMP port unreachable (rate-limited)")
	default:
		fmt.Fprintf(&b, " | drop: %s", r.Reason)
	}
	tr.emit("%s", b.String())
}

// transmitted describes one inner packet through ip_tunnel_xmit.
func (tr *tracer) transmitted(ts *tunnelState, inner []byte, dst uint32, mtu int, r encap.Result, buf []byte) {
	var b strings.Builder
	in := header.IPv4(inner)
	fmt.Fprintf(&b, "tx %s: ", ts.config.Name)
	if in.IsValid(len(inner)) {
		fmt.Fprintf(&b, "%s > %s tos %#x ttl %d df %v len %d | next hop %s | path MTU %d",
			in.SrcAddr(), in.DstAddr(), in.TOS(), in.TTL(), in.DontFragment(), len(inner), header.AddrFrom32(dst), mtu)
	} else {
		fmt.Fprintf(&b, "%d bytes", len(inner))
	}
	switch r.Verdict {
	case encap.Send, encap.Fragment:
		out := header.IPv4(r.Packet(buf))
		src := out.SrcAddr().String()
		if out.Src() == 0 {
			src = "(source the kernel picks)"
		}
		fmt.Fprintf(&b, " | iptunnel_xmit: %s > %s tos %#x ttl %d df %v id %d len %d", src, out.DstAddr(), out.TOS(), out.TTL(), out.DontFragment(), out.ID(), len(out))
		if r.Verdict == encap.Fragment {
			b.WriteString(" | fragmented (no pmtudisc, too big for the path)")
		}
	case encap.FragNeeded:
		fmt.Fprintf(&b, " | tnl_update_pmtu: ICMP frag needed mtu %d to %s", r.MTU, in.SrcAddr())
	default:
		fmt.Fprintf(&b, " | drop: %s", r.Reason)
	}
	tr.emit("%s", b.String())
}
