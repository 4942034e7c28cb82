package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipipd/ipipd/decap"
	"github.com/ipipd/ipipd/encap"
	"github.com/ipipd/ipipd/internal/engine"
)

// The document `ipipd show -j` prints. Its keys are stable: new ones may
// be added, none renamed or removed. They are snake_case and take
// iproute2's words: `ip tunnel show`'s for the parameters ("remote":
// "any", "ttl": "inherit", "pmtudisc"), `ip -j -s link show`'s stats64
// names for the counters the kernel's tunnel device has, so that a script
// written against the kernel's tunl0 reads ipipd's the same way. What the
// kernel has no counter for (drops by reason, ICMP, the packet socket)
// follows, under ipipd's own names.
//
// -s adds "stats64", "drops", "peers", "peer_table" and "global"; -d
// adds "details".
type showJSON struct {
	Tunnels []tunnelJSON `json:"tunnels"`
	// Global is what happened before any tunnel was selected; left out
	// when one tunnel is asked for.
	Global *globalJSON `json:"global,omitempty"`
}

// tunnelJSON is one tunnel: `ip tunnel show NAME` and the device's link
// state, MTU, addresses and routes as the kernel holds them.
type tunnelJSON struct {
	Ifname string `json:"ifname"`
	Mode   string `json:"mode"`   // "ip/ip", as ip tunnel prints IPIP
	Remote string `json:"remote"` // an address, or "any"
	Local  string `json:"local"`
	Dev    string `json:"dev,omitempty"` // the underlay device the tunnel is bound to
	// TTL is "inherit" or 1..255; TOS "inherit" or the fixed value in hex
	// ("0x0" when none), as ip tunnel prints them.
	TTL      any    `json:"ttl"`
	TOS      string `json:"tos"`
	PMTUDisc bool   `json:"pmtudisc"`
	// Fallback: the tunnel with no local and no remote, the kernel's tunl0.
	Fallback bool `json:"fallback"`
	// State is the device's: "UP" or "DOWN" (`ip link set NAME up`); a
	// tunnel that is down takes no packets.
	State    string      `json:"state"`
	MTU      int         `json:"mtu"`
	Table    int         `json:"table"`
	AddrInfo []addrJSON  `json:"addr_info"`
	Routes   []routeJSON `json:"routes"`

	Stats64 *stats64JSON `json:"stats64,omitempty"`
	Drops   *dropsJSON   `json:"drops,omitempty"`
	// Peers (with -s) are the tunnel's peers by outer address, sorted;
	// PeerTable the bucket of the other peers and the tables' sizes.
	Peers     *[]peerJSON    `json:"peers,omitempty"`
	PeerTable *peerTableJSON `json:"peer_table,omitempty"`
	Details   *detailsJSON   `json:"details,omitempty"`
}

// peerJSON is one peer, as `wg show` has one: an outer address, what came
// from it (rx: as the outer source) and went to it (tx: as the outer
// destination).
type peerJSON struct {
	Address string        `json:"address"`
	RX      peerCountJSON `json:"rx"`
	TX      peerCountJSON `json:"tx"`
}

// peerCountJSON is one direction of a peer. Dropped counts packets dropped
// once the tunnel was selected: received from the peer, or on their way
// to it. LastSeen is RFC 3339 in UTC, absent when never.
type peerCountJSON struct {
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	Dropped  uint64 `json:"dropped"`
	LastSeen string `json:"last_seen,omitempty"`
}

// peerTableJSON is what the per-peer tables hold beyond their peers: each
// direction's table keeps at most max peers (the README says how);
// other sums the packets of those without a slot.
type peerTableJSON struct {
	Max   int `json:"max"`
	Other struct {
		RX peerCountJSON `json:"rx"`
		TX peerCountJSON `json:"tx"`
	} `json:"other"`
	RX peerSlotsJSON `json:"rx"`
	TX peerSlotsJSON `json:"tx"`
}

// peerSlotsJSON is one direction's table: its size now, the peers holding
// a slot, and an estimate (about 6.5%) of the distinct peers refused one.
type peerSlotsJSON struct {
	Slots   int    `json:"slots"`
	Tracked int    `json:"tracked"`
	Refused uint64 `json:"refused"`
}

// addrJSON is one address, as `ip -j addr` lists it.
type addrJSON struct {
	Local     string `json:"local"`
	Prefixlen int    `json:"prefixlen"`
}

// routeJSON is one next hop of a kernel route through the tunnel, in `ip
// route`'s words.
type routeJSON struct {
	To     string `json:"to"`
	Via    string `json:"via,omitempty"`
	Proto  string `json:"proto"` // "ipipd" (70), "boot", "static", "bird", or the number
	Metric int    `json:"metric,omitempty"`
	Weight int    `json:"weight,omitempty"` // of a multipath route's next hop
}

