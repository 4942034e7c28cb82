package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// CommandTimeout bounds each short command the lab runs itself (every
// `ip`), and every command of the test layer's NS.Run and NS.Try, so that
// a hung command is reported as itself instead of hanging its caller.
const CommandTimeout = 30 * time.Second

// Run runs name with args to the end, bounded by ctx and timeout, and
// returns its combined output. The error quotes the command line, why it
// failed (its exit status, which errors.As finds as an *exec.ExitError,
// or "timed out after T") and its last lines of output. The command dies
// with the caller, and a grandchild holding its output cannot hold Run.
func Run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), why(ctx, err, timeout), strings.Join(TailLines(string(out), 5), " | "))
	}
	return string(out), nil
}

// RunSplit is Run with stdout and stderr kept apart (ipipd show --raw,
// iperf3 -J and ping write their results to stdout, warnings to stderr);
// err is the command's alone: an *exec.ExitError for a non-zero exit, or
// "timed out after T".
func RunSplit(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := command(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err = cmd.Run(); err != nil {
		err = why(ctx, err, timeout)
	}
	return o.String(), e.String(), err
}

// command is exec.CommandContext for Run and RunSplit: SIGKILL if the
// caller dies, and at most a second's wait for pipes a grandchild holds.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	return cmd
}

// why turns the end of ctx into what it was, "timed out after T" or
// "did not finish: context canceled"; other errors stay as they are.
func why(ctx context.Context, err error, timeout time.Duration) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %v", timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("did not finish: %w", ctx.Err())
	}
	return err
}

// TailLines returns the last n non-empty lines of s, trimmed: the end of
// a command's output, for an error message.
func TailLines(s string, n int) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines[max(0, len(lines)-n):]
}
