package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModulePath names ipipd's module in its go.mod.
const ModulePath = "github.com/ipipd/ipipd"

const (
	// BuildTimeout bounds one `go build` of the daemon, a cold cache included.
	BuildTimeout = 5 * time.Minute
	// ShowTimeout bounds one `ipipd show`.
	ShowTimeout = 5 * time.Second
)

// ModuleRoot walks up from the working directory to ipipd's go.mod: under
// `go test` the working directory is the package's, under `go run` wherever
// the user is.
func ModuleRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding ipipd's module: %w", err)
	}
	for dir := start; ; {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the ipipd module: no go.mod naming %s in %s or above", ModulePath, start)
		}
		dir = parent
	}
}

// Build compiles ./cmd/ipipd of the module at root into dir and returns the
// binary's path. The error quotes the compiler's last lines on one line, so
// it fits a report's list as well as a terminal.
func Build(ctx context.Context, root, dir string) (string, error) {
	gocmd, err := GoCommand()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "ipipd")
	if _, err := Run(ctx, BuildTimeout, gocmd, "-C", root, "build", "-o", out, "./cmd/ipipd"); err != nil {
		return "", err
	}
	return out, nil
}

// GoCommand finds the go command: PATH first, then where the official
// tarball installs it, which root's PATH under sudo often lacks.
func GoCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	const usual = "/usr/local/go/bin/go"
	if _, err := os.Stat(usual); err == nil {
		return usual, nil
	}
	return "", errors.New("no go command in PATH or /usr/local/go/bin")
}

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

// Answers is the readiness check of a daemon for Process.WaitReady: nil
// once `show` answers on its control socket, which ipipd does only when
// its whole config is installed (the engine applies it before the control
// socket listens).
func Answers(binary, control string) func(context.Context) error {
	return func(ctx context.Context) error {
		var v json.RawMessage
		return Show(ctx, binary, control, &v)
	}
}
