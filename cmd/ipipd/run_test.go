package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// A batch size out of range is a usage error, refused before anything is
// opened: no config file is needed to reach the check.
func TestRunRefusesReceiveBatchOutOfRange(t *testing.T) {
	for _, n := range []string{"0", "-3", fmt.Sprint(maxReceiveBatch + 1)} {
		if code := runCommand([]string{"--receive-batch", n, "-c", "/nonexistent.yaml"}); code != exitUsage {
			t.Errorf("--receive-batch %s: exit %d, want %d", n, code, exitUsage)
		}
	}
}

// The usage states the limits the code enforces.
func TestRunUsageStatesReceiveBatchLimits(t *testing.T) {
	want := fmt.Sprintf("1 to %d (default %d)", maxReceiveBatch, rawsock.DefaultBatchSize)
	if !strings.Contains(runUsage, want) {
		t.Errorf("run usage does not say %q", want)
	}
}

func TestRunRefusesUnknownTransmit(t *testing.T) {
	if code := runCommand([]string{"--transmit", "af_xdp", "-c", "/nonexistent.yaml"}); code != exitUsage {
		t.Errorf("--transmit af_xdp: exit %d, want %d", code, exitUsage)
	}
}

func TestRunRefusesBadMetricsAddress(t *testing.T) {
	for _, addr := range []string{"9477", "localhost", "127.0.0.1:port"} {
		if code := runCommand([]string{"--metrics", addr, "-c", "/nonexistent.yaml"}); code != exitUsage {
			t.Errorf("--metrics %s: exit %d, want %d", addr, code, exitUsage)
		}
	}
}
