package main

import (
	"context"
	"os"
	"strings"

	"github.com/ipipd/ipipd/internal/lab"
)

// sourceDescription names the commit the tree is at, and whether it has
// uncommitted changes (read only: git rev-parse and git status).
func sourceDescription(ctx context.Context, root string) string {
	head, err := lab.Run(ctx, cmdTimeout, "git", "-C", root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(head)
	if st, err := lab.Run(ctx, cmdTimeout, "git", "-C", root, "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(st) != "" {
		s += " + uncommitted changes"
	}
	return s
}

// toolVersion returns the first line of a command's version output.
func toolVersion(ctx context.Context, name string, args ...string) string {
	out, _ := lab.Run(ctx, cmdTimeout, name, args...)
	if lines := lab.TailLines(out, 100); len(lines) > 0 {
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
