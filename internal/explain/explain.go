// Package explain is `ipipd explain`: what the datapath would do with one
// packet under a config, step by step, named after the kernel's functions,
// offline. It runs the datapath's own functions (decap, encap, lookup) on
// the tables the daemon would build, so its verdict is the daemon's.
package explain

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/hexfile"
	"github.com/ipipd/ipipd/internal/plan"
	"github.com/ipipd/ipipd/lookup"
)

// Options are what a packet's explanation needs beyond the config.
type Options struct {
	// Link is the ingress ifindex of a received packet.
	Link int
	// PathMTU is the underlay MTU for a transmitted one.
	PathMTU int
	// Tunnel names the tunnel whose TUN a transmitted packet was read
	// from; "" finds it by the file's routes, as the kernel would route it,
	// or else takes the fallback tunnel.
	Tunnel string
}

// Explainer explains packets under one config.
type Explainer struct {
	cfg    *config.Config
	plan   *plan.Plan
	tables *lookup.Snapshot
}

// New compiles cfg as the daemon does (package plan), with every dev taken
// as unbound (offline there are no interfaces to resolve), and the file's
// routes as the only routes: the ones ip route or a routing daemon add are
// the running kernel's, which explain cannot see.
func New(cfg *config.Config) (*Explainer, error) {
	p, err := plan.Compile(cfg, nil)
	if err != nil {
		return nil, err
	}
	tunnels := make([]lookup.Tunnel, len(p.Tunnels))
	for i, t := range p.Tunnels {
		tunnels[i] = t.Lookup
	}
	routes, err := lookup.NewRouteTable(p.FileRoutes, tunnels)
	if err != nil {
		return nil, err
	}
	return &Explainer{cfg: cfg, plan: p, tables: &lookup.Snapshot{Tunnels: p.Table, Routes: routes}}, nil
}

// Packet explains pkt: a protocol-4 packet as received (decap), any other
// as read from a tunnel's TUN (encap). pkt is not changed.
func (x *Explainer) Packet(w io.Writer, pkt []byte, o Options) {
	pkt = bytes.Clone(pkt) // decap rewrites ECN in place
	if len(pkt) >= header.MinSize && pkt[9] == header.ProtocolIPIP {
		x.receive(w, pkt, o.Link)
	} else {
		x.transmit(w, pkt, o)
	}
}

func (x *Explainer) receive(w io.Writer, pkt []byte, link int) {
	outer := header.IPv4(pkt)
	fmt.Fprintf(w, "received %d bytes on ifindex %d\n", len(pkt), link)
	fmt.Fprintf(w, "1. ip_rcv: outer header %s\n", outer.Check(len(pkt)))
	if outer.IsValid(len(pkt)) {
		fmt.Fprintf(w, "   %s > %s tos %#x ttl %d id %d proto %d length %d\n", outer.SrcAddr(), outer.DstAddr(), outer.TOS(), outer.TTL(), outer.ID(), outer.Protocol(), outer.TotalLength())
		if outer.Src() == 0 {
			// trace --pcap records the outer packets ipipd builds as built.
			fmt.Fprintf(w, "   source 0.0.0.0: IP input drops it as a martian; an outer packet ipipd built for a tunnel without local\n"+
				"   has it until the kernel fills in the route's source as it leaves (trace --pcap records it as built)\n")
		}
		if i := x.tables.Tunnels.Lookup(outer.Src(), outer.Dst(), link); i != lookup.None {
			fmt.Fprintf(w, "2. ip_tunnel_lookup(remote=%s, local=%s, link=%d): tunnel %q\n", outer.SrcAddr(), outer.DstAddr(), link, x.tables.Tunnels.Tunnel(i).Name)
		} else {
			fmt.Fprintf(w, "2. ip_tunnel_lookup(remote=%s, local=%s, link=%d): no tunnel\n", outer.SrcAddr(), outer.DstAddr(), link)
		}
	}
	before := bytes.Clone(pkt)
	r := decap.Decap(pkt, len(pkt), link, x.tables.Tunnels)
	if r.Tunnel != lookup.None && len(before) > 40 {
		inner := header.IPv4(before[header.IPv4(before).HeaderLength():])
		fmt.Fprintf(w, "3. ECN decapsulate: outer %s, inner %s: %s\n", header.ECNOf(header.IPv4(before).TOS()), header.ECNOf(inner.TOS()), r.ECN)
	}
	switch r.Verdict {
	case decap.Deliver:
		inner := header.IPv4(r.Inner)
		fmt.Fprintf(w, "4. deliver into TUN %q: %s > %s tos %#x ttl %d proto %d length %d\n", x.cfg.Tunnels[r.Tunnel].Name, inner.SrcAddr(), inner.DstAddr(), inner.TOS(), inner.TTL(), inner.Protocol(), len(r.Inner))
		fmt.Fprintf(w, "verdict: deliver\n")
	case decap.NoTunnel:
		fmt.Fprintf(w, "verdict: no_tunnel: tunnel4_rcv answers %s with ICMP port unreachable (rate-limited)\n", outer.SrcAddr())
	default:
		fmt.Fprintf(w, "verdict: drop (%s)\n", r.Reason)
	}
}

