package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// dev is the TUN device of side's daemon (ipb0 for runs from before the
// device was kept).
func (cs *caseSummary) dev(side string) string {
	if d := cs.devs[side]; d != "" {
		return d
	}
	return ipipDev
}

// outputPaths are the files one run writes.
type outputPaths struct{ md, json, svg string }

func (p *outputPaths) list() []string { return []string{p.md, p.json, p.svg} }

// writeOutputs writes the table, the raw JSON and the chart into dir as
// e2e-YYYYMMDD-HHMMSS.{md,json,svg} (UTC).
func writeOutputs(res *results, dir string) (*outputPaths, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "e2e-"+res.Meta.Started.Format("20060102-150405"))
	p := &outputPaths{md: base + ".md", json: base + ".json", svg: base + ".svg"}
	if err := res.writeJSON(p.json); err != nil {
		return p, err
	}
	if err := os.WriteFile(p.svg, []byte(svgChart(res)), 0o644); err != nil {
		return p, err
	}
	return p, os.WriteFile(p.md, []byte(markdownReport(res, p)), 0o644)
}

// markdownReport is the whole report: conditions, the table, ratios, where
// packets were lost, notes and method. paths, when not nil, are linked.
func markdownReport(res *results, paths *outputPaths) string {
	var b strings.Builder
	m := res.Meta
	sums := summarizeCases(res)
	fmt.Fprintf(&b, "# ipipd end-to-end benchmark, %s\n\n", m.Started.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs, %s, %s\n", m.Kernel, m.CPUs, m.GoVersion, m.Iperf3)
	if m.Binary != "" {
		src := ""
		if m.Source != "" {
			src = " at " + m.Source
		}
		fmt.Fprintf(&b, "- ipipd: %s%s\n", m.Binary, src)
	}
	if m.WireGuardGo != "" {
		fmt.Fprintf(&b, "- wireguard-go: %s\n", m.WireGuardGo)
	}
	fmt.Fprintf(&b, "- run: `%s`: %d repetition(s), cases interleaved within each (their order turned by one each repetition), %d s per iperf3 test; %s\n",
		m.Command, m.Reps, m.Seconds, m.Finished.Sub(m.Started).Round(1e9))
	switch m.Underlay {
	case "napi":
		b.WriteString("- underlay: veth with GRO and threaded NAPI on both ends (`-underlay napi`): received packets are merged and handled by a kernel thread, as behind a NIC\n")
	default:
		b.WriteString("- underlay: veth as created (no NAPI): each packet is received in its sender's system call, on its CPU, never merged\n")
	}
	fmt.Fprintf(&b, "- load average (1/5/15 min) before: %s, after: %s\n", m.LoadBefore, m.LoadAfter)
	if med, hi, ok := otherLoad(res); ok {
		fmt.Fprintf(&b, "- other processes on the machine used %.2f CPUs during a test (median over tests; max %.2f) of %d", med, hi, m.CPUs)
		if hi > 0.25 {
			b.WriteString(": **the run competed with other work**; compare cases within this run (interleaving spreads the noise), not across runs")
		}
		b.WriteString("\n")
	}
	if m.Interrupted {
		b.WriteString("- **interrupted**: the numbers cover only the repetitions that ran\n")
	}
	b.WriteString("\nMedians over the repetitions, (min–max) in parentheses; [n/N] when only n of N repetitions gave a number.\n\n")
	b.WriteString(table(sums, m.Reps))
	if hasCase(sums, "veth") || hasCase(sums, "vxlan") {
		b.WriteString("\n" + ceilingNote + "\n")
	}
	if paths != nil {
		fmt.Fprintf(&b, "\n![TCP throughput per case](%s)\n\nRaw numbers of every repetition: [%s](%s)\n",
			filepath.Base(paths.svg), filepath.Base(paths.json), filepath.Base(paths.json))
	}
	b.WriteString("\n## Ratios (of medians)\n\n")
	if hasCase(sums, "wireguard-go") {
		b.WriteString(wireGuardRatios(sums))
		b.WriteString("\nOther ratios:\n\n")
	}
	b.WriteString(ratios(sums))
	b.WriteString("\n## Where packets were lost\n\n")
	b.WriteString(lossTable(sums))
	b.WriteString("\n## Daemon CPU and threads\n\n")
	b.WriteString(threadTable(sums))
	b.WriteString("\n## Daemon CPU and competing load\n\n")
	b.WriteString(loadTable(sums))
	if n := notes(sums); n != "" {
		b.WriteString("\n## Notes and failures\n\n")
		b.WriteString(n)
	}
	b.WriteString("\n## Cases and method\n\n")
	for _, cs := range sums {
		fmt.Fprintf(&b, "- `%s`: %s\n", cs.name, cs.about)
	}
	b.WriteString(method)
	return b.String()
}

const method = `
Namespaces A and B joined by a veth pair (10.245.9.1/24, 10.245.9.2/24, MTU
1500). iperf3 client in A, one-shot server in B. Cases run one at a time,
each set up and torn down in turn; every repetition runs them all, in an
order turned by one place from the last, so that the cases compared met the
same machine. TCP: end.sum_received of iperf3 -J. UDP (-b 0, unlimited):
packets the receiver got (its packets minus lost_packets) per second of its
interval; loss is iperf3's lost_percent. Ping: 20 echo requests 10 ms apart
on the idle path, median RTT. Daemon CPU-s/GB: utime+stime of both daemon
processes, ipipd or wireguard-go (/proc/PID/stat, 100 ticks/s), over the TCP
tests, divided by the bytes received (10^9 bytes = 1 GB). Threads: each
daemon's /proc/PID/task/TID/stat before and after each test. Peak RSS: VmHWM
of each daemon after the TCP tests. Loss counters: the change during the
test of link statistics (ip -s link), qdisc drops, UDP
RcvbufErrors/SndbufErrors (/proc/net/snmp), raw-socket drops (/proc/net/raw)
and ipipd's own counters, in each namespace. Competing load: the machine's
busy CPU time during a test (/proc/stat) less what the run used (the
harness and its reaped children, the daemons, kernel threads).
`

func table(sums []*caseSummary, reps int) string {
	var b strings.Builder
	b.WriteString("| case | TCP 1 stream Gbit/s | TCP 4 streams Gbit/s | UDP 64 B kpps | UDP 64 B loss % | UDP 1400 B kpps | UDP 1400 B loss % | ping RTT ms | daemons CPU-s/GB (TCP) | daemon peak RSS MiB (A / B) |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, cs := range sums {
		if !cs.produced() {
			fmt.Fprintf(&b, "| %s | failed: %s | — | — | — | — | — | — | — | — |\n", cs.name, cell(shorten(cs.failure(), 160)))
			continue
		}
		name := cs.name
		if ceilingCases[cs.name] {
			name += " (ceiling)"
		}
		if cs.hasNote(offloadInactive) {
			name += " (offload not active, see notes)"
		}
		cpu, rss := "n/a (kernel)", "n/a (kernel)"
		if cs.daemons {
			cpu = fmtSummary(cs.metric(mCPUPerGB), 1, "%.2f", reps)
			rss = fmtSummary(cs.metric(mRSSA), 1.0/1024, "%.1f", reps) + " / " + fmtSummary(cs.metric(mRSSB), 1.0/1024, "%.1f", reps)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
			fmtSummary(cs.metric(mTCP1), 1, "%.2f", reps),
			fmtSummary(cs.metric(mTCP4), 1, "%.2f", reps),
			fmtSummary(cs.metric(mUDP64), 1e-3, "%.0f", reps),
			fmtSummary(cs.metric(mUDP64Loss), 1, "%.1f", reps),
			fmtSummary(cs.metric(mUDP1400), 1e-3, "%.0f", reps),
			fmtSummary(cs.metric(mUDP1400L), 1, "%.1f", reps),
			fmtSummary(cs.metric(mPing), 1, "%.3f", reps),
			cpu, rss)
	}
	return b.String()
}

// ceilingCases are the kernel paths: reported, never a target.
var ceilingCases = map[string]bool{"veth": true, "vxlan": true}

// ceilingNote says why the kernel paths are a ceiling and not a target.
const ceilingNote = "veth and the kernel's VXLAN are the **ceiling, not a target**. TCP hands them 64 KiB GSO " +
	"super-packets, and a kernel path carries each one as one buffer: on veth it is never segmented, not even " +
	"by VXLAN, which encapsulates the whole super-packet once. A userspace tunnel crosses the kernel boundary " +
	"per packet (ipipd: one outer packet per 1480-byte segment through a raw or packet socket); no per-packet " +
	"design approaches that. The baseline ipipd is measured against is `wireguard-go`, the userspace tunnel in Go " +
	"people already run, measured in this same run.\n"

// hasCase reports whether the run had the case.
func hasCase(sums []*caseSummary, name string) bool {
	for _, cs := range sums {
		if cs.name == name {
			return true
		}
	}
	return false
}

// wireGuardRatios is every other case's medians divided by wireguard-go's,
// measured in the same run: above 1 is faster for throughput and packet
// rates, above 1 is more CPU per GB or a longer RTT for the last two.
func wireGuardRatios(sums []*caseSummary) string {
	var wg *caseSummary
	for _, cs := range sums {
		if cs.name == "wireguard-go" {
			wg = cs
		}
	}
	var b strings.Builder
	b.WriteString("Each case against `wireguard-go` in this run (case ÷ wireguard-go, medians). Throughput and packets/s: above 1 is faster. CPU-s/GB and RTT: below 1 is better.\n\n")
	b.WriteString("| case ÷ wireguard-go | TCP 1 stream | TCP 4 streams | UDP 64 B pps | UDP 1400 B pps | daemons CPU-s/GB | ping RTT |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, cs := range sums {
		if cs == wg {
			continue
		}
		cpu := "n/a (kernel)"
		if cs.daemons {
			cpu = ratio(cs, wg, mCPUPerGB)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", cs.name,
			cell(ratio(cs, wg, mTCP1)), cell(ratio(cs, wg, mTCP4)), cell(ratio(cs, wg, mUDP64)),
			cell(ratio(cs, wg, mUDP1400)), cell(cpu), cell(ratio(cs, wg, mPing)))
	}
	return b.String()
}

// threadTable shows, per daemon case and test, how many cores each
// daemon kept busy and with how many threads: where one daemon can use
// both CPUs and another cannot, the table says so.
func threadTable(sums []*caseSummary) string {
	var b strings.Builder
	b.WriteString("Per daemon and test (medians): cores = its CPU seconds ÷ the test's wall time; threads busy = threads that used at least ")
	fmt.Fprintf(&b, "%.0f %% of a core, of all its threads; top = the busiest thread's share of a core. ", busyShare*100)
	b.WriteString("The machine has as many cores as the header says, shared with iperf3 at both ends and the kernel's softirq work.\n\n")
	b.WriteString("| case | test | A cores | A threads busy / all | A top | B cores | B threads busy / all | B top |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	rows := 0
	for _, cs := range sums {
		if !cs.daemons {
			continue
		}
		for _, test := range []string{testTCP1, testTCP4, testUDP64, testUDP1400} {
			if !cs.metric(perDaemon(test, "A", "cores")).ok() {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s |", cs.name, test)
			for _, side := range []string{"A", "B"} {
				m := func(what, format string) string {
					s := cs.metric(perDaemon(test, side, what))
					if !s.ok() {
						return "—"
					}
					return fmt.Sprintf(format, s.Median)
				}
				fmt.Fprintf(&b, " %s | %s / %s | %s |", m("cores", "%.2f"), m("busy", "%.0f"), m("threads", "%.0f"), m("top", "%.2f"))
			}
			b.WriteString("\n")
			rows++
		}
	}
	if rows == 0 {
		return "(no daemon case in this run)\n"
	}
	return b.String()
}

// fmtSummary prints median (min–max) scaled by scale; "—" when no value.
func fmtSummary(s summary, scale float64, format string, reps int) string {
	if !s.ok() {
		return "—"
	}
	v := fmt.Sprintf(format, s.Median*scale)
	if s.N > 1 {
		v += fmt.Sprintf(" ("+format+"–"+format+")", s.Min*scale, s.Max*scale)
	}
	if s.N < reps {
		v += fmt.Sprintf(" [%d/%d]", s.N, reps)
	}
	return v
}

func ratios(sums []*caseSummary) string {
	find := func(name string) *caseSummary {
		for _, cs := range sums {
			if cs.name == name {
				return cs
			}
		}
		return nil
	}
	lines := []struct{ label, a, b, metric string }{
		{"ipipd TCP-1 / vxlan TCP-1", "ipipd", "vxlan", mTCP1},
		{"ipipd TCP-1 / ipipd-naive TCP-1", "ipipd", "ipipd-naive", mTCP1},
		{"ipipd UDP-64 pps / ipipd-naive UDP-64 pps", "ipipd", "ipipd-naive", mUDP64},
		{"ipipd-packet TCP-1 / vxlan TCP-1", "ipipd-packet", "vxlan", mTCP1},
		{"ipipd-packet TCP-1 / ipipd-naive TCP-1", "ipipd-packet", "ipipd-naive", mTCP1},
		{"ipipd-packet UDP-64 pps / ipipd-naive UDP-64 pps", "ipipd-packet", "ipipd-naive", mUDP64},
		{"ipipd-packet TCP-1 / ipipd TCP-1", "ipipd-packet", "ipipd", mTCP1},
		{"ipipd-naive TCP-1 / vxlan TCP-1", "ipipd-naive", "vxlan", mTCP1},
		{"vxlan TCP-1 / veth TCP-1", "vxlan", "veth", mTCP1},
	}
	var b strings.Builder
	for _, l := range lines {
		ca, cb := find(l.a), find(l.b)
		if ca == nil || cb == nil {
			continue // a case this run was not asked for
		}
		fmt.Fprintf(&b, "- %s: %s\n", l.label, ratio(ca, cb, l.metric))
	}
	if b.Len() == 0 {
		return "(none: the cases they compare were not all in this run)\n"
	}
	return b.String()
}

func ratio(a, b *caseSummary, metric string) string {
	x, y := a.metric(metric), b.metric(metric)
	switch {
	case !x.ok():
		return fmt.Sprintf("n/a (%s: %s)", a.name, shorten(a.failure(), 120))
	case !y.ok():
		return fmt.Sprintf("n/a (%s: %s)", b.name, shorten(b.failure(), 120))
	case y.Median == 0:
		return "n/a (division by zero)"
	}
	return fmt.Sprintf("%.2f", x.Median/y.Median)
}

// lossTable lists, per case and iperf3 test, what iperf3 saw, the
// counters along the path that counted lost or refused packets, and the
// packets ipipd moved: outer packets on the wire, and TUN packets, which
// are fewer than the segments when the offload backend batches them.
func lossTable(sums []*caseSummary) string {
	var b strings.Builder
	b.WriteString("A sends, B receives. Counter changes during each test, medians over the repetitions; only non-zero loss counters (drops, errors) are listed. ")
	b.WriteString("`A ipb0 tx_dropped` (`A wgb…a tx_dropped` for wireguard-go) is the sender's TUN queue overflowing: packets the kernel had for the daemon that it did not read in time. ")
	b.WriteString("Outer packets are ipipd's own counters; wireguard-go keeps none, so for it they are the veth's, where one UDP GSO super-packet counts once.\n\n")
	b.WriteString("| case | test | iperf3 | loss counters | outer packets (A tx → B rx) | TUN packets (A read → B written) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, cs := range sums {
		for _, t := range []struct{ test, main, loss, sent string }{
			{testTCP1, mTCP1, mTCP1Retr, ""},
			{testTCP4, mTCP4, mTCP4Retr, ""},
			{testUDP64, mUDP64, mUDP64Loss, mUDP64Sent},
			{testUDP1400, mUDP1400, mUDP1400L, mUDP1400S},
		} {
			if !cs.metric(t.main).ok() {
				continue
			}
			var seen string
			if t.sent == "" {
				seen = fmt.Sprintf("%.0f retransmits", cs.metric(t.loss).Median)
			} else {
				sent, loss := cs.metric(t.sent).Median, cs.metric(t.loss).Median
				seen = fmt.Sprintf("sent %s, received %s (%.1f%% lost)", count(int64(sent)), count(int64(math.Round(sent*(1-loss/100)))), loss)
			}
			c := cs.counters[t.test]
			var parts []string
			for _, k := range c.losses().keys() {
				if !strings.Contains(k, " lo ") {
					parts = append(parts, fmt.Sprintf("%s %s", k, count(c[k])))
				}
			}
			where := strings.Join(parts, "; ")
			if where == "" {
				where = "none counted"
			}
			outer, tun := "—", "—"
			if cs.daemons {
				outer = fmt.Sprintf("%s → %s", count(c["A ipipd tx_packets"]), count(c["B ipipd rx_packets"]))
				if cs.kind == kindWireGuard {
					outer = fmt.Sprintf("%s → %s (veth)", count(c["A "+vethA+" tx_packets"]), count(c["B "+vethB+" rx_packets"]))
				}
				devA, devB := cs.dev("A"), cs.dev("B")
				tun = fmt.Sprintf("%s → %s", count(c["A "+devA+" tx_packets"]), count(c["B "+devB+" rx_packets"]))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cs.name, t.test, seen, cell(where), outer, tun)
		}
	}
	return b.String()
}

// otherLoad is the CPUs other processes kept busy during the tests:
// median and max over all tests.
func otherLoad(res *results) (med, hi float64, ok bool) {
	var xs []float64
	for _, r := range res.Runs {
		for _, t := range r.Tests {
			if t.Seconds > 0 {
				xs = append(xs, t.OtherCPU/t.Seconds)
			}
		}
	}
	if len(xs) == 0 {
		return 0, 0, false
	}
	s := summarize(xs)
	return s.Median, s.Max, true
}

func loadTable(sums []*caseSummary) string {
	var b strings.Builder
	b.WriteString("| case | daemons' CPU-s during UDP-64 (A+B) | CPUs used by other processes during the tests |\n| --- | ---: | ---: |\n")
	for _, cs := range sums {
		if !cs.produced() {
			continue
		}
		cpu := "n/a"
		if cs.daemons {
			cpu = fmtSummary(cs.metric(mUDP64CPU), 1, "%.2f", 0)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", cs.name, cpu, fmtSummary(cs.metric(mOther), 1, "%.2f", 0))
	}
	return b.String()
}

// notes lists each case's failures and notes, each distinct text once.
func notes(sums []*caseSummary) string {
	var b strings.Builder
	for _, cs := range sums {
		var lines []string
		seen := map[string]bool{}
		addLine := func(s string) {
			if !seen[s] {
				seen[s] = true
				lines = append(lines, s)
			}
		}
		for _, e := range cs.errors {
			addLine("failed: " + e)
		}
		for _, t := range testOrder {
			for _, e := range cs.testErrors[t] {
				addLine(t + " failed: " + e)
			}
		}
		for _, r := range cs.runs {
			for _, n := range r.Notes {
				addLine(n)
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- `%s`:\n", cs.name)
		for _, l := range lines {
			fmt.Fprintf(&b, "  - %s\n", strings.ReplaceAll(l, "\n", " "))
		}
	}
	return b.String()
}

// count prints a packet count compactly: 1234567 → 1.23M.
func count(n int64) string {
	f := float64(n)
	switch a := math.Abs(f); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", f/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", f/1e3)
	}
	return fmt.Sprint(n)
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