// stats64JSON are the counters the kernel's tunnel device has, under the
// names `ip -j -s -s link show` gives them. `ip -s tunnel show`'s columns
// are: RX Packets, Bytes, Errors, CsumErrs = frame_errors, OutOfSeq =
// fifo_errors, Mcasts = multicast; TX Packets, Bytes, Errors, DeadLoop =
// collisions, NoRoute = carrier_errors, NoBufs = dropped (iproute2's
// tnl_print_stats).
type stats64JSON struct {
	RX rxJSON `json:"rx"`
	TX txJSON `json:"tx"`
}

type rxJSON struct {
	Packets      uint64 `json:"packets"`
	Bytes        uint64 `json:"bytes"`
	Errors       uint64 `json:"errors"`
	Dropped      uint64 `json:"dropped"`
	LengthErrors uint64 `json:"length_errors"`
	FrameErrors  uint64 `json:"frame_errors"`
	FifoErrors   uint64 `json:"fifo_errors"` // GRE's sequence check; always 0 for IPIP
	Multicast    uint64 `json:"multicast"`
}

type txJSON struct {
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	Errors        uint64 `json:"errors"`
	Dropped       uint64 `json:"dropped"`
	CarrierErrors uint64 `json:"carrier_errors"`
	Collisions    uint64 `json:"collisions"`
}

// dropsJSON is ipipd's count per named reason, every reason that can
// happen once a tunnel is selected, zero or not.
type dropsJSON struct {
	Receive  map[string]uint64 `json:"receive"`
	Transmit map[string]uint64 `json:"transmit"`
}

// detailsJSON is the rest of what ipipd knows of a tunnel.
type detailsJSON struct {
	// PathMTU is the underlay's MTU toward the remote (or of dev, or
	// 1500), from which the tunnel's MTU is derived.
	PathMTU int `json:"path_mtu"`
	// ICMP errors written into the TUN toward inner senders (frag needed,
	// host unreachable), and those the rate limit withheld.
	ICMP struct {
		Sent        uint64 `json:"sent"`
		RateLimited uint64 `json:"rate_limited"`
	} `json:"icmp"`
	// PacketSocket: with --transmit packet, outer packets sent as frames
	// and those that went through the raw socket instead.
	PacketSocket struct {
		Sent        uint64 `json:"sent"`
		RawFallback uint64 `json:"raw_fallback"`
		// GSO: with --transmit packet-gso, the TCP super-packets among
		// Sent's segments that left whole.
		GSO uint64 `json:"gso"`
	} `json:"packet_socket"`
	// Coalesced: outer packets the underlay's GRO merged, cut back into
	// segments.
	Coalesced uint64 `json:"coalesced"`
	// AcceptFrom is the tunnel's peer filter: "any" (off, the kernel's
	// behaviour), "known", or the prefixes.
	AcceptFrom []string `json:"accept_from"`
}

// globalJSON is what the daemon counts for no tunnel.
type globalJSON struct {
	// Drops are the reasons that arise before a tunnel is selected.
	Drops map[string]uint64 `json:"drops"`
	// PortUnreachable: ICMP 3/3 answers to packets no tunnel took.
	PortUnreachable struct {
		Sent        uint64 `json:"sent"`
		RateLimited uint64 `json:"rate_limited"`
	} `json:"port_unreachable"`
	ReceiveErrors uint64 `json:"receive_errors"`
	// OuterICMP: ICMP errors about outer packets (ipip_err).
	OuterICMP struct {
		Received            uint64 `json:"received"`
		FragNeededDiscarded uint64 `json:"frag_needed_discarded"`
	} `json:"outer_icmp"`
}

// newShowJSON builds the document from st, whose tunnels are already
// the ones asked for.
func newShowJSON(st engine.Status, stats, details, global bool) showJSON {
	out := showJSON{Tunnels: make([]tunnelJSON, 0, len(st.Tunnels))}
	for _, t := range st.Tunnels {
		out.Tunnels = append(out.Tunnels, newTunnelJSON(t, stats, details))
	}
	if stats && global {
		g := st.Global
		gj := &globalJSON{Drops: map[string]uint64{}, ReceiveErrors: g.ReceiveErrors}
		for r := decap.Reason(1); int(r) < decap.Reasons; r++ {
			if r.BeforeSelection() {
				gj.Drops[r.String()] = g.Drops[r.String()]
			}
		}
		gj.PortUnreachable.Sent, gj.PortUnreachable.RateLimited = g.PortUnreachables, g.RateLimited
		gj.OuterICMP.Received, gj.OuterICMP.FragNeededDiscarded = g.OuterErrors, g.FragNeededDiscarded
		out.Global = gj
	}
	return out
}

