package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunChecksPrerequisites(t *testing.T) {
	err := Run(context.Background(), Options{Binary: "/nonexistent/ipipd"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ipipd") {
		t.Errorf("got %v, want an error naming the missing binary", err)
	}
	err = Run(context.Background(), Options{Binary: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Errorf("got %v, want an error saying a directory is not executable", err)
	}
}

// TestRunCleansUpAfterDaemonFailure runs the whole demo with a daemon that
// fails at start: Run must say which node failed and why, and remove every
// namespace it made.
func TestRunCleansUpAfterDaemonFailure(t *testing.T) {
	requirePing(t)
	before := demoNamespaces(t)
	var out bytes.Buffer
	err := Run(context.Background(), Options{Binary: failingDaemon(t), Out: &out, Timeout: 30 * time.Second})
	if err == nil {
		t.Fatalf("Run succeeded with a failing daemon:\n%s", out.String())
	}
	for _, want := range []string{"node1", "boom: cannot open /dev/net/tun"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for ns := range demoNamespaces(t) {
		if !before[ns] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if !strings.Contains(out.String(), "Cleaned up: stopped 3 daemons, deleted 4 namespaces") {
		t.Errorf("narrative lacks the clean-up line:\n%s\nerror: %v", out.String(), err)
	}
}

// TestRunWithStandIn runs the whole demo with the stand-in daemon, which
// comes up but carries no packets: every step must run and report, the
// pings and the capture must fail with messages saying what to check, and
// everything must be removed. This is Run's failure path end to end; its
// success path needs the real daemon.
func TestRunWithStandIn(t *testing.T) {
	requirePing(t)
	before := demoNamespaces(t)
	var out bytes.Buffer
	err := Run(context.Background(), Options{Binary: fakeDaemon(t), Out: &out, Timeout: 40 * time.Second})
	t.Logf("narrative:\n%s\nerror: %v", out.String(), err)
	if err == nil {
		t.Fatal("Run succeeded although the stand-in carries no packets")
	}
	for _, want := range []string{"6 of 6 pings across the tunnels got no reply", "no IPIP packet arrived on eth0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	for _, want := range []string{"node1: ipipd is up", "node3 -> node2", "FAILED", "fake counters", "The daemons' logs:", "Cleaned up: stopped 3 daemons"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("narrative lacks %q", want)
		}
	}
	for ns := range demoNamespaces(t) {
		if !before[ns] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// TestRunInterrupted cancels the demo while the daemons start and checks
// it stops early, says so and still cleans up.
func TestRunInterrupted(t *testing.T) {
	requirePing(t)
	before := demoNamespaces(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	w := &cancelOn{w: &out, marker: "Starting one ipipd per node", cancel: cancel}
	start := time.Now()
	err := Run(ctx, Options{Binary: fakeDaemon(t), Out: w, Timeout: 40 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("got %v, want an error saying the demo was interrupted", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("took %v after the interruption", time.Since(start))
	}
	for ns := range demoNamespaces(t) {
		if !before[ns] {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// cancelOn cancels when the narrative reaches marker, as a Ctrl-C would.
type cancelOn struct {
	w      *bytes.Buffer
	marker string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.marker)) {
		c.cancel()
	}
	return c.w.Write(p)
}
