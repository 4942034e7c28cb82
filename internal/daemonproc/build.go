package daemonproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModulePath names ipipd's module in its go.mod.
const ModulePath = "github.com/ipipd/ipipd"

// BuildTimeout bounds one `go build` of the daemon, a cold cache included.
const BuildTimeout = 5 * time.Minute

// ModuleRoot walks up from the working directory to ipipd's go.mod: under
// `go test` the working directory is the package's, under `go run` wherever
// the user is.
func ModuleRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding ipipd's module: %w", err)
	}
	for dir := start; ; {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the ipipd module: no go.mod naming %s in %s or above", ModulePath, start)
		}
		dir = parent
	}
}

// Build compiles ./cmd/ipipd of the module at root into dir and returns the
// binary's path. The error quotes the compiler's last lines on one line, so
// it fits a report's list as well as a terminal.
func Build(ctx context.Context, root, dir string) (string, error) {
	gocmd, err := goTool()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ipipd")
	ctx, cancel := context.WithTimeout(ctx, BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "build", "-o", out, "./cmd/ipipd")
	cmd.Dir = root
	cmd.WaitDelay = time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", BuildTimeout)
		}
		return "", fmt.Errorf("go build ./cmd/ipipd in %s: %v: %s", root, err, lastLines(string(b), 10))
	}
	return out, nil
}

// goTool finds the go command: PATH first, then where the official
// tarball installs it, which root's PATH under sudo often lacks.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	const usual = "/usr/local/go/bin/go"
	if _, err := os.Stat(usual); err == nil {
		return usual, nil
	}
	return "", errors.New("cannot build ./cmd/ipipd: no go command in PATH or /usr/local/go/bin")
}

// lastLines returns the last n non-empty lines of s joined by " | ".
func lastLines(s string, n int) string { return strings.Join(TailLines(s, n), " | ") }
