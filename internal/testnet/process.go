package testnet

import (
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/daemonproc"
)

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// ErrStillRunning is returned by Wait when the process did not exit in time.
var ErrStillRunning = daemonproc.ErrStillRunning

// LockedBuffer is a bytes.Buffer safe for the writer goroutines of exec.Cmd
// and concurrent readers.
type LockedBuffer = daemonproc.LockedBuffer

// Process is a long-running command started in a namespace by Start. Its
// Pid, Signal, Wait, Exited and WaitReady are daemonproc's.
type Process struct {
	*daemonproc.Process
	out LockedBuffer
}

// Start starts a long-running command inside the namespace (for example the
// daemon) with stdout and stderr captured together; see Output. It fails the
// test if the command cannot be started. A t.Cleanup stops the process
// (see Stop) before the namespace is deleted, and logs its output if the
// test failed. The process also gets SIGKILL if the test binary dies.
func (ns *NS) Start(t testing.TB, args ...string) *Process {
	t.Helper()
	p := &Process{}
	proc, err := daemonproc.Start(ns.name, daemonproc.Options{Output: &p.out, DeathSignal: syscall.SIGKILL}, args...)
	if err != nil {
		t.Fatalf("testnet: in %s: %v", ns, err)
	}
	p.Process = proc
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testnet: output of %q in %s:\n%s", p.Process, ns, p.Output())
		}
	})
	return p
}

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM, waits up to StopTimeout, then sends SIGKILL. It returns
// the exit status as Wait does, or an error saying the process ignored
// SIGTERM. Stopping an exited process just returns its exit status, so Stop
// may be called more than once.
func (p *Process) Stop() error { return p.Process.Stop(StopTimeout) }
