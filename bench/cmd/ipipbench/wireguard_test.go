package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRepOrder(t *testing.T) {
	cases := []string{"veth", "wireguard-go", "ipipd"}
	for rep, want := range map[int][]string{
		1: {"veth", "wireguard-go", "ipipd"},
		2: {"wireguard-go", "ipipd", "veth"},
		3: {"ipipd", "veth", "wireguard-go"},
		4: {"veth", "wireguard-go", "ipipd"},
	} {
		if got := repOrder(cases, rep); !slices.Equal(got, want) {
			t.Errorf("rep %d: %v, want %v", rep, got, want)
		}
	}
	if !slices.Equal(cases, []string{"veth", "wireguard-go", "ipipd"}) {
		t.Errorf("repOrder changed its argument: %v", cases)
	}
}

func TestSpread(t *testing.T) {
	before := map[int]float64{1: 1.0, 2: 5.0, 3: 0.5}
	// Over 2 s: thread 1 used 1.5 s (0.75 of a core), thread 2 0.1 s
	// (0.05: idle), thread 3 exited, thread 4 was born and used 0.4 s.
	after := map[int]float64{1: 2.5, 2: 5.1, 4: 0.4}
	u := spread(before, after, 2)
	if u.Threads != 3 || u.Busy != 2 || u.Top != 0.75 {
		t.Errorf("spread = %+v, want 3 threads, 2 busy, top 0.75", u)
	}
}

func TestWireGuardDev(t *testing.T) {
	a, b := wireGuardDev("A"), wireGuardDev("B")
	if a == b || len(a) > 15 || !strings.HasSuffix(a, "a") {
		t.Errorf("devices %q and %q: want distinct names of at most 15 bytes (IFNAMSIZ − 1)", a, b)
	}
}

// wireGuardResults is a run of veth, wireguard-go and ipipd whose
// wireguard-go moves twice what ipipd does with both its threads.
func wireGuardResults() *results {
	mk := func(rep int, name, kind string, gbps float64) *caseRun {
		r := &caseRun{Rep: rep, Case: name, Ran: true}
		use := map[string]threadUse{"A": {Threads: 9, Busy: 4, Top: 0.4}, "B": {Threads: 8, Busy: 3, Top: 0.3}}
		cpu := map[string]float64{"A": 1.2, "B": 0.8}
		r.Tests = []*testRun{
			{Test: testPing, Ping: &pingResult{Sent: 20, Received: 20, MedianMs: 0.1 / gbps}, Seconds: 1},
			{Test: testTCP1, Gbps: gbps, Iperf: &iperfResult{Bytes: int64(gbps * 1e9 / 8)}, Seconds: 1, DaemonCPU: cpu, Threads: use},
			{Test: testTCP4, Gbps: gbps, Iperf: &iperfResult{Bytes: int64(gbps * 1e9 / 8)}, Seconds: 1, DaemonCPU: cpu, Threads: use},
			{Test: testUDP64, PPS: gbps * 1e5, Iperf: &iperfResult{Packets: 1, Sent: 2, LostPercent: 50}, Seconds: 1,
				Counters: netCounters{"A wgb1a tx_packets": 7, "B wgb1b rx_packets": 6, "A ulA tx_packets": 3, "B ulB rx_packets": 3}},
			{Test: testUDP1400, PPS: gbps * 1e5, Iperf: &iperfResult{Packets: 1, Sent: 2, LostPercent: 50}, Seconds: 1},
		}
		if kind == "" {
			for _, t := range r.Tests {
				t.DaemonCPU, t.Threads = nil, nil
			}
			return r
		}
		r.Daemons = []*daemonRun{{Side: "A", Kind: kind, Dev: "wgb1a"}, {Side: "B", Kind: kind, Dev: "wgb1b"}}
		if kind == kindIPIPD {
			r.Daemons[0].Dev, r.Daemons[1].Dev = ipipDev, ipipDev
		}
		return r
	}
	return &results{
		Meta: meta{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Reps: 1, Seconds: 1, CPUs: 2,
			Cases: []string{"veth", "wireguard-go", "ipipd"}, WireGuardGo: "golang.zx2c4.com/wireguard@v0.0.0-x"},
		Runs: []*caseRun{mk(1, "veth", "", 10), mk(1, "wireguard-go", kindWireGuard, 2), mk(1, "ipipd", kindIPIPD, 1)},
	}
}

func TestReportAgainstWireGuard(t *testing.T) {
	md := markdownReport(wireGuardResults(), nil)
	for _, want := range []string{
		"- wireguard-go: golang.zx2c4.com/wireguard@v0.0.0-x",
		"| case ÷ wireguard-go |",
		"| ipipd | 0.50 | 0.50 | 0.50 | 0.50 | 2.00 | 2.00 |", // half the bytes for the same CPU, twice the RTT
		"| veth | 5.00 | 5.00 | 5.00 | 5.00 | n/a (kernel) | 0.20 |",
		"| wireguard-go | tcp1 | 1.20 | 4 / 9 | 0.40 | 0.80 | 3 / 8 | 0.30 |",
		"| wireguard-go | udp64 | sent 2, received 1 (50.0% lost) | none counted | 3 → 3 (veth) | 7 → 6 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	_, threads, _ := strings.Cut(md, "## Daemon CPU and threads")
	threads, _, _ = strings.Cut(threads, "\n## ")
	if strings.Contains(threads, "| veth |") {
		t.Errorf("a kernel case in the thread table:\n%s", threads)
	}
}

func TestCheckNamesWireGuardCounters(t *testing.T) {
	res := wireGuardResults()
	res.Runs[1].Daemons[1].End = totals{RxPackets: 5, TxPackets: 5, TxErrors: 2}
	res.Runs[1].Daemons[0].End = totals{RxPackets: 5, TxPackets: 5}
	joined := strings.Join(checkResults(res), "\n")
	if !strings.Contains(joined, "wireguard-go's TUN wgb1b in B counted rx_errors +0, tx_errors +2") {
		t.Errorf("check problems:\n%s", joined)
	}
}
