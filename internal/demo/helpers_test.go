package demo

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// requireNamespaces skips (loudly) or, with IPIPD_E2E_REQUIRED=1, fails the
// test unless it can build namespaces (lab.Require).
func requireNamespaces(t *testing.T) {
	t.Helper()
	lab.Require(t)
}

// requirePing is requireNamespaces plus the ping command, which Run needs.
func requirePing(t *testing.T) {
	t.Helper()
	lab.Require(t, "ping")
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
