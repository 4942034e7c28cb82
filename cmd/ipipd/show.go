package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ipipd/ipipd/internal/control"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/netsetup"
)

const showUsage = `usage: ipipd show [-s] [--json] [--control PATH]

Lists the tunnels of a running ipipd as ip tunnel show does; -s adds the
counters (as ip -s tunnel show) and the drops by reason; --json prints
everything as JSON.`

func showCommand(args []string) int {
	fs := newFlags("show", showUsage)
	stats := fs.Bool("s", false, "counters")
	asJSON := fs.Bool("json", false, "JSON")
	socket := fs.String("control", control.DefaultPath, "control socket")
	if code := parse(fs, showUsage, args); code >= 0 {
		return code
	}
	var st engine.Status
	if err := control.Ask(*socket, "show", &st); err != nil {
		fmt.Fprintf(os.Stderr, "ipipd show: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	printStatus(os.Stdout, st, *stats)
	return exitOK
}

func printStatus(w io.Writer, st engine.Status, stats bool) {
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
		fmt.Fprintf(w, " mtu %d", t.MTU)
		if t.Fallback {
			fmt.Fprint(w, " (fallback)")
		}
		if !t.Up {
			fmt.Fprint(w, " DOWN")
		}
		fmt.Fprintln(w)
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
		if !stats {
			continue
		}
		s := t.Stats
		fmt.Fprintf(w, "    RX: %-10s %-12s %-8s %-9s %-9s %-8s %s\n", "Packets", "Bytes", "Errors", "LenErrs", "FrameErr", "Dropped", "Mcasts")
		fmt.Fprintf(w, "        %-10d %-12d %-8d %-9d %-9d %-8d %d\n", s.RxPackets, s.RxBytes, s.RxErrors, s.RxLengthErrors, s.RxFrameErrors, s.RxDropped, s.Multicast)
		fmt.Fprintf(w, "    TX: %-10s %-12s %-8s %-9s %-9s %-9s %-9s %s\n", "Packets", "Bytes", "Errors", "DeadLoop", "Dropped", "Carrier", "ICMPsent", "ICMPlimited")
		fmt.Fprintf(w, "        %-10d %-12d %-8d %-9d %-9d %-9d %-9d %d\n", s.TxPackets, s.TxBytes, s.TxErrors, s.Collisions, s.TxDropped, s.TxCarrierErrors, s.ICMPSent, s.ICMPRateLimited)
		if s.TxPacketSocket+s.TxRawFallback > 0 {
			fmt.Fprintf(w, "    sent on the packet socket %d, through the raw socket %d\n", s.TxPacketSocket, s.TxRawFallback)
		}
		if s.RxCoalesced > 0 {
			fmt.Fprintf(w, "    coalesced by the underlay's GRO and split: %d\n", s.RxCoalesced)
		}
		if len(s.Drops) > 0 {
			fmt.Fprintf(w, "    drops: %s\n", formatDrops(s.Drops))
		}
	}
	if stats {
		g := st.Global
		fmt.Fprintf(w, "no tunnel: ICMP port unreachable sent %d, rate-limited %d; raw receive errors %d", g.PortUnreachables, g.RateLimited, g.ReceiveErrors)
		if len(g.Drops) > 0 {
			fmt.Fprintf(w, "; drops: %s", formatDrops(g.Drops))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "ICMP errors about outer packets: %d received", g.OuterErrors)
		if g.FragNeededDiscarded > 0 {
			fmt.Fprintf(w, ", %d frag needed discarded (net.ipv4.ip_no_pmtu_disc)", g.FragNeededDiscarded)
		}
		fmt.Fprintln(w)
	}
}

func formatDrops(drops map[string]uint64) string {
	keys := make([]string, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
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
