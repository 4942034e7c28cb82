package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// runStderr runs `ipipd run ARGS` in the test and returns its exit code and
// what it wrote to stderr.
func runStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	code := runCommand(args)
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	return code, string(out)
}

// Flag values out of range are usage errors, refused before anything is
// opened, and the message names the flag and what it accepts. The config
// file is missing too, so a check that came after loading it would exit 2
// with another message: the message, not the code, proves the flag check.
func TestRunRefusesBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--receive-batch", "0"}, []string{"--receive-batch 0", fmt.Sprintf("want 1 to %d", maxReceiveBatch)}},
		{[]string{"--receive-batch", "-3"}, []string{"--receive-batch -3", "want 1 to"}},
		{[]string{"--receive-batch", fmt.Sprint(maxReceiveBatch + 1)}, []string{"want 1 to"}},
		{[]string{"--transmit", "af_xdp"}, []string{`--transmit "af_xdp"`, "want raw, packet or packet-gso"}},
		{[]string{"--metrics", "9477"}, []string{"--metrics", `"9477" is not HOST:PORT`, "127.0.0.1:9477"}},
		{[]string{"--metrics", "localhost"}, []string{"--metrics", "not HOST:PORT"}},
		{[]string{"--metrics", "127.0.0.1:port"}, []string{"--metrics", "port number"}},
	} {
		code, out := runStderr(t, append(tt.args, "-c", "/nonexistent.yaml")...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitUsage)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stderr does not say %q:\n%s", tt.args, w, out)
			}
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

// A refused file stops the start before anything is opened, every problem
// printed as ipipd check prints it, although run reads the file through the
// Loader its reloads use.
func TestRunRefusesBadFile(t *testing.T) {
	const path = "../../internal/config/testdata/bad/many.yaml"
	code, out := runStderr(t, "-c", path, "--control", t.TempDir()+"/ctl")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	for _, w := range []string{path + ":3:11: tunnels[0].name:", path + ":11:10: tunnels[0].routes[1]: unknown key", path + ": 9 error(s)"} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr does not say %q:\n%s", w, out)
		}
	}
}
