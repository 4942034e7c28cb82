// Package daemonproc forwards to internal/lab, where building ipipd and
// starting, waiting for and stopping a daemon in a namespace now live; it
// stays only for the code not moved to lab yet. New code uses lab.
package daemonproc

import (
	"context"

	"github.com/ipipd/ipipd/internal/lab"
)

// Forwarded names: see lab.
const ModulePath = lab.ModulePath

var (
	ErrStillRunning = lab.ErrStillRunning
	ErrKilled       = lab.ErrKilled
)

type (
	Options      = lab.Options
	Process      = lab.Process
	LockedBuffer = lab.LockedBuffer
)

// Start is lab.Start.
func Start(ns string, o Options, args ...string) (*Process, error) { return lab.Start(ns, o, args...) }

// ModuleRoot is lab.ModuleRoot.
func ModuleRoot() (string, error) { return lab.ModuleRoot() }

// Build is lab.Build.
func Build(ctx context.Context, root, dir string) (string, error) { return lab.Build(ctx, root, dir) }

// RunArgs is lab.RunArgs.
func RunArgs(binary, config, control string, flags ...string) []string {
	return lab.RunArgs(binary, config, control, flags...)
}

// TailLines is lab.TailLines.
func TailLines(s string, n int) []string { return lab.TailLines(s, n) }
