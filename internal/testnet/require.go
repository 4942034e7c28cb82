// Package testnet builds throw-away network namespaces, veth pairs and bridged
// LANs for ipipd's end-to-end tests.
//
// Everything it creates lives inside namespaces it made itself: veth pairs are
// created with `ip -n A link add … peer … netns B`, so no interface ever
// appears in the host namespace, and deleting the namespaces removes all of
// it. Each namespace is deleted by a t.Cleanup, so it goes away even when the
// test fails or panics; namespaces left behind by a killed test binary are
// removed by CleanupStale, which tests may call from TestMain.
//
// Namespace names carry the creating process's PID ("ipipdt-<pid>-<random>-<label>"),
// so parallel test binaries never collide and CleanupStale can tell a
// leftover from a namespace that another running binary still uses.
package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// RequiredEnv names the environment variable that turns a skip into a
// failure. CI sets IPIPD_E2E_REQUIRED=1: an end-to-end test that cannot run
// there is a broken CI machine, not a reason to pass silently.
const RequiredEnv = "IPIPD_E2E_REQUIRED"

var (
	probeOnce   sync.Once
	probeReason string // empty when namespaces can be built
)

// Require returns when the test can build network namespaces: it runs as
// root, `ip` is installed, and a probe namespace can be created and deleted.
// Otherwise it skips the test with a message naming what is missing, unless
// IPIPD_E2E_REQUIRED=1, in which case it fails the test.
// The probe runs once per test binary.
func Require(t testing.TB) {
	t.Helper()
	probeOnce.Do(func() { probeReason = probe() })
	if probeReason == "" {
		return
	}
	if os.Getenv(RequiredEnv) == "1" {
		t.Fatalf("testnet: END-TO-END TEST CANNOT RUN: %s (%s=1 forbids skipping)", probeReason, RequiredEnv)
	}
	t.Skipf("testnet: SKIPPING END-TO-END TEST: %s (set %s=1 to make this a failure)", probeReason, RequiredEnv)
}

// probe says what prevents building namespaces, or "" if nothing does.
func probe() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("needs root to create network namespaces, running as uid %d", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs the `ip` command (iproute2) in PATH"
	}
	name := newName("probe")
	if out, err := runIP("netns", "add", name); err != nil {
		return fmt.Sprintf("`ip netns add` failed: %v: %s", err, out)
	}
	if out, err := runIP("netns", "delete", name); err != nil {
		return fmt.Sprintf("`ip netns delete` failed: %v: %s", err, out)
	}
	return ""
}
