package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// configTestdata is internal/config/testdata, relative to this package.
const configTestdata = "../internal/config/testdata"

// TestCheck runs `ipipd check` on the config package's bad files and on the
// seed's node1 file, and the commands' usage errors.
//
// Kernel behaviour checked: none directly; every bad file is one the kernel
// or iproute2 would refuse (EEXIST for a second identity or fallback, EINVAL
// for ttl 300, iproute2's "ttl != 0 and nopmtudisc are incompatible"), and
// `check` must refuse it with exit code 2 and name the file and line of
// every problem.
func TestCheck(t *testing.T) {
	lab.Require(t)
	bad, err := filepath.Glob(filepath.Join(configTestdata, "bad", "*.yaml"))
	if err != nil || len(bad) == 0 {
		t.Fatalf("no bad config files in %s: %v", configTestdata, err)
	}
	for _, path := range bad {
		t.Run(filepath.Base(path), func(t *testing.T) {
			stdout, stderr, err := runBinarySplit(10*time.Second, "check", "-c", path)
			if code := exitCode(err); code != 2 {
				t.Fatalf("ipipd check -c %s: exit %d (%v), want 2\nstdout:\n%s\nstderr:\n%s", path, code, err, stdout, stderr)
			}
			lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:[0-9]+:`)
			summary := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `: [0-9]+ error\(s\)$`)
			errorLines := 0
			for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
				switch {
				case summary.MatchString(line):
				case lineRE.MatchString(line):
					errorLines++
				default:
					t.Errorf("error line without %s:LINE: %q", path, line)
				}
			}
			if errorLines == 0 {
				t.Errorf("no error line on stderr:\n%s", stderr)
			}
		})
	}

	good := filepath.Join(configTestdata, "mesh-node1.yaml")
	if stdout, stderr, err := runBinarySplit(10*time.Second, "check", "-c", good); err != nil {
		t.Errorf("ipipd check -c %s: %v, want exit 0\nstdout:\n%s\nstderr:\n%s", good, err, stdout, stderr)
	}

	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, args := range [][]string{
		{"check", "--no-such-flag", "-c", good},
		{"run", "--no-such-flag", "-c", good},
		{"show", "--no-such-flag"},
		{"run", "-c", missing, "--control", filepath.Join(t.TempDir(), "x.sock")},
		{"check", "-c", missing},
		{"no-such-command"},
	} {
		stdout, stderr, err := runBinarySplit(10*time.Second, args...)
		if code := exitCode(err); code != 2 {
			t.Errorf("ipipd %s: exit %d (%v), want 2\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, err, stdout, stderr)
		}
		if strings.TrimSpace(stderr) == "" {
			t.Errorf("ipipd %s: nothing on stderr to say why", strings.Join(args, " "))
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("ipipd created %s", missing)
	}
}

// exitCode is the process's exit code, 0 for a nil error, -1 if it did not
// exit normally.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
