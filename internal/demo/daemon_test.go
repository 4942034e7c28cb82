package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDaemon is the stand-in for ipipd: it has ipipd's command line, brings
// up a TUN device named tunl0 and answers `show`, but moves no packets.
func fakeDaemon(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/fakedaemon.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// failingDaemon writes a binary that says why it fails and exits 1, as a
// daemon refusing its config or missing /dev/net/tun would.
func failingDaemon(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ipipd")
	script := "#!/bin/sh\necho \"ipipd: boom: cannot open /dev/net/tun\" >&2\nexit 1\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDaemonLifecycle starts the stand-in in node1, waits for it, asks it
// for its counters and stops it with SIGTERM.
func TestDaemonLifecycle(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n := topo.node("node1")
	dm := newDaemon(fakeDaemon(t), n, t.TempDir())
	t.Cleanup(func() { dm.stop() }) // before the topology's cleanup (LIFO)
	if err := dm.start(nodeConfig(n, topo.Nodes), false); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 20*time.Second)
	if err := dm.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg, err := os.ReadFile(dm.config); err != nil || !strings.Contains(string(cfg), "192.168.41.0/32") {
		t.Errorf("config file %s: %v\n%s", dm.config, err, cfg)
	}
	out, err := dm.show(ctx, true)
	if err != nil || !strings.Contains(out, "fake counters") {
		t.Errorf("show: %q, %v; want the stand-in's counters", out, err)
	}
	if err := dm.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !dm.hasExited() {
		t.Errorf("the daemon still runs after stop")
	}
	if up, _ := dm.tunnelUp(ctx); up {
		t.Errorf("tunl0 is still up after the stand-in stopped")
	}
	if _, err := dm.show(ctx, false); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("show after stop: %v, want an error saying the daemon is not running", err)
	}
	if log := dm.logTail(); !strings.Contains(log, "fakedaemon: stopped") {
		t.Errorf("log tail lacks the stand-in's last words:\n%s", log)
	}
}

// TestDaemonExitDuringSetUp checks a daemon that exits at once is reported
// at once, naming the node and quoting its log.
func TestDaemonExitDuringSetUp(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n := topo.node("node2")
	dm := newDaemon(failingDaemon(t), n, t.TempDir())
	t.Cleanup(func() { dm.stop() })
	if err := dm.start(nodeConfig(n, topo.Nodes), false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := dm.waitReady(testContext(t, 20*time.Second))
	if err == nil {
		t.Fatal("waitReady succeeded for a daemon that exited")
	}
	for _, want := range []string{"node2", "exited during set-up", "boom: cannot open /dev/net/tun", dm.log} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v to notice the exit; want well under the %v ready timeout", time.Since(start), readyTimeout)
	}
}

// TestDaemonNeverReady checks a daemon that runs but never brings tunl0 up
// is given up on after readyTimeout (shortened here), naming what is missing.
func TestDaemonNeverReady(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n := topo.node("node3")
	p := filepath.Join(t.TempDir(), "ipipd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho starting\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dm := newDaemon(p, n, t.TempDir())
	dm.readyTimeout = time.Second
	t.Cleanup(func() { dm.stop() })
	if err := dm.start(nodeConfig(n, topo.Nodes), false); err != nil {
		t.Fatal(err)
	}
	err := dm.waitReady(testContext(t, 20*time.Second))
	if err == nil || !strings.Contains(err.Error(), "not ready after 1s: tunl0 does not exist yet") || !strings.Contains(err.Error(), "starting") {
		t.Errorf("got %v; want an error saying tunl0 never appeared, with the log", err)
	}
	// A daemon stopped during set-up owes no clean exit: it may not
	// handle SIGTERM yet.
	if err := dm.stop(); err != nil || !dm.hasExited() {
		t.Errorf("stop: %v, exited %v; want nil and the process gone", err, dm.hasExited())
	}
}

// TestDaemonUncleanStop checks a ready daemon that SIGTERM kills instead of
// stopping cleanly is reported: its devices may be left behind.
func TestDaemonUncleanStop(t *testing.T) {
	requireNamespaces(t)
	topo := buildTopology(t)
	n := topo.node("node1")
	p := filepath.Join(t.TempDir(), "ipipd")
	script := "#!/bin/sh\n[ \"$1\" = show ] && exit 0\nip tuntap add dev tunl0 mode tun && ip link set dev tunl0 up && exec sleep 30\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dm := newDaemon(p, n, t.TempDir())
	t.Cleanup(func() { dm.stop() })
	if err := dm.start(nodeConfig(n, topo.Nodes), false); err != nil {
		t.Fatal(err)
	}
	if err := dm.waitReady(testContext(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := dm.stop(); err == nil || !strings.Contains(err.Error(), "did not exit cleanly on SIGTERM") {
		t.Errorf("stop: %v, want a note that SIGTERM killed it", err)
	}
}
