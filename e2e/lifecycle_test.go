package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestRestartAfterSIGKILL kills a daemon with SIGKILL, which runs no clean-up,
// and starts it again with the same file and control path.
//
// Kernel behaviour relied on: a TUN device that is not persistent is deleted
// when its last descriptor closes, as the process dies, and with it its
// addresses, its routes in every table and its per-device sysctls. What is
// left is the control socket file, which the restart replaces and says so;
// traffic flows again within a couple of seconds of the restart.
func TestRestartAfterSIGKILL(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := node1.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := node1.proc.Wait(10 * time.Second); err == nil {
		t.Fatalf("ipipd exited 0 after SIGKILL")
	}
	if out := l.nodes[0].Run(t, "ip", "link", "show"); strings.Contains(out, "tunl0") {
		t.Errorf("tunl0 outlived the SIGKILLed daemon:\n%s", out)
	}
	if out := l.nodes[0].Run(t, "ip", "route", "show", "table", "all", "proto", "70"); strings.TrimSpace(out) != "" {
		t.Errorf("routes of the SIGKILLed daemon are left:\n%s", out)
	}
	if fi, err := os.Lstat(node1.control); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("expected the killed daemon's control socket to be left at %s: %v", node1.control, err)
	}

	begin := time.Now()
	node1.proc = l.nodes[0].Start(t, lab.RunArgs(ipipdBin, node1.config, node1.control)...)
	node1.waitReady(t)
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	took := time.Since(begin)
	t.Logf("restarted and forwarding in %v", took)
	if took > 3*time.Second {
		t.Errorf("traffic flowed again %v after the restart, want within 3 s", took)
	}
	if out := node1.proc.Output(); !strings.Contains(out, "replacing the control socket a stopped ipipd left") {
		t.Errorf("the restart did not say it replaced the stale control socket; its output:\n%s", out)
	}
}

// TestSIGTERMDuringStart sends SIGTERM while the daemon is still installing
// a config of many tunnels: it stops within a couple of seconds, exit 0,
// and leaves none of the devices it had made.
func TestSIGTERMDuringStart(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "sigterm")
	dir := t.TempDir()
	cfgPath, control := dir+"/many.yaml", dir+"/many.sock"
	if err := os.WriteFile(cfgPath, []byte(manyTunnels(400, 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := ns.Start(t, lab.RunArgs(ipipdBin, cfgPath, control)...)
	// Wait until it is part-way: some devices made, not all.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := ns.Try("ip", "-o", "link", "show")
		if strings.Count(out, ": m") >= 20 {
			break
		}
		if proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("ipipd made no devices in time (exited: %v); its output:\n%s", proc.Exited(), proc.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	begin := time.Now()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("ipipd after SIGTERM during start: %v (want exit 0); its output:\n%s", err, proc.Output())
	}
	took := time.Since(begin)
	t.Logf("stopped %v after SIGTERM", took)
	if took > 3*time.Second {
		t.Errorf("SIGTERM during start took %v to stop the daemon, want within 3 s", took)
	}
	if out, _ := ns.Try("ip", "-o", "link", "show"); strings.Contains(out, ": m") {
		t.Errorf("devices left after SIGTERM during start:\n%s", out)
	}
	if out, _ := ns.Try("ip", "route", "show", "table", "all", "proto", "70"); strings.TrimSpace(out) != "" {
		t.Errorf("routes left after SIGTERM during start:\n%s", out)
	}
}

// TestSIGHUPDuringReload sends a second SIGHUP while a long reload runs: the
// daemon reloads once more after it, so the file as it is after the second
// signal is what runs.
func TestSIGHUPDuringReload(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "rehup")
	d := startDaemon(t, ns, "rehup", manyTunnels(1, 1))
	before := strings.Count(d.proc.Output(), "msg=reloaded")
	d.write(t, manyTunnels(300, 10))
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	d.write(t, manyTunnels(2, 2))
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(d.proc.Output(), "msg=reloaded") < before+2 {
		if d.exited() || time.Now().After(deadline) {
			t.Fatalf("no second reload after a SIGHUP during a reload; its output:\n%s", lastLines(d.proc.Output(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := d.show(t); len(st.Tunnels) != 2 {
		t.Errorf("after the coalesced reload ipipd runs %d tunnels, want the last file's 2", len(st.Tunnels))
	}
}

// manyTunnels is a config of n point-to-point tunnels m0… with r routes
// each, inside the test's namespace.
func manyTunnels(n, r int) string {
	var b strings.Builder
	b.WriteString("tunnels:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: m%d\n    local: 10.31.0.1\n    remote: 10.32.%d.%d\n    mtu: 1400\n    addresses: [10.16.%d.%d/32]\n    routes:\n", i, i/250, i%250+1, i/250, i%250+1)
		for j := 0; j < r; j++ {
			k := i*r + j
			fmt.Fprintf(&b, "      - {to: 10.%d.%d.%d/28}\n", 64+k/4096, k/16%256, k%16*16)
		}
	}
	return b.String()
}
