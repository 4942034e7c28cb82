package testnet

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// EnterFresh moves the calling test goroutine into a new, empty, unnamed
// network namespace (only a down lo), so a unit test can create devices,
// addresses and routes without touching the host's and without the `ip`
// command. It skips when not root, or fails when IPIPD_E2E_REQUIRED=1.
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
func EnterFresh(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		skipOrFail(t, fmt.Sprintf("needs root to create a network namespace, running as uid %d", uid))
	}
	runtime.LockOSThread()
	ns, err := netns.New()
	if err != nil {
		skipOrFail(t, fmt.Sprintf("cannot create a network namespace: %v", err))
	}
	t.Cleanup(func() { ns.Close() })
}

// skipOrFail skips with a loud reason, or fails when RequiredEnv says a
// skip is not acceptable.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequiredEnv) == "1" {
		t.Fatalf("testnet: END-TO-END TEST CANNOT RUN: %s (%s=1 forbids skipping)", reason, RequiredEnv)
	}
	t.Skipf("testnet: SKIPPING END-TO-END TEST: %s (set %s=1 to make this a failure)", reason, RequiredEnv)
}
