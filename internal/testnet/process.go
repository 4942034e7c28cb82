package testnet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// ErrStillRunning is returned by Wait when the process did not exit in time.
var ErrStillRunning = errors.New("process still running")

// Process is a long-running command started in a namespace by Start.
type Process struct {
	args []string
	cmd  *exec.Cmd
	out  LockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done is closed
}

// Start starts a long-running command inside the namespace (for example the
// daemon) with stdout and stderr captured together; see Output. It fails the
// test if the command cannot be started. A t.Cleanup stops the process
// (see Stop) before the namespace is deleted, and logs its output if the
// test failed. The process also gets SIGKILL if the test binary dies.
func (ns *NS) Start(t testing.TB, args ...string) *Process {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("testnet: Start in %s: no command", ns)
	}
	p := &Process{args: args, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	// `ip netns exec` execs the command in place, so this is the command's
	// own PID. Pdeathsig covers a test binary killed before its cleanups run.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Do not let a grandchild holding the output pipe block Wait forever.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testnet: starting %q in %s: %v", strings.Join(args, " "), ns, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testnet: output of %q in %s:\n%s", strings.Join(args, " "), ns, p.Output())
		}
	})
	return p
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process. It returns os.ErrProcessDone if the
// process has already exited.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// status as an error (nil for exit code 0, *exec.ExitError otherwise), or
// ErrStillRunning if it is still running; in that case it is left running.
func (p *Process) Wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		return fmt.Errorf("%q after %v: %w", strings.Join(p.args, " "), timeout, ErrStillRunning)
	}
}

// Stop sends SIGTERM, waits up to StopTimeout, then sends SIGKILL. It returns
// the exit status as Wait does, or an error saying the process ignored
// SIGTERM. Stopping an exited process just returns its exit status, so Stop
// may be called more than once.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.Signal(syscall.SIGTERM)
	err := p.Wait(StopTimeout)
	if !errors.Is(err, ErrStillRunning) {
		return err
	}
	p.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%q ignored SIGTERM for %v and was killed", strings.Join(p.args, " "), StopTimeout)
}

// LockedBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd
// and concurrent readers.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
