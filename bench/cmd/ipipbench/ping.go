package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// pingCount and pingInterval: 20 echo requests, 10 ms apart, on an idle path.
const (
	pingCount    = 20
	pingInterval = "0.01"
)

// pingResult is the round-trip times of one ping run.
type pingResult struct {
	Sent     int       `json:"sent"`
	Received int       `json:"received"`
	RTTms    []float64 `json:"rtt_ms"`
	MedianMs float64   `json:"median_ms"`
}

var pingTime = regexp.MustCompile(`time[=<]([0-9.]+) ?ms`)

// runPing pings dst from ns pingCount times and returns the median RTT.
func runPing(ctx context.Context, ns, src, dst string) (*pingResult, error) {
	out, errOut, err := lab.RunSplit(ctx, 30*time.Second, "ip", inNS(ns, "ping", "-n", "-c", strconv.Itoa(pingCount),
		"-i", pingInterval, "-W", "1", "-w", "20", "-I", src, dst)...)
	r := parsePing(out)
	r.Sent = pingCount
	if r.Received == 0 {
		return nil, fmt.Errorf("ping %s: no reply (%v) %s", dst, err, tail(errOut+out, 2))
	}
	return r, nil
}

// parsePing collects the "time=X ms" of every reply line.
func parsePing(out string) *pingResult {
	r := &pingResult{}
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			r.RTTms = append(r.RTTms, v)
		}
	}
	r.Received = len(r.RTTms)
	r.MedianMs = median(r.RTTms)
	return r
}

// reachable pings dst until one reply comes back (neighbours resolved, the
// tunnel forwarding) or timeout passes.
func reachable(ctx context.Context, ns, src, dst string, timeout time.Duration) error {
	secs := strconv.Itoa(int(timeout / time.Second))
	out, errOut, err := lab.RunSplit(ctx, timeout+5*time.Second, "ip", inNS(ns, "ping", "-n", "-c", "1",
		"-i", "0.2", "-W", "1", "-w", secs, "-I", src, dst)...)
	if len(parsePing(out).RTTms) == 0 {
		return fmt.Errorf("%s cannot reach %s within %s (%v) %s", src, dst, timeout, err, tail(errOut+out, 2))
	}
	return nil
}
