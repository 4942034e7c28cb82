package demo

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// requiredEnv turns the skips of tests that need root (or ping) into
// failures: on CI a test that cannot run is a broken machine, not a pass.
const requiredEnv = "IPIPD_E2E_REQUIRED"

// requireNamespaces skips (loudly) or, with IPIPD_E2E_REQUIRED=1, fails the
// test unless it can build namespaces: root and the ip command.
func requireNamespaces(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "needs the ip command (iproute2)"
	}
	refuse(t, reason)
}

// requirePing is requireNamespaces plus the ping command, which Run needs.
func requirePing(t *testing.T) {
	t.Helper()
	requireNamespaces(t)
	if _, err := exec.LookPath("ping"); err != nil {
		refuse(t, "needs the ping command (apt-get install iputils-ping)")
	}
}

func refuse(t *testing.T, reason string) {
	t.Helper()
	if reason == "" {
		return
	}
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("END-TO-END TEST CANNOT RUN: %s (%s=1 forbids skipping)", reason, requiredEnv)
	}
	t.Skipf("SKIPPING END-TO-END TEST: %s (set %s=1 to make this a failure)", reason, requiredEnv)
}

// testContext is bounded so a hung step fails the test instead of hanging it.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// buildTopology builds a fresh mesh underlay and removes it when the test
// ends, also when it fails.
func buildTopology(t *testing.T) *topology {
	t.Helper()
	topo := newTopology(newRunID())
	t.Cleanup(func() {
		if err := topo.close(); err != nil {
			t.Errorf("removing the topology: %v", err)
		}
	})
	if err := topo.build(testContext(t, 30*time.Second)); err != nil {
		t.Fatalf("building the topology: %v", err)
	}
	return topo
}

// demoNamespaces lists the namespaces whose names start with NamePrefix.
func demoNamespaces(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("listing /run/netns: %v", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		if len(e.Name()) > len(NamePrefix) && e.Name()[:len(NamePrefix)] == NamePrefix {
			names[e.Name()] = true
		}
	}
	return names
}
