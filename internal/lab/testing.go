package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// T is the part of testing.TB the test layer uses; *testing.T and
// *testing.B satisfy it. The lab does not import package testing, so that
// the demo, which is part of the ipipd binary, can use the rest.
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
}

// RequiredEnv names the environment variable that turns a skip into a
// failure. CI sets IPIPD_E2E_REQUIRED=1: an end-to-end test that cannot run
// there is a broken CI machine, not a reason to pass silently.
const RequiredEnv = "IPIPD_E2E_REQUIRED"

// TestPrefix starts the name of every namespace the test layer creates
// ("ipipdt-<pid>-<random>-<label>"): parallel test binaries never collide,
// and CleanupStale(TestPrefix), from a TestMain, can tell a leftover from
// a namespace another running binary still uses.
const TestPrefix = "ipipdt-"

// StopTimeout is how long the cleanup of NS.Start waits after SIGTERM
// before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// SkipOrFail skips the test with a loud reason, or fails it when
// RequiredEnv says a skip is not acceptable. .ci/run greps the output for
// "SKIPPING END-TO-END TEST".
func SkipOrFail(t T, reason string) {
	t.Helper()
	if os.Getenv(RequiredEnv) == "1" {
		t.Fatalf("lab: END-TO-END TEST CANNOT RUN: %s (%s=1 forbids skipping)", reason, RequiredEnv)
	}
	t.Skipf("lab: SKIPPING END-TO-END TEST: %s (set %s=1 to make this a failure)", reason, RequiredEnv)
}

var (
	probeOnce   sync.Once
	probeReason string // empty when namespaces can be built
)

// Require returns when the test can build network namespaces: it runs as
// root, `ip` and every command named in commands are installed, and a
// probe namespace can be created and removed (once per test binary).
// Otherwise it skips or fails the test (SkipOrFail), naming what is
// missing.
func Require(t T, commands ...string) {
	t.Helper()
	probeOnce.Do(func() { probeReason = probe() })
	if probeReason != "" {
		SkipOrFail(t, probeReason)
	}
	var missing []string
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		SkipOrFail(t, fmt.Sprintf("needs %s in PATH (scripts/deps.sh installs them)", strings.Join(missing, ", ")))
	}
}

// probe says what prevents building namespaces, or "" if nothing does.
func probe() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("needs root to create network namespaces, running as uid %d", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs the `ip` command (iproute2) in PATH"
	}
	ns, err := Add(context.Background(), Name(TestPrefix, "probe"), "probe")
	if err != nil {
		return err.Error()
	}
	if err := Remove(ns.name); err != nil {
		return err.Error()
	}
	return ""
}

// EnterFresh moves the calling test goroutine into a new, empty, unnamed
// network namespace (only a down lo), so a unit test can create devices,
// addresses and routes without touching the host's and without the `ip`
// command. It skips or fails when not root (SkipOrFail).
//
// A namespace belongs to an OS thread, not to a goroutine, so the goroutine
// is locked to its thread and never unlocked: when the test goroutine exits,
// the Go runtime ends the thread instead of handing a thread in the wrong
// namespace to other goroutines, and the namespace (with everything in it)
// disappears once its last thread and file descriptor are gone. Call it at
// the top of the test function itself, not in a t.Run parent: a subtest
// runs in a new goroutine that is not in the namespace. Sockets and TUN
// descriptors opened here stay in the namespace whatever goroutine later
// uses them.
func EnterFresh(t T) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		SkipOrFail(t, fmt.Sprintf("needs root to create a network namespace, running as uid %d", uid))
	}
	runtime.LockOSThread()
	ns, err := netns.New()
	if err != nil {
		SkipOrFail(t, fmt.Sprintf("cannot create a network namespace: %v", err))
	}
	t.Cleanup(func() { ns.Close() })
}

// New creates a namespace for the test (see Add), named TestPrefix, this
// process's PID, a random part and label. A t.Cleanup kills every process
// still in it and deletes it, even if the test fails or panics.
func New(t T, label string) *NS {
	t.Helper()
	ns, err := Add(context.Background(), Name(TestPrefix, label), label)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := Remove(ns.name); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
	return ns
}

