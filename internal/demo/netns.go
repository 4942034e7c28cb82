package demo

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// commandTimeout bounds each short command (ip, ping, ipipd show) on top of
// the whole demo's deadline, so one hung command is reported as itself.
const commandTimeout = 15 * time.Second

// inNamespace runs fn on an OS thread switched into the named namespace.
// Sockets fn opens stay in that namespace for their whole life, so they can
// be used from any goroutine afterwards.
//
// Network namespaces are per thread, and Go moves goroutines between
// threads, so fn runs on a fresh goroutine locked to its thread. If switching
// back fails the thread stays locked and dies with the goroutine, so no
// thread in the wrong namespace returns to the scheduler. A panic in fn is
// returned as an error rather than crashing the process, so Run can still
// clean up.
func inNamespace(name string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var err error
		defer func() { done <- err }()
		orig, gerr := netns.Get()
		if gerr != nil {
			err = fmt.Errorf("reading the current network namespace: %w", gerr)
			return
		}
		defer orig.Close()
		target, gerr := netns.GetFromName(name)
		if gerr != nil {
			err = fmt.Errorf("opening network namespace %s: %w", name, gerr)
			return
		}
		defer target.Close()
		if serr := netns.Set(target); serr != nil {
			err = fmt.Errorf("entering network namespace %s: %w", name, serr)
			return
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic inside network namespace %s: %v", name, r)
				}
			}()
			err = fn()
		}()
		if serr := netns.Set(orig); serr != nil {
			err = errors.Join(err, fmt.Errorf("leaving network namespace %s: %w", name, serr))
			return // the thread stays locked: the runtime discards it
		}
		runtime.UnlockOSThread()
	}()
	return <-done
}

// command runs name args, bounded by ctx and commandTimeout, and returns its
// combined output. The error quotes the command line and its output, so a
// failure says what was attempted and what the tool answered.
func command(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second // a grandchild holding the pipe must not block us
	out, err := cmd.CombinedOutput()
	if err != nil {
		line := name + " " + strings.Join(args, " ")
		if ctx.Err() != nil {
			return string(out), fmt.Errorf("%s: did not finish: %w", line, ctx.Err())
		}
		return string(out), fmt.Errorf("%s: %v: %s", line, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
