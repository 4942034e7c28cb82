package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/hexfile"
	"github.com/ipipd/ipipd/lookup"
)

const explainUsage = `usage: ipipd explain -c FILE [--link IFINDEX] [--path-mtu N] PACKET

Offline: what the datapath would do with one packet under FILE, step by step,
named after the kernel's functions. PACKET is a file of commented hex (as in
decap/testdata/seeds), a pcap file (its first packet; raw IP or Ethernet), or
hex on the command line. A protocol-4 packet is explained as received (decap);
any other IPv4 packet as read from a tunnel's TUN (encap).
  --link      the ingress ifindex of a received packet (default 2)
  --path-mtu  the underlay MTU for transmit (default 1500)`

func explainCommand(args []string) int {
	fs := newFlags("explain", explainUsage)
	path := fs.String("c", "", "config file")
	link := fs.Int("link", 2, "ingress ifindex")
	pathMTU := fs.Int("path-mtu", 1500, "underlay MTU")
	if code := parse(fs, explainUsage, args); code >= 0 {
		return code
	}
	if *path == "" || fs.NArg() != 1 {
		fmt.Fprintf(os.Stderr, "ipipd explain: want -c FILE and one PACKET\n%s\n", explainUsage)
		return exitUsage
	}
	cfg, code := loadConfig(*path)
	if cfg == nil {
		return code
	}
	pkt, err := readPacket(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd explain: %v\n", err)
		return exitUsage
	}
	tables, err := explainTables(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd explain: %v\n", err)
		return exitUsage
	}
	if len(pkt) >= header.MinSize && pkt[9] == header.ProtocolIPIP {
		explainReceive(os.Stdout, cfg, tables, pkt, *link)
	} else {
		explainTransmit(os.Stdout, cfg, tables, pkt, *pathMTU)
	}
	return exitOK
}

// explainTables builds the lookup tables as the daemon would, with every
// dev taken as unbound (offline there are no interfaces to resolve).
func explainTables(cfg *config.Config) (*lookup.Snapshot, error) {
	tunnels := make([]lookup.Tunnel, len(cfg.Tunnels))
	var routes []lookup.Route
	for i, t := range cfg.Tunnels {
		tunnels[i] = lookup.Tunnel{Name: t.Name, Local: t.Local, Remote: t.Remote, Mode: header.ProtocolIPIP}
		for _, r := range t.Routes {
			routes = append(routes, lookup.Route{To: r.To, Via: r.Via, Tunnel: i})
		}
	}
	return lookup.NewSnapshot(tunnels, routes)
}

func explainReceive(w io.Writer, cfg *config.Config, tables *lookup.Snapshot, pkt []byte, link int) {
	outer := header.IPv4(pkt)
	fmt.Fprintf(w, "received %d bytes on ifindex %d\n", len(pkt), link)
	fmt.Fprintf(w, "1. ip_rcv: outer header %s\n", outer.Check(len(pkt)))
	if outer.IsValid(len(pkt)) {
		fmt.Fprintf(w, "   %s > %s tos %#x ttl %d id %d proto %d length %d\n", outer.SrcAddr(), outer.DstAddr(), outer.TOS(), outer.TTL(), outer.ID(), outer.Protocol(), outer.TotalLength())
		if i := tables.Tunnels.Lookup(outer.Src(), outer.Dst(), link); i != lookup.None {
			fmt.Fprintf(w, "2. ip_tunnel_lookup(remote=%s, local=%s, link=%d): tunnel %q\n", outer.SrcAddr(), outer.DstAddr(), link, tables.Tunnels.Tunnel(i).Name)
		} else {
			fmt.Fprintf(w, "2. ip_tunnel_lookup(remote=%s, local=%s, link=%d): no tunnel\n", outer.SrcAddr(), outer.DstAddr(), link)
		}
	}
	before := bytes.Clone(pkt)
	r := decap.Decap(pkt, len(pkt), link, tables.Tunnels)
	if r.Tunnel != lookup.None && len(before) > 40 {
		inner := header.IPv4(before[header.IPv4(before).HeaderLength():])
		fmt.Fprintf(w, "3. ECN decapsulate: outer %s, inner %s: %s\n", header.ECNOf(header.IPv4(before).TOS()), header.ECNOf(inner.TOS()), r.ECN)
	}
	switch r.Verdict {
	case decap.Deliver:
		inner := header.IPv4(r.Inner)
		fmt.Fprintf(w, "4. deliver into TUN %q: %s > %s tos %#x ttl %d proto %d length %d\n", cfg.Tunnels[r.Tunnel].Name, inner.SrcAddr(), inner.DstAddr(), inner.TOS(), inner.TTL(), inner.Protocol(), len(r.Inner))
	case decap.NoTunnel:
		fmt.Fprintf(w, "verdict: no_tunnel: tunnel4_rcv answers %s with ICMP port unreachable (rate-limited)\n", outer.SrcAddr())
	default:
		fmt.Fprintf(w, "verdict: drop (%s)\n", r.Reason)
	}
}

