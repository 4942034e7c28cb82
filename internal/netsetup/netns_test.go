package netsetup

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// e2eRequiredEnv makes tests that need root and network namespaces fail
// instead of skipping, for CI runs that must exercise the kernel.
const e2eRequiredEnv = "IPIPD_E2E_REQUIRED"

// skipOrFail skips the test with a loud reason, or fails it when
// IPIPD_E2E_REQUIRED=1 says that skipping is not acceptable.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv(e2eRequiredEnv) == "1" {
		t.Fatalf("%s (%s=1, so this fails instead of skipping)", reason, e2eRequiredEnv)
	}
	t.Skipf("SKIPPED, NOT RUN: %s; run as root (sudo go test ./internal/netsetup/), and set %s=1 to turn this skip into a failure", reason, e2eRequiredEnv)
}

// enterFreshNetns moves the calling test goroutine into a new, empty network
// namespace (only a down lo), so the test can create devices, addresses and
// routes without touching the host's.
//
// A namespace belongs to an OS thread, not to a goroutine, so the goroutine
// is locked to its thread and never unlocked: when the test goroutine exits,
// the Go runtime terminates the thread instead of handing a thread in the
// wrong namespace to other goroutines, and the namespace (with everything in
// it) disappears once its last thread and file descriptor are gone. Call it
// at the top of the test function itself, not in a t.Run subtest parent: a
// subtest runs in a new goroutine that is not in the namespace. Sockets and
// TUN descriptors opened here stay in the namespace whatever goroutine later
// uses them.
func enterFreshNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root: the test creates a network namespace, devices, addresses and routes (euid is %d)", os.Geteuid())
	}
	runtime.LockOSThread()
	ns, err := netns.New()
	if err != nil {
		skipOrFail(t, "cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
}
