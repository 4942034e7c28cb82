package e2e

import (
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/lab"
)

// TestTrace runs `ipipd trace` against a daemon while node1 pings node2:
// each echo request shows up as a transmit line (next hop, outer header
// built as iptunnel_xmit would, with the outer source explain names) and
// each reply as a receive line (the ingress link by name, the tunnel
// ip_tunnel_lookup chose, ECN decapsulation, delivery), each after the
// time and with the inner fragment flags. A second
// trace is refused while the first runs, and Ctrl-C ends the first cleanly.
func TestTrace(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	warmUp(t, l.nodes[0], tunnelAddr(1))

	trace := exec.Command(ipipdBin, "trace", "--control", node1.control)
	var out lab.LockedBuffer
	trace.Stdout = &out
	trace.Stderr = &out
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	defer trace.Process.Kill()

	// The first trace is installed once it prints a packet: ping until it
	// does, then a second trace must be refused.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "tx tunl0") && time.Now().Before(deadline) {
		l.nodes[0].Ping(tunnelAddr(1), time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if _, stderr, err := runBinarySplit(5*time.Second, "trace", "--control", node1.control); err == nil || !strings.Contains(stderr, "already running") {
		t.Errorf("a second trace was not refused while the first ran: %v\n%s", err, stderr)
	}
	if err := pingThenInterrupt(t, l, trace, "ipipd trace"); err != nil {
		t.Errorf("ipipd trace did not exit 0 on Ctrl-C: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"tx tunl0: " + tunnelAddr(0).String() + " > " + tunnelAddr(1).String(),
		"flags [DF] offset 0 len 33 | next hop " + underlayAddr(1).String(), // NS.Ping: ICMP echo, 5 bytes of data
		"| iptunnel_xmit: " + engine.OuterSource(netip.IPv4Unspecified()) + " > " + underlayAddr(1).String(),
		"rx eth0: " + underlayAddr(1).String() + " > " + underlayAddr(0).String(),
		"| ip_tunnel_lookup: tunl0 | ECN decapsulate: unchanged | deliver " + tunnelAddr(1).String() + " > " + tunnelAddr(0).String() + " proto 1 flags [",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("trace output lacks %q:\n%s", want, got)
		}
	}
	// Every packet line starts with the time, as tcpdump's do.
	stamp := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{6} [rt]x `)
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if strings.Contains(line, "tunl0") && !stamp.MatchString(line) {
			t.Errorf("a trace line does not start with the time: %q", line)
		}
	}
	// With the trace gone (the daemon notices the closed connection at once,
	// but give it a moment), a new one may start: it runs until killed.
	started := false
	deadline = time.Now().Add(5 * time.Second)
	for !started && time.Now().Before(deadline) {
		_, _, err := runBinarySplit(500*time.Millisecond, "trace", "--control", node1.control)
		started = err != nil && strings.Contains(err.Error(), "timed out")
	}
	if !started {
		t.Errorf("no trace could start after the first ended")
	}
}

// pingThenInterrupt pings node2 from node1 three times while trace runs,
// then ends trace with Ctrl-C as a user would and returns how it exited.
// The test stops at once if a ping fails or trace has not ended in 5 s.
func pingThenInterrupt(t *testing.T, l *lan, trace *exec.Cmd, what string) error {
	t.Helper()
	for i := 0; i < 3; i++ {
		if err := l.nodes[0].Ping(tunnelAddr(1), 2*time.Second); err != nil {
			t.Fatalf("ping during the trace: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	trace.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- trace.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not stop on Ctrl-C", what)
	}
	return nil
}
