package main

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// Trimmed iperf 3.12 -J reports.
const (
	iperfTCPJSON = `{"end":{"sum_sent":{"seconds":1.0,"bytes":1336803328,"bits_per_second":1.0678e10,"retransmits":5166},
"sum_received":{"seconds":1.001,"bytes":1336803328,"bits_per_second":1.0679e10},
"cpu_utilization_percent":{"host_total":80.5,"remote_total":60.1}}}`
	iperfUDPJSON = `{"end":{"sum":{"seconds":1.003,"bytes":6923520,"packets":108180,"lost_packets":56349,"lost_percent":52.09},
"sum_sent":{"seconds":1.003,"bytes":6923520,"packets":108180},
"sum_received":{"seconds":1.003362,"bytes":3309312,"packets":108057,"lost_packets":56349,"lost_percent":52.09}}}`
	iperfUDPOldJSON = `{"end":{"sum":{"seconds":2,"bytes":640000,"packets":10000,"lost_packets":2000,"lost_percent":20}}}`
	iperfErrorJSON  = `{"start":{},"intervals":[],"end":{},"error":"unable to connect to server: Connection refused"}`
)

func TestParseIperf(t *testing.T) {
	r, err := parseIperf([]byte(iperfTCPJSON), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.BitsPerSecond != 1.0679e10 || r.Bytes != 1336803328 || r.Retransmits != 5166 || r.SenderCPU != 80.5 {
		t.Errorf("TCP: %+v", r)
	}

	r, err = parseIperf([]byte(iperfUDPJSON), true)
	if err != nil {
		t.Fatal(err)
	}
	// Received = the receiver's packets minus lost = 51708 = bytes / 64.
	if r.Packets != 51708 || r.Packets*64 != r.Bytes || r.Sent != 108180 || r.Lost != 56349 {
		t.Errorf("UDP: %+v", r)
	}
	if pps := r.packetsPerSecond(); math.Abs(pps-51708/1.003362) > 1e-6 {
		t.Errorf("UDP pps %v", pps)
	}

	r, err = parseIperf([]byte(iperfUDPOldJSON), true)
	if err != nil || r.Packets != 8000 || r.packetsPerSecond() != 4000 {
		t.Errorf("UDP without sum_received: %+v, %v", r, err)
	}

	if _, err := parseIperf([]byte(iperfErrorJSON), false); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("error report: %v", err)
	}
	if _, err := parseIperf([]byte("iperf3: error - unable to connect"), false); err == nil {
		t.Error("non-JSON output accepted")
	}
}

func TestProcParsers(t *testing.T) {
	// The name holds a space and a ')' to check the count starts after the last one.
	stat := "1234 (ipipd (x) y) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 130 7 3 20 0 9 0 100 1000000 2000 18446744073709551615"
	if s, err := parseStatCPU(stat); err != nil || s != 3.8 {
		t.Errorf("parseStatCPU = %v, %v; want 3.8 s", s, err)
	}
	if _, k := statCPUAndKind(stat); k {
		t.Error("ipipd taken for a kernel thread")
	}
	status := "Name:\tipipd\nVmPeak:\t  1000 kB\nVmHWM:\t    9412 kB\nVmRSS:\t    9000 kB\n"
	if v, err := parseStatusField(status, "VmHWM"); err != nil || v != 9412 {
		t.Errorf("VmHWM = %v, %v", v, err)
	}
	if _, err := parseStatusField(status, "VmSwap"); err == nil {
		t.Error("missing field found")
	}
}

func TestProcStat(t *testing.T) {
	busy, steal := parseProcStat("cpu  161822 0 59684 140473 851 10 5775 690 0 0\ncpu0 1 2 3\n")
	if math.Abs(busy-(161822+59684+10+5775)/100.0) > 1e-9 || steal != 6.9 {
		t.Errorf("busy %v steal %v", busy, steal)
	}
	kthread := "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 5 6 0 0 20 0 1 0 1 0 0"
	if s, k := statCPUAndKind(kthread); !k || s != 0.11 {
		t.Errorf("kthreadd: %v %v", s, k)
	}
}

