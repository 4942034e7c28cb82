package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipipd/ipipd/internal/testnet"
)

// ipipdBin is the binary TestMain builds from ./cmd/ipipd.
var ipipdBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test stops in testnet.Require (a skip, or a failure under
		// IPIPD_E2E_REQUIRED=1) with a message saying why; building would
		// only cost time, or fail in an unprivileged user's environment.
		return m.Run()
	}
	root, err := moduleRoot()
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
	ipipdBin = filepath.Join(dir, "ipipd")
	build := exec.Command("go", "build", "-o", ipipdBin, "./cmd/ipipd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/ipipd in %s: %v\n%s", root, err, out)
		return 1
	}
	if os.Geteuid() == 0 {
		if err := testnet.CleanupStale(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: cleaning stale namespaces:", err)
		}
	}
	return m.Run()
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; run the tests with go test from inside the module")
		}
		dir = parent
	}
}
