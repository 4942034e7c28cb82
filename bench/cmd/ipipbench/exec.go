package main

import (
	"strings"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// cmdTimeout bounds every short command (ip, ss, sh, show); long-running
// ones (iperf3, ping, go build) get their own deadline from the caller.
const cmdTimeout = 20 * time.Second

// inNS prefixes a command with `ip netns exec NS`.
func inNS(ns string, args ...string) []string {
	return append([]string{"netns", "exec", ns}, args...)
}

// tail returns the last n non-empty lines of s, joined by " | " when they
// go into a one-line message.
func tail(s string, n int) string {
	return strings.Join(lab.TailLines(s, n), " | ")
}
