package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/daemonproc"
)

// cmdTimeout bounds every short command (ip, ss, sh, show); long-running
// ones (iperf3, ping, go build) get their own deadline from the caller.
const cmdTimeout = 20 * time.Second

// run executes name with args, bounded by ctx and timeout, and returns its
// combined output. The error quotes the command and its output.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second // orphaned grandchildren must not hold Wait forever
	out, err := cmd.CombinedOutput()
	if err != nil {
		why := err.Error()
		if ctx.Err() == context.DeadlineExceeded {
			why = fmt.Sprintf("timed out after %v", timeout)
		}
		return string(out), fmt.Errorf("%s %s: %s: %s", name, strings.Join(args, " "), why, tail(string(out), 5))
	}
	return string(out), nil
}

// runSplit is run with stdout and stderr kept apart: iperf3 -J and ping
// write their result to stdout and warnings to stderr.
func runSplit(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	return daemonproc.RunSplit(ctx, timeout, name, args...)
}

// inNS prefixes a command with `ip netns exec NS`.
func inNS(ns string, args ...string) []string {
	return append([]string{"netns", "exec", ns}, args...)
}

// tail returns the last n non-empty lines of s, joined by " | " when they
// go into a one-line message.
func tail(s string, n int) string {
	lines := tailLines(s, n)
	return strings.Join(lines, " | ")
}

// tailLines returns the last n non-empty lines of s.
func tailLines(s string, n int) []string { return daemonproc.TailLines(s, n) }
