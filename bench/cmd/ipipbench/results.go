package main

import (
	"encoding/json"
	"os"
	"time"
)

// The tests of a case, in the order they run. Ping goes first, on an idle
// path (after the reachability probe has resolved every neighbour).
const (
	testPing    = "ping"
	testTCP1    = "tcp1"
	testTCP4    = "tcp4"
	testUDP64   = "udp64"
	testUDP1400 = "udp1400"
)

var testOrder = []string{testPing, testTCP1, testTCP4, testUDP64, testUDP1400}

// results is everything one run measured; it is written as the JSON file
// beside the table.
type results struct {
	Meta meta       `json:"meta"`
	Runs []*caseRun `json:"runs"` // in the order they ran: rep by rep, case by case
}

type meta struct {
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Command   string    `json:"command"`
	Kernel    string    `json:"kernel"`
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"go_version"`
	Iperf3    string    `json:"iperf3"`
	Binary    string    `json:"binary"`
	Source    string    `json:"source,omitempty"` // commit the binary was built from
	// WireGuardGo names the wireguard-go binary of the wireguard-go case.
	WireGuardGo string   `json:"wireguard_go,omitempty"`
	Reps        int      `json:"reps"`
	Seconds     int      `json:"seconds_per_test"`
	Cases       []string `json:"cases"`
	// Underlay is how the veth pair was set up (-underlay); empty in runs
	// made before the option, which were all "veth".
	Underlay   string `json:"underlay,omitempty"`
	Check      bool   `json:"check"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
	// LoadMax is the highest 1-minute load average seen at a case's start:
	// other work on the machine competes with the measurement.
	LoadMax     float64 `json:"loadavg_max"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

// caseRun is one case in one repetition.
type caseRun struct {
	Rep  int    `json:"rep"`
	Case string `json:"case"`
	// Ran is true once the case was set up (daemons answering); Error
	// says why it failed, before or during its tests.
	Ran     bool         `json:"ran"`
	Error   string       `json:"error,omitempty"`
	Tests   []*testRun   `json:"tests"`
	Daemons []*daemonRun `json:"daemons,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
	Load    string       `json:"loadavg_at_start"`
}

// testRun is one test's result.
type testRun struct {
	Test  string       `json:"test"`
	Error string       `json:"error,omitempty"`
	Iperf *iperfResult `json:"iperf,omitempty"`
	Ping  *pingResult  `json:"ping,omitempty"`
	// Gbps is received bits per second / 1e9 (TCP); PPS is received
	// packets per second (UDP).
	Gbps float64 `json:"gbit_per_s,omitempty"`
	PPS  float64 `json:"packets_per_s,omitempty"`
	// DaemonCPU is the CPU seconds each daemon (ipipd, wireguard-go) used
	// during the test, by side.
	DaemonCPU map[string]float64 `json:"daemon_cpu_seconds,omitempty"`
	// Threads is how each daemon's threads shared that time, by side.
	Threads map[string]threadUse `json:"daemon_threads,omitempty"`
	// CPUPerGB is both daemons' CPU seconds per 10^9 bytes received (TCP).
	CPUPerGB float64 `json:"daemon_cpu_s_per_gb,omitempty"`
	// Seconds is the test's wall time; OtherCPU the CPU seconds that
	// processes outside the run used meanwhile (see interference.go).
	Seconds  float64 `json:"wall_seconds"`
	OtherCPU float64 `json:"other_processes_cpu_seconds"`
	StealCPU float64 `json:"steal_cpu_seconds,omitempty"`
	// Counters is what changed along the path during the test.
	Counters netCounters `json:"counters_delta,omitempty"`
}

// daemonRun is one daemon process over one case.
type daemonRun struct {
	Side string `json:"side"`
	PID  int    `json:"pid"`
	Kind string `json:"kind,omitempty"` // ipipd or wireguard-go ("" in runs before it was kept: ipipd)
	Dev  string `json:"dev,omitempty"`  // its TUN device
	// PeakRSSKiB is VmHWM after the TCP tests; PeakRSSEndKiB at the end.
	PeakRSSKiB    int64  `json:"peak_rss_kib"`
	PeakRSSEndKiB int64  `json:"peak_rss_end_kib"`
	TUN           string `json:"tun_device,omitempty"` // `ip -d link` details of its TUN
	// Start and End are ipipd's counters; for wireguard-go, which keeps
	// none, its TUN device's (ip -s link).
	Start   totals `json:"counters_start"`
	End     totals `json:"counters_end"`
	LogTail string `json:"log_tail,omitempty"`
}

// totals are a daemon's counters summed over its tunnels.
type totals struct {
	RxPackets, RxErrors, RxDropped, TxPackets, TxErrors, TxDropped uint64
}

func totalsOf(st *showStatus) totals {
	var t totals
	for _, tu := range st.Tunnels {
		s := tu.Stats
		t.RxPackets += s.RxPackets
		t.RxErrors += s.RxErrors
		t.RxDropped += s.RxDropped
		t.TxPackets += s.TxPackets
		t.TxErrors += s.TxErrors
		t.TxDropped += s.TxDropped
	}
	return t
}

// test returns the run of test name, or nil.
func (c *caseRun) test(name string) *testRun {
	for _, t := range c.Tests {
		if t.Test == name {
			return t
		}
	}
	return nil
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
