package callbacks

import (
	"context"
	"sync"
)

// Recorder keeps the most recent query events in a ring, for tests and
// development tools. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []QueryEvent
	next   int
	full   bool
	total  int
}

// NewRecorder returns a Recorder holding the last capacity events
// (default 1024 when capacity <= 0).
func NewRecorder(capacity int) *Recorder {
	if capacity <= 0 {
		capacity = 1024
	}
	return &Recorder{events: make([]QueryEvent, capacity)}
}

// Observe implements Observer.
func (r *Recorder) Observe(_ context.Context, e QueryEvent) {
	r.mu.Lock()
	r.events[r.next] = e
	r.next++
	r.total++
	if r.next == len(r.events) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Events returns the held events, oldest first.
func (r *Recorder) Events() []QueryEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]QueryEvent(nil), r.events[:r.next]...)
	}
	out := make([]QueryEvent, 0, len(r.events))
	out = append(out, r.events[r.next:]...)
	return append(out, r.events[:r.next]...)
}

// Total is the number of events observed since creation or Reset,
// including those the ring has dropped.
func (r *Recorder) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Reset forgets every event.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.events)
	r.next, r.full, r.total = 0, false, 0
}
