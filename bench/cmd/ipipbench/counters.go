package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ipipd/ipipd/internal/lab"
)

// netCounters is a flat snapshot of the counters along the path a packet
// takes, keyed "SIDE WHERE NAME" ("A ipb0 tx_dropped", "B udp RcvbufErrors",
// "B raw drops", "B ipipd rx_dropped"), so that the difference over a test
// shows where packets were lost.
type netCounters map[string]int64

// snapshotCounters reads, for each namespace: every link's statistics, the
// qdisc drops, the UDP and raw-socket drop counters, and the daemons'
// counters. A reading that fails is left out, not fatal: the numbers are
// diagnostics.
func snapshotCounters(ctx context.Context, t *topology, daemons []*daemon) netCounters {
	c := netCounters{}
	for _, s := range t.sides() {
		if out, err := lab.Run(ctx, cmdTimeout, "ip", "-n", s.ns, "-s", "-j", "link", "show"); err == nil {
			addLinkStats(c, s.name, out)
		}
		if out, err := lab.Run(ctx, cmdTimeout, "ip", inNS(s.ns, "tc", "-s", "-j", "qdisc", "show")...); err == nil {
			addQdiscStats(c, s.name, out)
		}
		if out, err := lab.Run(ctx, cmdTimeout, "ip", inNS(s.ns, "cat", "/proc/net/snmp")...); err == nil {
			addSNMP(c, s.name, out)
		}
		if out, err := lab.Run(ctx, cmdTimeout, "ip", inNS(s.ns, "cat", "/proc/net/raw")...); err == nil {
			addRawDrops(c, s.name, out)
		}
	}
	for _, d := range daemons {
		if st, err := d.show(ctx); err == nil {
			addDaemonStats(c, d.side, st)
		}
	}
	return c
}

func addLinkStats(c netCounters, side, js string) {
	var links []struct {
		Ifname  string `json:"ifname"`
		Stats64 struct {
			RX map[string]int64 `json:"rx"`
			TX map[string]int64 `json:"tx"`
		} `json:"stats64"`
	}
	if json.Unmarshal([]byte(js), &links) != nil {
		return
	}
	for _, l := range links {
		if l.Ifname == "lo" {
			continue
		}
		for k, v := range l.Stats64.RX {
			c[fmt.Sprintf("%s %s rx_%s", side, l.Ifname, k)] = v
		}
		for k, v := range l.Stats64.TX {
			c[fmt.Sprintf("%s %s tx_%s", side, l.Ifname, k)] = v
		}
	}
}

func addQdiscStats(c netCounters, side, js string) {
	var qdiscs []struct {
		Dev   string `json:"dev"`
		Drops int64  `json:"drops"`
	}
	if json.Unmarshal([]byte(js), &qdiscs) != nil {
		return
	}
	for _, q := range qdiscs {
		if q.Dev != "lo" {
			c[fmt.Sprintf("%s %s qdisc_drops", side, q.Dev)] += q.Drops
		}
	}
}

// addSNMP reads the Udp lines of /proc/net/snmp: a header line of names,
// then a line of values.
func addSNMP(c netCounters, side, text string) {
	var names []string
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, "Udp:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, v := range f {
			if i >= len(names) {
				break
			}
			switch names[i] {
			case "InErrors", "RcvbufErrors", "SndbufErrors", "InDatagrams", "OutDatagrams":
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					c[side+" udp "+names[i]] = n
				}
			}
		}
		return
	}
}

// addRawDrops sums the last column (drops) of /proc/net/raw: receive
// buffer overflows of raw sockets, i.e. outer packets ipipd read too late.
func addRawDrops(c netCounters, side, text string) {
	var sum int64
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[len(f)-1], 10, 64); err == nil {
			sum += n
		}
	}
	c[side+" raw drops"] = sum
}

func addDaemonStats(c netCounters, side string, st *showStatus) {
	p := side + " ipipd "
	for _, t := range st.Tunnels {
		s := t.Stats
		for k, v := range map[string]uint64{
			"rx_packets": s.RxPackets, "rx_errors": s.RxErrors, "rx_dropped": s.RxDropped,
			"tx_packets": s.TxPackets, "tx_errors": s.TxErrors, "tx_dropped": s.TxDropped,
		} {
			c[p+k] += int64(v)
		}
		for reason, v := range s.Drops {
			c[p+"drop_"+reason] += int64(v)
		}
	}
	for reason, v := range st.Global.Drops {
		c[p+"global_drop_"+reason] += int64(v)
	}
	c[p+"receive_errors"] = int64(st.Global.ReceiveErrors)
}

// sub returns after − before for the keys that changed.
func (after netCounters) sub(before netCounters) netCounters {
	d := netCounters{}
	for k, v := range after {
		if dv := v - before[k]; dv != 0 {
			d[k] = dv
		}
	}
	return d
}

// losses keeps the counters that count a lost or refused packet.
func (c netCounters) losses() netCounters {
	l := netCounters{}
	for k, v := range c {
		lk := strings.ToLower(k)
		if v > 0 && (strings.Contains(lk, "drop") || strings.Contains(lk, "error")) {
			l[k] = v
		}
	}
	return l
}

// keys in a stable order: side, then name.
func (c netCounters) keys() []string {
	ks := make([]string, 0, len(c))
	for k := range c {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
