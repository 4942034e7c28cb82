package daemonproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// RunSplit runs name with args to the end, bounded by ctx and timeout, and
// returns its stdout and stderr apart (ipipd show --json, iperf3 -J and
// ping write their results to stdout, warnings to stderr). err is the
// command's: an *exec.ExitError for a non-zero exit, or "timed out after
// T". The command dies with the caller, and a grandchild holding its
// output cannot hold RunSplit.
func RunSplit(ctx context.Context, timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	return o.String(), e.String(), err
}