func TestParsePing(t *testing.T) {
	out := `PING 10.245.9.2 (10.245.9.2) from 10.245.9.1 : 56(84) bytes of data.
64 bytes from 10.245.9.2: icmp_seq=1 ttl=64 time=0.031 ms
64 bytes from 10.245.9.2: icmp_seq=2 ttl=64 time=0.050 ms
64 bytes from 10.245.9.2: icmp_seq=3 ttl=64 time=0.040 ms

--- 10.245.9.2 ping statistics ---
rtt min/avg/max/mdev = 0.031/0.040/0.050/0.008 ms`
	r := parsePing(out)
	if r.Received != 3 || r.MedianMs != 0.040 {
		t.Errorf("%+v", r)
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if !math.IsNaN(median(nil)) || summarize(nil).ok() {
		t.Error("empty input has a median")
	}
	for _, c := range []struct{ max, step, top float64 }{{12.04, 2, 14}, {0.54, 0.1, 0.6}, {0, 1, 1}, {9.9, 2, 10}} {
		if step, top := ticks(c.max); math.Abs(step-c.step) > 1e-9 || math.Abs(top-c.top) > 1e-9 {
			t.Errorf("ticks(%v) = %v, %v; want %v, %v", c.max, step, top, c.step, c.top)
		}
	}
}

func TestCounters(t *testing.T) {
	c := netCounters{}
	addSNMP(c, "B", "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 0 5 3 4 0\nUdpLite: x\n")
	addRawDrops(c, "B", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"+
		"   4: 00000000:0004 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 17\n"+
		"   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2 2 0000000000000000 3\n")
	addLinkStats(c, "A", `[{"ifname":"lo","stats64":{"rx":{"dropped":1}}},{"ifname":"ipb0","stats64":{"rx":{"packets":5},"tx":{"packets":9,"dropped":7}}}]`)
	want := netCounters{"B udp InErrors": 5, "B udp RcvbufErrors": 4, "B udp InDatagrams": 10, "B udp OutDatagrams": 3, "B udp SndbufErrors": 0,
		"B raw drops": 20, "A ipb0 rx_packets": 5, "A ipb0 tx_packets": 9, "A ipb0 tx_dropped": 7}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %d, want %d", k, c[k], v)
		}
	}
	if len(c) != len(want) {
		t.Errorf("got %v", c)
	}
	before := netCounters{"B raw drops": 5, "A ipb0 tx_dropped": 7}
	d := c.sub(before)
	if d["B raw drops"] != 15 || d["A ipb0 tx_dropped"] != 0 {
		t.Errorf("sub: %v", d)
	}
	l := d.losses()
	if _, ok := l["A ipb0 tx_packets"]; ok || l["B raw drops"] != 15 || l["B udp RcvbufErrors"] != 4 {
		t.Errorf("losses: %v", l)
	}
}

// sampleResults is a run with a working kernel case, a working ipipd case
// and a failed one.
func sampleResults() *results {
	ok := func(rep int, name string, gbps float64, daemons bool) *caseRun {
		r := &caseRun{Rep: rep, Case: name, Ran: true}
		r.Tests = []*testRun{
			{Test: testPing, Ping: &pingResult{Sent: 20, Received: 20, MedianMs: 0.05}, Seconds: 1},
			{Test: testTCP1, Gbps: gbps, Iperf: &iperfResult{Bytes: int64(gbps * 1e9 / 8), Retransmits: 3}, Seconds: 1, DaemonCPU: map[string]float64{"A": 0.1, "B": 0.1}},
			{Test: testTCP4, Gbps: gbps * 1.5, Iperf: &iperfResult{Bytes: int64(gbps * 1.5e9 / 8)}, Seconds: 1},
			{Test: testUDP64, PPS: 1e5, Iperf: &iperfResult{Packets: 100000, Sent: 150000, LostPercent: 33.3}, Seconds: 1, OtherCPU: 0.5,
				Counters: netCounters{"A ipb0 tx_dropped": 50000, "A ipipd tx_packets": 100000, "B ipipd rx_packets": 100000}},
			{Test: testUDP1400, Error: "iperf3 client: timed out"},
		}
		if daemons {
			r.Daemons = []*daemonRun{{Side: "A", PeakRSSKiB: 9000, End: totals{RxPackets: 5, TxPackets: 5}}, {Side: "B", PeakRSSKiB: 9500, End: totals{RxPackets: 5, TxPackets: 5, RxErrors: 1}}}
		}
		return r
	}
	return &results{
		Meta: meta{Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Reps: 2, Seconds: 1, CPUs: 2, Cases: []string{"veth", "ipipd-naive", "ipipd"}},
		Runs: []*caseRun{
			ok(1, "veth", 10, false), ok(1, "ipipd-naive", 0.5, true),
			{Rep: 1, Case: "ipipd", Error: "setup: ipipd in A exited | level=ERROR msg=\"offload not implemented\""},
			ok(2, "veth", 12, false), ok(2, "ipipd-naive", 0.7, true),
			{Rep: 2, Case: "ipipd", Error: "setup: ipipd in A exited"},
		},
	}
}

