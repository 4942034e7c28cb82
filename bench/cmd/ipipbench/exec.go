package main

import (
	"context"
	"strings"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// cmdTimeout bounds every short command (ip, ss, sh, show); long-running
// ones (iperf3, ping, go build) get their own deadline from the caller.
const cmdTimeout = 20 * time.Second

// run executes name with args, bounded by ctx and timeout, and returns its
// combined output (lab.Run). The error quotes the command and its output.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	return lab.Run(ctx, timeout, name, args...)
}

// runSplit is run with stdout and stderr kept apart: iperf3 -J and ping
// write their result to stdout and warnings to stderr.
func runSplit(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	return lab.RunSplit(ctx, timeout, name, args...)
}

// inNS prefixes a command with `ip netns exec NS`.
func inNS(ns string, args ...string) []string {
	return append([]string{"netns", "exec", ns}, args...)
}

// tail returns the last n non-empty lines of s, joined by " | " when they
// go into a one-line message.
func tail(s string, n int) string {
	return strings.Join(lab.TailLines(s, n), " | ")
}
