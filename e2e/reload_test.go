package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestReloadAndStop checks the daemon's life cycle under traffic.
//
// Kernel behaviour checked: changing a tunnel's routes (`ip route add …
// dev tunl0`) leaves the device and the traffic through it alone, so a
// reload that only adds a route loses no packet; a refused change (the
// kernel's EINVAL for ttl 300, iproute2's refusal) leaves the running
// tunnel as it was; and, like deleting a tunnel, stopping the daemon
// removes its device and with it every address and route on it.
func TestReloadAndStop(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 3)
	for i := 1; i < 3; i++ {
		startDaemon(t, l.nodes[i], fmt.Sprintf("node%d", i+1), fallbackConfig(i, others(i, 3)))
	}
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1, 2}))
	if err := l.nodes[0].Ping(tunnelAddr(2), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// 100 pings 50 ms apart; SIGHUP with one more route in the middle.
	type result struct {
		out string
		ok  bool
	}
	done := make(chan result, 1)
	go func() {
		out, ok := ping(l.nodes[0], "-i", "0.05", "-c", "100", tunnelAddr(2).String())
		done <- result{out, ok}
	}()
	time.Sleep(2 * time.Second)
	node1.mustReload(t, fallbackConfig(0, []int{1, 2, 3}))
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ping -i 0.05 -c 100 did not finish within 20 s")
	}
	loss := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(r.out)
	if !r.ok || loss == nil || loss[1] != "100" || loss[2] != "100" {
		t.Errorf("ping across a reload that only adds a route lost packets:\n%s", lastLines(r.out, 4))
	}
	if out := l.nodes[0].Run(t, "ip", "route", "show", "192.168.44.0/24"); !strings.Contains(out, "dev tunl0") {
		t.Errorf("after the reload, no route 192.168.44.0/24 dev tunl0 in node1: %q", out)
	}
	if routes := node1.tunnel(t, "tunl0").Routes; len(routes) != 3 {
		t.Errorf("ipipd show lists %d routes after the reload, want 3: %+v", len(routes), routes)
	}

	// A broken file: refused, logged with the field, and nothing changes.
	if node1.reload(t, fallbackConfig(0, []int{1, 2}, "ttl: 300")) {
		t.Fatalf("ipipd accepted ttl: 300 on reload; its output:\n%s", node1.proc.Output())
	}
	time.Sleep(200 * time.Millisecond) // let every line of the refusal be logged
	if node1.exited() {
		t.Fatalf("ipipd exited after a bad reload: %v", node1.proc.Wait(0))
	}
	out := node1.proc.Output()
	refusal := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "reload refused") {
			refusal += line + "\n"
		}
	}
	t.Logf("refusal logged:\n%s", refusal)
	if !strings.Contains(refusal, "tunnels[0].ttl") || !strings.Contains(refusal, "300") {
		t.Errorf("the refusal does not name the field tunnels[0].ttl and its value 300:\n%s", refusal)
	}
	if got := node1.tunnel(t, "tunl0"); got.TTL != 0 || len(got.Routes) != 3 {
		t.Errorf("after a refused reload ipipd show says ttl %d with %d routes; want the running config (inherit, 3 routes)", got.TTL, len(got.Routes))
	}
	if err := l.nodes[0].Ping(tunnelAddr(2), 5*time.Second); err != nil {
		t.Errorf("traffic stopped after a refused reload: %v", err)
	}

	// SIGTERM: exit 0, and the device, addresses and routes are gone.
	if err := node1.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := node1.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("ipipd after SIGTERM: %v (want exit 0); its output:\n%s", err, node1.proc.Output())
	}
	if out := l.nodes[0].Run(t, "ip", "link", "show"); strings.Contains(out, "tunl0") {
		t.Errorf("tunl0 still exists in node1 after ipipd stopped:\n%s", out)
	}
	if out := l.nodes[0].Run(t, "ip", "route", "show", "table", "all"); strings.Contains(out, "192.168.") {
		t.Errorf("a 192.168.x route is left in node1 after ipipd stopped:\n%s", out)
	}
	if out := l.nodes[0].Run(t, "ip", "addr", "show"); strings.Contains(out, "192.168.") {
		t.Errorf("a 192.168.x address is left in node1 after ipipd stopped:\n%s", out)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