// Veth is AddVeth failing the test on error.
func Veth(t T, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) {
	t.Helper()
	if err := AddVeth(context.Background(), a, aName, aAddr, b, bName, bAddr); err != nil {
		t.Fatalf("lab: %v", err)
	}
}

// NewBridgeLAN builds a LAN with AddBridge: a bridge in hub with one veth
// per member. The bridge gets the subnet's first host address (.1), and
// the members get the following ones in order (.2, .3, .4, …), which
// NewBridgeLAN returns. Each member's side of its veth is named "eth<N>",
// N counting the LANs that member has joined ("eth0" for the first); the
// hub's ports are "br<K>p<i>" on bridge "br<K>". It fails the test on
// error.
//
// With subnet 10.245.1.0/24 and members node1, node2, node3 this is the
// three-node mesh underlay: 10.245.1.2, 10.245.1.3, 10.245.1.4.
func NewBridgeLAN(t T, hub *NS, subnet netip.Prefix, members ...*NS) []netip.Addr {
	t.Helper()
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || subnet.Bits() > 30 || 1<<(32-subnet.Bits())-2 < len(members)+1 {
		t.Fatalf("lab: NewBridgeLAN: subnet %v cannot hold a bridge address and %d members", subnet, len(members))
	}
	bridge := hub.nextName("br")
	host := subnet.Addr().Next()
	bridgeAddr := netip.PrefixFrom(host, subnet.Bits())
	addrs := make([]netip.Addr, len(members))
	ports := make([]Port, len(members))
	for i, m := range members {
		host = host.Next()
		addrs[i] = host
		ports[i] = Port{Name: bridge + "p" + strconv.Itoa(i), Member: m, Link: m.nextName("eth"), Addr: netip.PrefixFrom(host, subnet.Bits())}
	}
	if err := AddBridge(context.Background(), hub, bridge, bridgeAddr, ports...); err != nil {
		t.Fatalf("lab: %v", err)
	}
	return addrs
}

// Run runs a command inside the namespace (`ip netns exec NAME args...`),
// bounded by CommandTimeout, and returns its combined output. It fails
// the test, quoting the output, if the command fails. Like t.Fatal it must
// be called from the test's goroutine.
func (ns *NS) Run(t T, args ...string) string {
	t.Helper()
	out, err := ns.Try(args...)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	return out
}

// Try is Run without failing the test: the error names the namespace and
// the command and includes its output.
func (ns *NS) Try(args ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("in %s: no command", ns)
	}
	out, err := Run(context.Background(), CommandTimeout, "ip", ns.Exec(args...)...)
	if err != nil {
		return out, fmt.Errorf("in %s: %w\n%s", ns, err, out)
	}
	return out, nil
}

// Ifindex returns the interface index of the named link in the
// namespace, failing the test if there is none.
func (ns *NS) Ifindex(t T, link string) int {
	t.Helper()
	var index int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		index = ifi.Index
		return nil
	})
	if err != nil {
		t.Fatalf("lab: in %s: %v", ns, err)
	}
	return index
}

// Start starts a long-running command inside the namespace (a daemon)
// with stdout and stderr captured together (Process.Output). It fails the
// test if the command cannot be started. A t.Cleanup stops the process
// (SIGTERM, SIGKILL after StopTimeout) before the namespace is deleted,
// and logs its output if the test failed. The process also gets SIGKILL if
// the test binary dies.
func (ns *NS) Start(t T, args ...string) *Process {
	t.Helper()
	p, err := Start(ns.name, Options{Output: &LockedBuffer{}, DeathSignal: syscall.SIGKILL}, args...)
	if err != nil {
		t.Fatalf("lab: in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		p.Stop(StopTimeout)
		if t.Failed() {
			t.Logf("lab: output of %q in %s:\n%s", p, ns, p.Output())
		}
	})
	return p
}

// Main is the TestMain of a package whose tests use the test layer: as
// root, it first removes the namespaces that test binaries now dead left
// (CleanupStale of TestPrefix), then runs the tests and exits with their
// status.
func Main(m interface{ Run() int }) {
	if os.Geteuid() == 0 {
		if _, err := CleanupStale(TestPrefix); err != nil {
			fmt.Fprintln(os.Stderr, "lab: cleaning stale namespaces:", err)
		}
	}
	os.Exit(m.Run())
}
