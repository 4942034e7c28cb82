package lab

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRunSplit(t *testing.T) {
	out, errOut, err := RunSplit(context.Background(), 5*time.Second, "sh", "-c", "echo result; echo warning >&2; exit 3")
	var exit *exec.ExitError
	if out != "result\n" || errOut != "warning\n" || !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("stdout %q, stderr %q, err %v; want them apart and exit status 3", out, errOut, err)
	}
	start := time.Now()
	_, _, err = RunSplit(context.Background(), 100*time.Millisecond, "sleep", "10")
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") || time.Since(start) > 3*time.Second {
		t.Errorf("a command past its timeout: %v after %v", err, time.Since(start))
	}
}

func TestRunQuotesTheCommand(t *testing.T) {
	out, err := Run(context.Background(), 5*time.Second, "sh", "-c", "echo one; echo two; exit 4")
	var exit *exec.ExitError
	if out != "one\ntwo\n" || !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Fatalf("output %q, err %v; want both lines and exit status 4", out, err)
	}
	if want := "sh -c echo one; echo two; exit 4: exit status 4: one | two"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, 5*time.Second, "sleep", "10"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v, want context.Canceled", err)
	}
}
