package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipipd/ipipd/internal/control"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/netsetup"
)

const showUsage = `usage: ipipd show [NAME] [-s] [-d] [-j|--json] [--control PATH]

Lists the tunnels of a running ipipd (or the tunnel NAME) as ip tunnel show
does. -s adds the counters in ip -s tunnel show's columns, then ipipd's
drops by reason; -d adds the rest: path MTU, ICMP sent to inner senders,
the packet socket's split, coalesced packets, the peer filter. -j (or
--json) prints the same as JSON, keys documented in the README.`

func showCommand(args []string) int {
	fs := newFlags("show", showUsage)
	stats := fs.Bool("s", false, "counters")
	details := fs.Bool("d", false, "details")
	var asJSON bool
	fs.BoolVar(&asJSON, "j", false, "JSON")
	fs.BoolVar(&asJSON, "json", false, "JSON (as -j)")
	// --raw is for test harnesses (lab.Show): engine.Status as the
	// control socket carries it, Go field names, no promise of stability.
	raw := fs.Bool("raw", false, "")
	socket := fs.String("control", control.DefaultPath, "control socket")
	flagArgs, names := splitShowArgs(args)
	if code := parse(fs, showUsage, flagArgs); code >= 0 {
		return code
	}
	if len(names) > 1 {
		fmt.Fprintf(os.Stderr, "ipipd show: one tunnel name at most, got %q\n%s\n", names, showUsage)
		return exitUsage
	}
	var st engine.Status
	if err := control.Ask(*socket, "show", &st); err != nil {
		fmt.Fprintf(os.Stderr, "ipipd show: %v\n", err)
		return exitFailure
	}
	if *raw {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	one := len(names) == 1
	if one {
		var err error
		if st, err = selectTunnel(st, names[0]); err != nil {
			fmt.Fprintf(os.Stderr, "ipipd show: %v\n", err)
			return exitFailure
		}
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(newShowJSON(st, *stats, *details, !one))
		return exitOK
	}
	printStatus(os.Stdout, st, *stats, *details, !one)
	return exitOK
}

// splitShowArgs takes the tunnel name out of args, wherever it is (ip
// tunnel show takes it anywhere), leaving the flags for the flag package,
// which stops at the first word that is not one.
func splitShowArgs(args []string) (flags, names []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(names, args[i+1:]...)
		case (a == "--control" || a == "-control") && i+1 < len(args):
			flags = append(flags, a, args[i+1])
			i++
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
		default:
			names = append(names, a)
		}
	}
	return flags, names
}

// selectTunnel keeps only the tunnel name of st; an unknown name is an
// error that lists the tunnels there are.
func selectTunnel(st engine.Status, name string) (engine.Status, error) {
	var have []string
	for _, t := range st.Tunnels {
		if t.Name == name {
			st.Tunnels = []engine.TunnelStatus{t}
			return st, nil
		}
		have = append(have, t.Name)
	}
	if len(have) == 0 {
		return st, fmt.Errorf("no tunnel %q: the daemon has none", name)
	}
	return st, fmt.Errorf("no tunnel %q; the tunnels are: %s", name, strings.Join(have, ", "))
}