func TestReport(t *testing.T) {
	md := markdownReport(sampleResults(), nil)
	for _, want := range []string{
		"| veth (ceiling) | 11.00 (10.00–12.00) |",
		"ceiling, not a target",
		"| ipipd | failed: rep 1: setup: ipipd in A exited \\| level=ERROR",
		"ipipd TCP-1 / ipipd-naive TCP-1: n/a (ipipd: rep 1: setup",
		"A ipb0 tx_dropped 50.0k",
		"| ipipd-naive | udp64 | sent 150.0k, received 100.0k (33.3% lost) |",
		"8.8 (8.8–8.8) / 9.3 (9.3–9.3)", // peak RSS in MiB
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	svg := svgChart(sampleResults())
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{"veth", "ipipd-naive", "failed: rep 1", "11.00", "TCP, 4 streams"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestCheckResults(t *testing.T) {
	p := checkResults(sampleResults())
	joined := strings.Join(p, "\n")
	for _, want := range []string{"udp1400 failed", "ipipd in B counted rx_errors +1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("check problems lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "ipipd (rep") {
		t.Errorf("a case that never ran was asserted on:\n%s", joined)
	}
	if p := checkResults(&results{Runs: []*caseRun{{Case: "ipipd"}}}); len(p) != 1 || !strings.Contains(p[0], "no case") {
		t.Errorf("nothing ran: %v", p)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-check", "-cases", "veth,ipipd-naive"})
	if err != nil || o.reps != 1 || o.duration != time.Second || o.out != "" || len(o.cases) != 2 {
		t.Errorf("-check: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-short", "-reps", "2", "-out", "/tmp/x"})
	if err != nil || o.reps != 2 || o.duration != time.Second || len(o.cases) != len(allCases) {
		t.Errorf("-short -reps 2: %+v, %v", o, err)
	}
	if o.underlay != "veth" {
		t.Errorf("default underlay %q, want veth", o.underlay)
	}
	o, err = parseFlags([]string{"-underlay", "napi", "-out", "/tmp/x"})
	if err != nil || o.underlay != "napi" || !strings.Contains(o.command(), "-underlay napi") {
		t.Errorf("-underlay napi: %+v, %v, command %q", o, err, o.command())
	}
	for _, bad := range [][]string{{"-cases", "wireguard"}, {"-duration", "1500ms"}, {"-reps", "0"}, {"extra"}, {"-underlay", "nic"}} {
		if _, err := parseFlags(append(bad, "-out", "/tmp/x")); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The ipipd cases differ by their flags alone; -cases names each.
func TestParseFlagsIPIPDCases(t *testing.T) {
	o, err := parseFlags([]string{"-cases", "ipipd,ipipd-packet,ipipd-packet-gso", "-out", "/tmp/x"})
	if err != nil || len(o.cases) != 3 || o.cases[2] != "ipipd-packet-gso" {
		t.Errorf("-cases ipipd,ipipd-packet,ipipd-packet-gso: %+v, %v", o.cases, err)
	}
}