func newTunnelJSON(t engine.TunnelStatus, stats, details bool) tunnelJSON {
	j := tunnelJSON{
		Ifname: t.Name, Mode: "ip/ip", Remote: t.Remote, Local: t.Local, Dev: t.Dev,
		TTL: ttlWord(t), TOS: tosWord(t), PMTUDisc: t.PMTUDisc, Fallback: t.Fallback,
		State: "DOWN", MTU: t.MTU, Table: t.Table,
		AddrInfo: []addrJSON{}, Routes: []routeJSON{},
	}
	if t.Up {
		j.State = "UP"
	}
	for _, a := range t.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil {
			j.AddrInfo = append(j.AddrInfo, addrJSON{Local: p.Addr().String(), Prefixlen: p.Bits()})
		}
	}
	for _, r := range t.Routes {
		j.Routes = append(j.Routes, routeJSON{To: r.To, Via: r.Via, Proto: protoName(r.Proto), Metric: r.Metric, Weight: r.Weight})
	}
	s := t.Stats
	if stats {
		j.Stats64 = &stats64JSON{
			RX: rxJSON{Packets: s.RxPackets, Bytes: s.RxBytes, Errors: s.RxErrors, Dropped: s.RxDropped,
				LengthErrors: s.RxLengthErrors, FrameErrors: s.RxFrameErrors, Multicast: s.Multicast},
			TX: txJSON{Packets: s.TxPackets, Bytes: s.TxBytes, Errors: s.TxErrors, Dropped: s.TxDropped,
				CarrierErrors: s.TxCarrierErrors, Collisions: s.Collisions},
		}
		j.Drops = &dropsJSON{Receive: map[string]uint64{}, Transmit: map[string]uint64{}}
		for _, r := range receiveReasons() {
			j.Drops.Receive[r] = s.Drops[r]
		}
		for _, r := range transmitReasons() {
			j.Drops.Transmit[r] = s.Drops[r]
		}
		j.Peers, j.PeerTable = newPeersJSON(t)
	}
	if details {
		d := &detailsJSON{PathMTU: t.PathMTU, Coalesced: s.RxCoalesced, AcceptFrom: acceptFromWords(t)}
		d.ICMP.Sent, d.ICMP.RateLimited = s.ICMPSent, s.ICMPRateLimited
		d.PacketSocket.Sent, d.PacketSocket.RawFallback, d.PacketSocket.GSO = s.TxPacketSocket, s.TxRawFallback, s.TxGSO
		j.Details = d
	}
	return j
}

// newPeersJSON is a tunnel's peers and its tables' summary.
func newPeersJSON(t engine.TunnelStatus) (*[]peerJSON, *peerTableJSON) {
	peers := make([]peerJSON, 0, len(t.Peers))
	for _, p := range t.Peers {
		peers = append(peers, peerJSON{Address: p.Addr.String(),
			RX: peerCountJSON{Packets: p.RxPackets, Bytes: p.RxBytes, Dropped: p.RxDrops, LastSeen: timeWord(p.LastRx)},
			TX: peerCountJSON{Packets: p.TxPackets, Bytes: p.TxBytes, Dropped: p.TxDrops, LastSeen: timeWord(p.LastTx)}})
	}
	pt := t.PeerTables
	table := &peerTableJSON{Max: engine.MaxPeers,
		RX: peerSlotsJSON{Slots: pt.RxSlots, Tracked: pt.RxTracked, Refused: pt.RxRefused},
		TX: peerSlotsJSON{Slots: pt.TxSlots, Tracked: pt.TxTracked, Refused: pt.TxRefused}}
	o := pt.Other
	table.Other.RX = peerCountJSON{Packets: o.RxPackets, Bytes: o.RxBytes, Dropped: o.RxDrops}
	table.Other.TX = peerCountJSON{Packets: o.TxPackets, Bytes: o.TxBytes, Dropped: o.TxDrops}
	return &peers, table
}

// timeWord is t in RFC 3339, UTC, to the second; empty for never.
func timeWord(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// receiveReasons are the decap reasons that can happen once a tunnel is
// selected, in their order.
func receiveReasons() []string {
	var out []string
	for r := decap.Reason(1); int(r) < decap.Reasons; r++ {
		if !r.BeforeSelection() {
			out = append(out, r.String())
		}
	}
	return out
}

// transmitReasons are the encap reasons, in their order.
func transmitReasons() []string {
	var out []string
	for r := encap.Reason(1); int(r) < encap.Reasons; r++ {
		out = append(out, r.String())
	}
	return out
}

// ttlWord is the TTL as ip tunnel prints it: "inherit" for 0.
func ttlWord(t engine.TunnelStatus) any {
	if t.TTL == 0 {
		return "inherit"
	}
	return int(t.TTL)
}

// tosWord is the TOS as ip tunnel prints it: "inherit", or the value in
// hex.
func tosWord(t engine.TunnelStatus) string {
	if t.TOSInherit {
		return "inherit"
	}
	return fmt.Sprintf("%#x", t.TOS)
}

// acceptFromWords is the peer filter as the file writes it.
func acceptFromWords(t engine.TunnelStatus) []string {
	if len(t.AcceptFrom) == 0 {
		return []string{"any"}
	}
	return t.AcceptFrom
}
