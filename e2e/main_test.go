package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// ipipdBin is the binary TestMain builds from ./cmd/ipipd.
var ipipdBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test stops in lab.Require (a skip, or a failure under
		// IPIPD_E2E_REQUIRED=1) with a message saying why; building would
		// only cost time, or fail in an unprivileged user's environment.
		return m.Run()
	}
	root, err := lab.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "ipipd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if ipipdBin, err = lab.Build(context.Background(), root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if os.Geteuid() == 0 {
		if _, err := lab.CleanupStale(lab.TestPrefix); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: cleaning stale namespaces:", err)
		}
	}
	return m.Run()
}
