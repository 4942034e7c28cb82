package lab

import (
	"bytes"
	"sync"
)

// LockedBuffer collects a background process's output: exec.Cmd's copying
// goroutines write to it while the harness reads. The zero value keeps
// everything.
type LockedBuffer struct {
	// Limit, if positive, bounds the memory a chatty process can take over
	// a long run: a write that finds more than Limit bytes held drops them
	// first, leaving a note that it did.
	Limit int

	mu  sync.Mutex
	buf bytes.Buffer
}

// droppedNote replaces the output a Limit dropped.
const droppedNote = "[earlier output dropped]\n"

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.buf.Len() > b.Limit {
		b.buf.Reset()
		b.buf.WriteString(droppedNote)
	}
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
