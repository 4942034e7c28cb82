package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrStillRunning is returned by Wait when the process did not exit in time.
	ErrStillRunning = errors.New("process still running")
	// ErrKilled is wrapped by Stop's error when SIGTERM did not end the
	// process in time and SIGKILL did.
	ErrKilled = errors.New("killed")
)

// Options say how a started process is tied to the program starting it.
type Options struct {
	// Output receives the process's stdout and stderr together; nil
	// discards them.
	Output io.Writer
	// DeathSignal is sent to the process if the starting program dies
	// without stopping it, so a killed harness leaves no daemon behind.
	// 0 lets the process outlive the program (the demo's --keep).
	DeathSignal syscall.Signal
	// OwnGroup gives the process its own process group, so a Ctrl-C at the
	// terminal reaches only the starting program, which then stops the
	// process in its own order.
	OwnGroup bool
}

// Process is a long-running command started inside a namespace by Start.
type Process struct {
	args []string
	out  *LockedBuffer // Options.Output, if it is one: see Output
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid once done is closed
}

// Start runs `ip netns exec NS ARGS...`. `ip netns exec` execs the command
// in place, so the process, its PID and the signals sent to it are the
// command's own.
func Start(ns string, o Options, args ...string) (*Process, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("starting a process in namespace %s: no command", ns)
	}
	p := &Process{args: args, done: make(chan struct{})}
	p.out, _ = o.Output.(*LockedBuffer)
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = o.Output, o.Output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: o.DeathSignal, Setpgid: o.OwnGroup}
	// A grandchild holding the output pipe must not block Wait forever.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %q in namespace %s: %w", p, ns, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// String is the command line, for messages.
func (p *Process) String() string { return strings.Join(p.args, " ") }

// Output returns what the process wrote so far, if Options.Output was a
// *LockedBuffer; otherwise "".
func (p *Process) Output() string {
	if p.out == nil {
		return ""
	}
	return p.out.String()
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// status as an error (nil for exit code 0, *exec.ExitError otherwise), or
// an error wrapping ErrStillRunning if it is still running; in that case
// it is left running. Wait(0) reads the status of an exited process.
func (p *Process) Wait(timeout time.Duration) error {
	// Checked first: with a zero timeout both cases below are ready at
	// once, and select would pick either.
	if p.Exited() {
		return p.err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		return fmt.Errorf("%q after %v: %w", p, timeout, ErrStillRunning)
	}
}

// Signal sends sig to the process. It returns os.ErrProcessDone if the
// process has already exited.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to grace for the process to clean up and
// exit, then sends SIGKILL. It returns the exit status as Wait does, or an
// error wrapping ErrKilled if SIGKILL was needed. Stopping an exited
// process just returns its exit status, so Stop may be called more than
// once.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	// Signal fails only for a process that has exited meanwhile, which
	// the wait below sees.
	p.Signal(syscall.SIGTERM)
	err := p.Wait(grace)
	if !errors.Is(err, ErrStillRunning) {
		return err
	}
	p.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%q ignored SIGTERM for %v and was %w", p, grace, ErrKilled)
}
