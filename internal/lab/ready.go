package lab

import (
	"context"
	"fmt"
	"time"
)

// WaitReady calls ready every interval until it returns nil: for ipipd,
// until its control socket answers, which it does only once its whole
// config is installed. It gives up at once if the process exits, and
// otherwise when ctx ends or after timeout; the error says which, and
// quotes ready's last error, which says what was still missing.
func (p *Process) WaitReady(ctx context.Context, timeout, interval time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return fmt.Errorf("exited during set-up (%v)", p.err)
		}
		last := ready(ctx)
		if last == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for set-up (%v): %w", last, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-p.done:
		case <-time.After(interval):
		}
	}
}
