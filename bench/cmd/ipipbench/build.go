package main

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

const modulePath = "github.com/ipipd/ipipd"

// moduleRoot walks up from the working directory to ipipd's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the ipipd module (no go.mod naming " + modulePath + " above the working directory)")
		}
		dir = parent
	}
}

// goTool finds the go command: PATH first, then the usual install place.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go", nil
	}
	return "", errors.New("no go command in PATH or /usr/local/go/bin; pass -binary")
}

// buildBinary builds ./cmd/ipipd into dir and returns the binary's path.
func buildBinary(ctx context.Context, root, dir string) (string, error) {
	gocmd, err := goTool()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ipipd")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, "build", "-o", out, "./cmd/ipipd")
	cmd.Dir = root
	cmd.WaitDelay = time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ipipd: %v: %s", err, tail(string(b), 6))
	}
	return out, nil
}

// sourceDescription names the commit the tree is at, and whether it has
// uncommitted changes (read only: git rev-parse and git status).
func sourceDescription(ctx context.Context, root string) string {
	head, err := run(ctx, cmdTimeout, "git", "-C", root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(head)
	if st, err := run(ctx, cmdTimeout, "git", "-C", root, "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(st) != "" {
		s += " + uncommitted changes"
	}
	return s
}

// toolVersion returns the first line of a command's version output.
func toolVersion(ctx context.Context, name string, args ...string) string {
	out, _ := run(ctx, cmdTimeout, name, args...)
	if lines := tailLines(out, 100); len(lines) > 0 {
		return lines[0]
	}
	return "unknown"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}