func explainTransmit(w io.Writer, cfg *config.Config, tables *lookup.Snapshot, inner []byte, pathMTU int) {
	fmt.Fprintf(w, "read %d bytes from a TUN\n", len(inner))
	ip := header.IPv4(inner)
	if !ip.IsValid(len(inner)) {
		fmt.Fprintf(w, "1. ipip_tunnel_xmit: %s: verdict drop (tx_errors)\n", ip.Check(len(inner)))
		return
	}
	next, ok := tables.Routes.Lookup(ip.DstAddr())
	if !ok {
		fmt.Fprintf(w, "1. route lookup %s: no route in the config; the kernel would not send it into any ipipd TUN\n", ip.DstAddr())
		return
	}
	t := cfg.Tunnels[next.Tunnel]
	fmt.Fprintf(w, "1. route lookup %s: tunnel %q, outer destination %s\n", ip.DstAddr(), t.Name, lookup.AddrFromNumber(next.Dst))
	ecn := encap.ECNKernel
	if t.ECN == config.ECNRFC6040 {
		ecn = encap.ECNNormal
	}
	tu := encap.NewTunnel(encap.Params{Local: t.Local, TTL: t.TTL, TOS: t.TOS, InheritTOS: t.TOSInherit, PMTUDisc: t.PMTUDisc, ECN: ecn})
	buf := make([]byte, encap.Headroom+len(inner))
	copy(buf[encap.Headroom:], inner)
	r := tu.Encap(buf, len(inner), next.Dst, encap.NewIDs(1), encap.Path{MTU: pathMTU})
	fmt.Fprintf(w, "2. ip_tunnel_xmit: inner DF %v, tunnel DF %v, path MTU %d\n", ip.DontFragment(), tu.DF(), pathMTU)
	switch r.Verdict {
	case encap.Send, encap.Fragment:
		o := header.IPv4(r.Packet(buf))
		fmt.Fprintf(w, "3. iptunnel_xmit: %s > %s tos %#x ttl %d df %v proto 4 length %d\n", o.SrcAddr(), o.DstAddr(), o.TOS(), o.TTL(), o.DontFragment(), o.TotalLength())
		fmt.Fprintf(w, "verdict: %s\n", r.Verdict)
		fmt.Fprint(w, hexfile.Format("outer packet", r.Packet(buf)))
	case encap.FragNeeded:
		fmt.Fprintf(w, "verdict: frag_needed: tnl_update_pmtu answers %s with ICMP 3/4 mtu %d (tx_errors)\n", ip.SrcAddr(), r.MTU)
	default:
		fmt.Fprintf(w, "verdict: drop (%s)\n", r.Reason)
	}
}

// readPacket reads PACKET: a pcap file, a commented hex file, or hex.
func readPacket(arg string) ([]byte, error) {
	data, err := os.ReadFile(arg)
	if err != nil {
		if strings.ContainsAny(arg, "/.") {
			return nil, err
		}
		return hexfile.Parse(arg)
	}
	if r, err := pcapgo.NewReader(bytes.NewReader(data)); err == nil {
		pkt, _, err := r.ReadPacketData()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		if r.LinkType() == 1 && len(pkt) > 14 { // Ethernet
			pkt = pkt[14:]
		}
		return pkt, nil
	}
	pkt, err := hexfile.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return pkt, nil
}
