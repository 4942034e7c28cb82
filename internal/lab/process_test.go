package lab_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// start runs a shell script in a fresh namespace, stopped at the test's end.
func start(t *testing.T, script string) (*lab.Process, *lab.LockedBuffer) {
	t.Helper()
	lab.Require(t)
	ns := lab.New(t, "proc")
	var out lab.LockedBuffer
	p, err := lab.Start(ns.Name(), lab.Options{Output: &out}, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(time.Second) }) // before the namespace goes (LIFO)
	return p, &out
}

func TestWaitReadyAndStop(t *testing.T) {
	p, out := start(t, "trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done")
	polls := 0
	err := p.WaitReady(context.Background(), 10*time.Second, 10*time.Millisecond, func(context.Context) error {
		if polls++; polls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || polls != 3 {
		t.Fatalf("WaitReady: %v after %d polls, want nil after 3", err, polls)
	}
	if err := p.Wait(0); !errors.Is(err, lab.ErrStillRunning) {
		t.Errorf("Wait(0) of a running process: %v, want ErrStillRunning", err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop: %v, want a clean exit", err)
	}
	if !p.Exited() || !strings.Contains(out.String(), "bye") {
		t.Errorf("exited %v, output %q; want gone after its TERM handler ran", p.Exited(), out.String())
	}
}

func TestWaitReadyExited(t *testing.T) {
	p, _ := start(t, "echo boom; exit 3")
	began := time.Now()
	err := p.WaitReady(context.Background(), 10*time.Second, 10*time.Millisecond, func(context.Context) error {
		return errors.New("not yet")
	})
	if err == nil || !strings.Contains(err.Error(), "exited during set-up (exit status 3)") {
		t.Errorf("WaitReady: %v, want the exit status", err)
	}
	if time.Since(began) > 5*time.Second {
		t.Errorf("took %v to notice the exit", time.Since(began))
	}
	// Reading the status of an exited process must not race the timer.
	for range 100 {
		if err := p.Wait(0); errors.Is(err, lab.ErrStillRunning) {
			t.Fatalf("Wait(0) of an exited process: %v", err)
		}
	}
}

func TestWaitReadyTimeoutAndCancel(t *testing.T) {
	p, _ := start(t, "while :; do sleep 0.05; done")
	notYet := func(context.Context) error { return errors.New("tunl0 does not exist yet") }
	err := p.WaitReady(context.Background(), 200*time.Millisecond, 10*time.Millisecond, notYet)
	if err == nil || err.Error() != "not ready after 200ms: tunl0 does not exist yet" {
		t.Errorf("timeout: %v, want what was missing", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.WaitReady(ctx, 10*time.Second, 10*time.Millisecond, notYet)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "tunl0 does not exist yet") {
		t.Errorf("cancelled: %v, want context.Canceled and what was missing", err)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p, out := start(t, "trap '' TERM; echo ready; while :; do sleep 0.05; done")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ready"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the script did not start")
		}
	}
	err := p.Stop(200 * time.Millisecond)
	if !errors.Is(err, lab.ErrKilled) || !strings.Contains(err.Error(), "ignored SIGTERM for 200ms and was killed") {
		t.Errorf("Stop: %v, want ErrKilled", err)
	}
	if !p.Exited() {
		t.Error("still running after Stop")
	}
}

func TestStartNamesWhatFailed(t *testing.T) {
	if _, err := lab.Start("ns", lab.Options{}); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("Start without a command: %v", err)
	}
}
