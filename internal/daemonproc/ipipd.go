package daemonproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ShowTimeout bounds one `ipipd show`.
const ShowTimeout = 5 * time.Second

// RunArgs is the command line of a daemon: `BINARY run -c CONFIG --control
// CONTROL FLAGS...`.
func RunArgs(binary, config, control string, flags ...string) []string {
	return append([]string{binary, "run", "-c", config, "--control", control}, flags...)
}

// Show runs `BINARY show --json --control CONTROL` and decodes its output
// into v. It runs in the caller's namespace: the control socket is a file,
// reachable from any. An error is how a harness learns the daemon is not
// (yet) answering; it quotes what `show` said on stderr.
func Show(ctx context.Context, binary, control string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, ShowTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "show", "--json", "--control", control)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", ShowTimeout)
		}
		return fmt.Errorf("ipipd show --control %s: %v: %s", control, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("ipipd show --json: %v in %q", err, stdout.String())
	}
	return nil
}
