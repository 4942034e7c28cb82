package daemonproc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ShowTimeout bounds one `ipipd show`.
const ShowTimeout = 5 * time.Second

// RunArgs is the command line of a daemon: `BINARY run -c CONFIG --control
// CONTROL FLAGS...`.
func RunArgs(binary, config, control string, flags ...string) []string {
	return append([]string{binary, "run", "-c", config, "--control", control}, flags...)
}

// Show runs `BINARY show --raw --control CONTROL` and decodes its output
// into v. It runs in the caller's namespace: the control socket is a file,
// reachable from any. An error is how a harness learns the daemon is not
// (yet) answering; it quotes what `show` said on stderr.
func Show(ctx context.Context, binary, control string, v any) error {
	stdout, stderr, err := RunSplit(ctx, ShowTimeout, binary, "show", "--raw", "--control", control)
	if err != nil {
		return fmt.Errorf("ipipd show --control %s: %v: %s", control, err, strings.TrimSpace(stderr))
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		return fmt.Errorf("ipipd show --raw: %v in %q", err, stdout)
	}
	return nil
}