func (x *Explainer) transmit(w io.Writer, inner []byte, o Options) {
	pathMTU := o.PathMTU
	fmt.Fprintf(w, "read %d bytes from a TUN\n", len(inner))
	ip := header.IPv4(inner)
	if !ip.IsValid(len(inner)) {
		fmt.Fprintf(w, "1. ipip_tunnel_xmit: %s: verdict drop (tx_errors)\n", ip.Check(len(inner)))
		return
	}
	tunnel, why := x.sendingTunnel(ip.DstAddr(), o.Tunnel)
	if tunnel == lookup.None {
		fmt.Fprintf(w, "1. route lookup %s: %s\n", ip.DstAddr(), why)
		return
	}
	t := x.plan.Tunnels[tunnel]
	dst, found := plan.OuterDestination(x.tables.Routes, tunnel, header.Addr4(t.Config.Remote), ip)
	how := "the route's gateway"
	switch {
	case t.Config.Remote.IsValid():
		how = "the tunnel's remote"
	case !found:
		how = "the inner destination itself: no gateway (the running daemon asks the kernel for one first, and drops the packet as a loop if its own route leads back into a tunnel)"
	}
	fmt.Fprintf(w, "1. route lookup %s: tunnel %q (%s), outer destination %s, %s\n", ip.DstAddr(), t.Config.Name, why, lookup.AddrFromNumber(dst), how)
	tu := t.Encap
	buf := make([]byte, encap.Headroom+len(inner))
	copy(buf[encap.Headroom:], inner)
	r := tu.Encap(buf, len(inner), dst, encap.NewIDs(1), encap.Path{MTU: pathMTU})
	fmt.Fprintf(w, "2. ip_tunnel_xmit: inner DF %v, tunnel DF %v, path MTU %d\n", ip.DontFragment(), tu.DF(), pathMTU)
	switch r.Verdict {
	case encap.Send, encap.Fragment:
		o := header.IPv4(r.Packet(buf))
		fmt.Fprintf(w, "3. iptunnel_xmit: %s > %s tos %#x ttl %d df %v proto 4 length %d\n", engine.OuterSource(o.SrcAddr()), o.DstAddr(), o.TOS(), o.TTL(), o.DontFragment(), o.TotalLength())
		fmt.Fprintf(w, "verdict: %s\n", r.Verdict)
		fmt.Fprint(w, hexfile.Format("outer packet", r.Packet(buf)))
	case encap.FragNeeded:
		fmt.Fprintf(w, "verdict: frag_needed: tnl_update_pmtu answers %s with ICMP 3/4 mtu %d (tx_errors)\n", ip.SrcAddr(), r.MTU)
	default:
		fmt.Fprintf(w, "verdict: drop (%s)\n", r.Reason)
	}
}

// sendingTunnel is the tunnel whose TUN a packet for dst is read from: the
// one named, or the one the file's longest route sends it into, or the
// fallback tunnel, as if a route the file does not hold (ip route, BIRD)
// sent it there. why says which.
func (x *Explainer) sendingTunnel(dst netip.Addr, name string) (int, string) {
	if name != "" {
		for i, t := range x.plan.Tunnels {
			if t.Config.Name == name {
				return i, "named with --tunnel"
			}
		}
		return lookup.None, fmt.Sprintf("no tunnel %q in the file", name)
	}
	if next, ok := x.tables.Routes.Lookup(dst); ok {
		return next.Tunnel, "by the file's route"
	}
	for i, t := range x.plan.Tunnels {
		if t.Config.IsFallback() {
			return i, "no route in the file: taken as routed into the fallback by a route of the kernel's (ip route, a routing daemon); --tunnel NAME picks another"
		}
	}
	return lookup.None, "no route in the file, and no fallback tunnel; name the tunnel the kernel routes it into with --tunnel NAME"
}
