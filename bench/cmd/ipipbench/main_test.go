package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// requireE2E skips, loudly, when the benchmark cannot run here: not root,
// or a command it drives is missing. With IPIPD_E2E_REQUIRED=1 it fails
// (lab.Require).
func requireE2E(t *testing.T) {
	t.Helper()
	lab.Require(t, "iperf3", "ping", "ss")
}

// TestCheckShort runs `ipipbench -check -short -cases veth,ipipd-naive,ipipd`:
// every case must be set up, move data over TCP and UDP, and the daemons,
// in both the naive and the full-speed (offload) mode, must count packets
// and no errors. No speed is asserted. The whole run, the build of ipipd
// included, is bounded to 120 s.
func TestCheckShort(t *testing.T) {
	requireE2E(t)
	if testing.Short() {
		t.Skip("ipipbench: -short: the end-to-end check takes about 30 s")
	}
	opts, err := parseFlags([]string{"-check", "-short", "-cases", "veth,ipipd-naive,ipipd"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	res, err := benchmark(ctx, opts, testLog{t})
	if err != nil {
		t.Fatalf("benchmark: %v", err)
	}
	t.Logf("ran in %v\n%s", time.Since(start).Round(time.Second), markdownReport(res, nil))
	for _, r := range res.Runs {
		if !r.Ran {
			t.Errorf("case %s was not set up: %s", r.Case, r.Error)
		}
	}
	if len(res.Runs) != 3 {
		t.Errorf("%d case runs, want 3 (veth, ipipd-naive, ipipd)", len(res.Runs))
	}
	for _, p := range checkResults(res) {
		t.Error(p)
	}
	leftovers, _ := os.ReadDir("/run/netns")
	for _, e := range leftovers {
		if strings.HasPrefix(e.Name(), nsPrefix+strconv.Itoa(os.Getpid())+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// wireGuardEnv opts in to TestCheckWireGuardGo.
const wireGuardEnv = "IPIPBENCH_WIREGUARD"

// TestCheckWireGuardGo runs `ipipbench -check -short -cases wireguard-go`:
// wireguard-go, built as the benchmark builds it, set up with wg, must move
// data over TCP and UDP with no errors on its TUN devices. It is opt-in
// (IPIPBENCH_WIREGUARD=1), not part of CI: the first build fetches modules
// ipipd itself does not use (wireguard-go's golang.org/x/crypto, and the
// x/net and x/sys versions its go.mod names) from the network, which a CI
// machine need not reach, and the case measures another program, not an
// ipipd backend. Bounded to 120 s, the build included.
func TestCheckWireGuardGo(t *testing.T) {
	if os.Getenv(wireGuardEnv) != "1" {
		t.Skipf("ipipbench: the wireguard-go check is opt-in (%s=1): its first build fetches modules over the network", wireGuardEnv)
	}
	requireE2E(t)
	if _, err := exec.LookPath("wg"); err != nil {
		t.Fatalf("no wg command (wireguard-tools; scripts/deps.sh installs it): %v", err)
	}
	opts, err := parseFlags([]string{"-check", "-short", "-cases", "wireguard-go"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	res, err := benchmark(ctx, opts, testLog{t})
	if err != nil {
		t.Fatalf("benchmark: %v", err)
	}
	t.Logf("\n%s", markdownReport(res, nil))
	if len(res.Runs) != 1 || !res.Runs[0].Ran {
		var why []string
		for _, r := range res.Runs {
			why = append(why, r.Error)
		}
		t.Fatalf("wireguard-go was not set up: %s", strings.Join(why, "; "))
	}
	for _, p := range checkResults(res) {
		t.Error(p)
	}
	for _, d := range res.Runs[0].Daemons {
		if !strings.HasPrefix(d.TUN, "tun type tun") {
			t.Errorf("wireguard-go in %s: device %s is %q, want a TUN (userspace)", d.Side, d.Dev, d.TUN)
		}
	}
}

// testLog sends the benchmark's progress lines to t.Log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
