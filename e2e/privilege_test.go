package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// The systemd units the project ships: one node, and the template for
// several instances, which must keep the same capabilities and sandbox.
const (
	unitFile         = "../contrib/ipipd.service"
	templateUnitFile = "../contrib/ipipd@.service"
)

// TestLeastPrivilege runs node1's daemon as contrib/ipipd.service runs it:
// uid 0 with only the capabilities the unit's CapabilityBoundingSet names
// and no_new_privs, with every feature that opens something (offload TUN,
// raw and packet sockets, netlink, the ICMP reader, the metrics port).
//
// Checked: the daemon's effective set is exactly the unit's; the mesh
// pings both ways, node1 sending on the packet socket; it logs no failure;
// show and the metrics answer; SIGTERM ends it with exit 0 and it removes
// its device. ipipd@.service's [Service] settings are ipipd.service's but
// for ExecStart, so the run covers it too. systemd-analyze verify, where it
// is installed, accepts both units. The units' other sandboxing (ProtectSystem, the address families,
// the device policy) is checked only by systemd-analyze, not run here:
// systemd is not PID 1 on these machines.
func TestLeastPrivilege(t *testing.T) {
	lab.Require(t)
	caps := unitCapabilities(t)
	sameServiceSettings(t, unitFile, templateUnitFile)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("this test needs setpriv (util-linux) to drop capabilities: apt-get install -y util-linux")
	}
	var keep []string
	for _, c := range caps {
		keep = append(keep, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	set := "-all," + strings.Join(keep, ",")
	wrap := []string{setpriv, "--bounding-set", set, "--inh-caps", set, "--no-new-privs"}

	l := newLAN(t, 2)
	node1 := startWrappedDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}), wrap, "--transmit", "packet", "--metrics", metricsAddr)
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))

	if got, want := effectiveCaps(t, node1.proc.Pid()), capMask(t, caps); got != want {
		t.Fatalf("the daemon's effective capabilities are %#x, want %#x (%v)", got, want, caps)
	}
	for i, j := range []int{1, 0} {
		if err := l.nodes[i].Ping(tunnelAddr(j), 10*time.Second); err != nil {
			t.Fatalf("node%d → node%d with node1 unprivileged: %v", i+1, j+1, err)
		}
	}
	// A socket that fails to open is logged and replaced by the raw
	// socket, so the packet socket's own count proves it opened. The first
	// packets to a peer go through the raw socket while it is resolved.
	for i := 0; i < 50 && node1.stats(t, "tunl0").TxPacketSocket == 0; i++ {
		if err := l.nodes[0].Ping(tunnelAddr(1), 2*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := node1.stats(t, "tunl0"); s.RxPackets == 0 || s.TxPackets == 0 || s.TxPacketSocket == 0 {
		t.Errorf("node1 tunl0 rx %d tx %d, on the packet socket %d; want all > 0", s.RxPackets, s.TxPackets, s.TxPacketSocket)
	}
	if out := node1.proc.Output(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "failed") {
		t.Errorf("the unprivileged daemon logged a failure:\n%s", out)
	}
	if _, ok := value(scrape(t, l.nodes[0]), "ipipd_tunnel_receive_packets_total", map[string]string{"tunnel": "tunl0"}); !ok {
		t.Error("the unprivileged daemon's metrics lack tunl0")
	}
	node1.stop(t)
	if out, _ := l.nodes[0].Try("ip", "link", "show", "tunl0"); !strings.Contains(out, "does not exist") {
		t.Errorf("the unprivileged daemon left tunl0 behind:\n%s", out)
	}
	verifyUnit(t, unitFile, "ipipd.service")
	verifyUnit(t, templateUnitFile, "ipipd@node1.service")
}

// unitCapabilities is the unit's CapabilityBoundingSet.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "CapabilityBoundingSet="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatalf("%s sets no CapabilityBoundingSet", unitFile)
	return nil
}

// capMask is the bit mask of the named capabilities, as /proc shows sets.
func capMask(t *testing.T, caps []string) uint64 {
	t.Helper()
	bits := map[string]uint{"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}
	var m uint64
	for _, c := range caps {
		b, ok := bits[c]
		if !ok {
			t.Fatalf("%s names %s; the test knows only %v", unitFile, c, bits)
		}
		m |= 1 << b
	}
	return m
}

// effectiveCaps is CapEff of process pid.
func effectiveCaps(t *testing.T, pid int) uint64 {
	t.Helper()
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status: CapEff %q: %v", pid, v, err)
			}
			return m
		}
	}
	t.Fatalf("no CapEff in /proc/%d/status", pid)
	return 0
}

// sameServiceSettings fails the test unless the [Service] sections of
// the two units have the same lines but for ExecStart.
func sameServiceSettings(t *testing.T, unit, other string) {
	t.Helper()
	a, b := serviceSettings(t, unit), serviceSettings(t, other)
	missing := func(has, lacks map[string]bool, hasName, lacksName string) {
		for line := range has {
			if !lacks[line] && !strings.HasPrefix(line, "ExecStart=") {
				t.Errorf("%s lacks %q, which %s has", lacksName, line, hasName)
			}
		}
	}
	missing(a, b, unit, other)
	missing(b, a, other, unit)
}

// serviceSettings is the set of KEY=value lines of a unit's [Service].
func serviceSettings(t *testing.T, unit string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	settings, section := map[string]bool{}, ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]" && strings.Contains(line, "=") && !strings.HasPrefix(line, "#"):
			settings[line] = true
		}
	}
	if len(settings) == 0 {
		t.Fatalf("%s has no [Service] settings", unit)
	}
	return settings
}

// verifyUnit runs systemd-analyze verify on the unit, copied as name (an
// instance name for the template, which older systemd versions verify only
// as an instance) with ExecStart pointed at the built binary, where
// systemd is installed.
func verifyUnit(t *testing.T, unitFile, name string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: %s's syntax is not checked here", unitFile)
		return
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), name)
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/ipipd", ipipdBin)
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A warning names the unit and exits 0.
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || strings.Contains(string(out), name) {
		t.Errorf("systemd-analyze verify %s (%s): %v\n%s", name, unitFile, err, out)
	}
}