// printStatus prints st as ip tunnel show does: the parameters line,
// then, with stats, iproute2's RX and TX columns (tnl_print_stats), then
// what ipipd adds, indented.
func printStatus(w io.Writer, st engine.Status, stats, details, global bool) {
	for _, t := range st.Tunnels {
		fmt.Fprintf(w, "%s: ip/ip remote %s local %s", t.Name, t.Remote, t.Local)
		if t.Dev != "" {
			fmt.Fprintf(w, " dev %s", t.Dev)
		}
		if t.TTL == 0 {
			fmt.Fprint(w, " ttl inherit")
		} else {
			fmt.Fprintf(w, " ttl %d", t.TTL)
		}
		if t.TOSInherit {
			fmt.Fprint(w, " tos inherit")
		} else if t.TOS != 0 {
			fmt.Fprintf(w, " tos %#x", t.TOS)
		}
		if !t.PMTUDisc {
			fmt.Fprint(w, " nopmtudisc")
		}
		fmt.Fprintln(w)
		state := "UP"
		if !t.Up {
			state = "DOWN"
		}
		fmt.Fprintf(w, "    state %s mtu %d", state, t.MTU)
		if t.Table != 0 && t.Table != netsetup.MainTable {
			fmt.Fprintf(w, " table %d", t.Table)
		}
		if t.Fallback {
			fmt.Fprint(w, " (fallback)")
		}
		fmt.Fprintln(w)
		for _, a := range t.Addresses {
			fmt.Fprintf(w, "    inet %s\n", a)
		}
		for _, r := range t.Routes {
			fmt.Fprintf(w, "    route %s", r.To)
			if r.Via != "" {
				fmt.Fprintf(w, " via %s", r.Via)
			}
			fmt.Fprintf(w, " proto %s", protoName(r.Proto))
			if r.Metric != 0 {
				fmt.Fprintf(w, " metric %d", r.Metric)
			}
			if r.Weight > 1 {
				fmt.Fprintf(w, " weight %d", r.Weight)
			}
			fmt.Fprintln(w)
		}
		if stats {
			s := t.Stats
			// iproute2's tnl_print_stats, column for column: CsumErrs is
			// rx_frame_errors, OutOfSeq rx_fifo_errors (GRE's; 0 for
			// IPIP), DeadLoop collisions, NoRoute tx_carrier_errors,
			// NoBufs tx_dropped.
			fmt.Fprintf(w, "RX: Packets    Bytes        Errors CsumErrs OutOfSeq Mcasts\n")
			fmt.Fprintf(w, "    %-10d %-12d %-6d %-8d %-8d %-8d\n", s.RxPackets, s.RxBytes, s.RxErrors, s.RxFrameErrors, 0, s.Multicast)
			fmt.Fprintf(w, "TX: Packets    Bytes        Errors DeadLoop NoRoute  NoBufs\n")
			fmt.Fprintf(w, "    %-10d %-12d %-6d %-8d %-8d %-6d\n", s.TxPackets, s.TxBytes, s.TxErrors, s.Collisions, s.TxCarrierErrors, s.TxDropped)
			fmt.Fprintf(w, "    drops: %s\n", formatDrops(s.Drops, details))
			printPeers(w, t, time.Now())
		}
		if details {
			s := t.Stats
			fmt.Fprintf(w, "    path mtu %d, accept from %s\n", t.PathMTU, strings.Join(acceptFromWords(t), " "))
			if stats {
				fmt.Fprintf(w, "    rx dropped %d, length errors %d; coalesced by the underlay's GRO and split %d\n", s.RxDropped, s.RxLengthErrors, s.RxCoalesced)
				fmt.Fprintf(w, "    ICMP to inner senders: sent %d, rate-limited %d\n", s.ICMPSent, s.ICMPRateLimited)
				fmt.Fprintf(w, "    sent on the packet socket %d (in %d super-packets sent whole), through the raw socket %d\n", s.TxPacketSocket, s.TxGSO, s.TxRawFallback)
			}
		}
	}
	if stats && global {
		g := st.Global
		fmt.Fprintf(w, "no tunnel: ICMP port unreachable sent %d, rate-limited %d; raw receive errors %d", g.PortUnreachables, g.RateLimited, g.ReceiveErrors)
		if len(g.Drops) > 0 {
			fmt.Fprintf(w, "; drops: %s", formatDrops(g.Drops, false))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "ICMP errors about outer packets: %d received", g.OuterErrors)
		if g.FragNeededDiscarded > 0 || details {
			fmt.Fprintf(w, ", %d frag needed discarded (net.ipv4.ip_no_pmtu_disc)", g.FragNeededDiscarded)
		}
		fmt.Fprintln(w)
	}
}

// printPeers prints a tunnel's peers, one line each as `wg show` gives
// one block each: what came from the peer (RX) and went to it (TX), the
// drops counted against it, and how long ago it was last seen either way;
// then the other peers' bucket, when the tables had no slot for some.
// Nothing when the tunnel has seen no peer.
func printPeers(w io.Writer, t engine.TunnelStatus, now time.Time) {
	pt := t.PeerTables
	other := pt.Other
	spilled := other != (engine.PeerStats{}) || pt.RxRefused > 0 || pt.TxRefused > 0
	if len(t.Peers) == 0 && !spilled {
		return
	}
	row := "    %-15s %-10d %-12d %-6d %-10d %-12d %-6d %s\n"
	fmt.Fprintf(w, "    Peer            RX: Packets Bytes        Drops  TX: Packets Bytes        Drops  Seen\n")
	for _, p := range t.Peers {
		seen := p.LastRx
		if p.LastTx.After(seen) {
			seen = p.LastTx
		}
		fmt.Fprintf(w, row, p.Addr, p.RxPackets, p.RxBytes, p.RxDrops, p.TxPackets, p.TxBytes, p.TxDrops, ago(seen, now))
	}
	if spilled {
		fmt.Fprintf(w, row, "other", other.RxPackets, other.RxBytes, other.RxDrops, other.TxPackets, other.TxBytes, other.TxDrops,
			fmt.Sprintf("~%d rx, ~%d tx refused a slot (tables hold %d each)", pt.RxRefused, pt.TxRefused, engine.MaxPeers))
	}
}

// ago is how long before now t was, in whole seconds, as wg show's
// "latest handshake"; "never" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

// formatDrops lists drops by reason, sorted; with all, every reason a
// tunnel can count, zero or not, else only those that happened ("none").
func formatDrops(drops map[string]uint64, all bool) string {
	keys := make([]string, 0, len(drops))
	for k, v := range drops {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	if all {
		keys = append(receiveReasons(), transmitReasons()...)
	}
	if len(keys) == 0 {
		return "none"
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, drops[k])
	}
	return strings.Join(parts, ", ")
}

// protoName is a route protocol as ip route prints it (iproute2's
// rt_protos), with ipipd's own 70 named.
func protoName(p int) string {
	switch p {
	case 2:
		return "kernel"
	case 3:
		return "boot"
	case 4:
		return "static"
	case 12:
		return "bird"
	case 186:
		return "bgp"
	case netsetup.RouteProtocol:
		return "ipipd"
	}
	return strconv.Itoa(p)
}
