package lab_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m) }

// exists reports whether a named namespace exists.
func exists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// TestBridgeLAN builds the three-node mesh underlay, pings between every
// pair of members, and checks that the namespaces are gone after cleanup.
func TestBridgeLAN(t *testing.T) {
	lab.Require(t)
	var names []string
	t.Run("mesh", func(t *testing.T) {
		hub := lab.New(t, "hub")
		nodes := []*lab.NS{lab.New(t, "node1"), lab.New(t, "node2"), lab.New(t, "node3")}
		addrs := lab.NewBridgeLAN(t, hub, netip.MustParsePrefix("10.245.1.0/24"), nodes...)
		names = []string{hub.Name(), nodes[0].Name(), nodes[1].Name(), nodes[2].Name()}

		want := []netip.Addr{
			netip.MustParseAddr("10.245.1.2"),
			netip.MustParseAddr("10.245.1.3"),
			netip.MustParseAddr("10.245.1.4"),
		}
		for i := range want {
			if addrs[i] != want[i] {
				t.Fatalf("member %d got %v, want %v", i, addrs[i], want[i])
			}
		}
		for i, from := range nodes {
			for j, to := range addrs {
				if i == j {
					continue
				}
				if err := from.Ping(to, 5*time.Second); err != nil {
					t.Error(err)
				}
			}
		}
		if out := nodes[0].Run(t, "ip", "-br", "addr", "show", "dev", "eth0"); !strings.Contains(out, "10.245.1.2/24") {
			t.Errorf("node1 eth0: %q, want 10.245.1.2/24", out)
		}
		for _, n := range names {
			if !exists(n) {
				t.Errorf("namespace %s missing while the test runs", n)
			}
		}
	})
	for _, n := range names {
		if exists(n) {
			t.Errorf("namespace %s still exists after cleanup", n)
		}
	}
}

// TestVeth connects two namespaces and checks addresses, reachability and
// that nothing was created in the host namespace.
func TestVeth(t *testing.T) {
	lab.Require(t)
	a, b := lab.New(t, "a"), lab.New(t, "b")
	lab.Veth(t, a, "va", netip.MustParsePrefix("10.245.7.1/24"), b, "vb", netip.MustParsePrefix("10.245.7.2/24"))
	if err := a.Ping(netip.MustParseAddr("10.245.7.2"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if a.Ifindex(t, "va") <= 1 || b.Ifindex(t, "vb") <= 1 {
		t.Error("veth ifindex should be above lo's 1")
	}
	if err := a.Ping(netip.MustParseAddr("10.245.7.99"), 300*time.Millisecond); err == nil {
		t.Error("Ping of an absent address succeeded")
	}
	if _, err := os.Stat("/sys/class/net/va"); err == nil {
		t.Error("interface va appeared in the host namespace")
	}
	if _, err := a.Try("ip", "link", "show", "dev", "vb"); err == nil {
		t.Error("vb should live only in namespace b")
	}
}

// TestStartStop starts a process that exits on SIGTERM, then one that
// ignores it, and checks that Stop ends both.
func TestStartStop(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "proc")
	p := ns.Start(t, "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done")
	waitFor(t, func() bool { return strings.Contains(p.Output(), "started") })
	if err := p.Wait(100 * time.Millisecond); err == nil {
		t.Fatal("Wait returned nil for a running process")
	}
	if err := p.Stop(lab.StopTimeout); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !strings.Contains(p.Output(), "bye") {
		t.Errorf("output %q lacks the TERM handler's line", p.Output())
	}

	q := ns.Start(t, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
	waitFor(t, func() bool { return strings.Contains(q.Output(), "ready") })
	if err := q.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(5 * time.Second); err == nil {
		t.Error("a killed process should report a non-nil exit status")
	}
}

// TestDo checks that Do runs in the namespace and leaves the caller's alone.
func TestDo(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "do")
	host := threadNamespace(t)
	var inside string
	if err := ns.Do(func() error {
		var err error
		inside, err = os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == host {
		t.Errorf("Do ran in the host namespace %s", host)
	}
	if after := threadNamespace(t); after != host {
		t.Errorf("namespace after Do %s, want %s", after, host)
	}
}

// TestCleanupStale fakes a leftover from a dead process and checks that
// CleanupStale deletes it while keeping this process's own namespaces.
func TestCleanupStale(t *testing.T) {
	lab.Require(t)
	live := lab.New(t, "live")
	// PID 0x7ffffffe is above pid_max on any Linux system, so it is never alive.
	stale := fmt.Sprintf("%s%d-abcdef-stale", lab.TestPrefix, 0x7ffffffe)
	if out, err := live.Try("ip", "netns", "add", stale); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { os.Remove("/run/netns/" + stale) })
	removed, err := lab.CleanupStale(lab.TestPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, stale) {
		t.Errorf("CleanupStale removed %q, not the stale %s", removed, stale)
	}
	if exists(stale) {
		t.Errorf("stale namespace %s survived CleanupStale", stale)
	}
	if !exists(live.Name()) {
		t.Errorf("CleanupStale deleted the live namespace %s", live.Name())
	}
}

// threadNamespace names the current thread's network namespace. Outside Do
// every thread of the test binary is in the host namespace.
func threadNamespace(t *testing.T) string {
	target, err := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
