package engine

import "time"

// stepTimer times the steps of a reload for the debug log: at 10 000
// tunnels a reload takes seconds, and which step took them is the first
// question.
type stepTimer struct {
	last  time.Time
	times []any
}

func newStepTimer() *stepTimer { return &stepTimer{last: time.Now()} }

// done records the time since the previous step under name.
func (t *stepTimer) done(name string) {
	now := time.Now()
	t.times = append(t.times, name, now.Sub(t.last).Round(time.Millisecond))
	t.last = now
}

func (t *stepTimer) attrs() []any { return t.times }
