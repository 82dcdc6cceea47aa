package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
)

// MemQueue is an in-memory sinks.Queue for unit tests. It stores each event as JSON,
// like a durable queue would, so what comes back is what a store would give. It is
// not durable: never use it outside tests.
type MemQueue struct {
	mu       sync.Mutex
	next     int64
	q        map[string][]entry
	failAck  int
	failPend int
}

type entry struct {
	id      int64
	payload []byte
}

var _ sinks.Queue = (*MemQueue)(nil)

// NewMemQueue returns an empty queue.
func NewMemQueue() *MemQueue { return &MemQueue{q: map[string][]entry{}} }

// FailAck makes the next n Ack calls fail without removing anything (a store error
// after the sink accepted the events).
func (m *MemQueue) FailAck(n int) {
	m.mu.Lock()
	m.failAck = n
	m.mu.Unlock()
}

// FailPending makes the next n Pending calls fail.
func (m *MemQueue) FailPending(n int) {
	m.mu.Lock()
	m.failPend = n
	m.mu.Unlock()
}

// Enqueue implements sinks.Queue.
func (m *MemQueue) Enqueue(ctx context.Context, names []string, events []sinks.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payloads := make([][]byte, len(events))
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return fmt.Errorf("memqueue: encode event: %w", err)
		}
		payloads[i] = b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range payloads {
		for _, n := range names {
			m.next++
			m.q[n] = append(m.q[n], entry{id: m.next, payload: p})
		}
	}
	return nil
}

// Pending implements sinks.Queue.
func (m *MemQueue) Pending(ctx context.Context, sink string, limit int) ([]sinks.Queued, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.failPend > 0 {
		m.failPend--
		m.mu.Unlock()
		return nil, errors.New("memqueue: injected read failure")
	}
	es := m.q[sink]
	if limit > 0 && len(es) > limit {
		es = es[:limit]
	}
	es = slices.Clone(es)
	m.mu.Unlock()
	out := make([]sinks.Queued, len(es))
	for i, e := range es {
		out[i].ID = e.id
		if err := json.Unmarshal(e.payload, &out[i].Event); err != nil {
			out[i].Bad = err
		}
	}
	return out, nil
}

// Ack implements sinks.Queue.
func (m *MemQueue) Ack(ctx context.Context, sink string, ids []int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAck > 0 {
		m.failAck--
		return errors.New("memqueue: injected ack failure")
	}
	drop := make(map[int64]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	kept := m.q[sink][:0]
	for _, e := range m.q[sink] {
		if drop[e.id] {
			continue
		}
		kept = append(kept, e)
	}
	m.q[sink] = kept
	return nil
}

// Len implements sinks.Queue.
func (m *MemQueue) Len(ctx context.Context, sink string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q[sink]), nil
}

// Corrupt appends an entry to sink's queue that is not an event, as a damaged store
// row would be.
func (m *MemQueue) Corrupt(sink string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	m.q[sink] = append(m.q[sink], entry{id: m.next, payload: []byte("{not json")})
}

// Timer is a sinks.Options.After that fires at once, advancing a fake clock by the
// wait and recording it, so backoffs run without sleeping.
type Timer struct {
	mu     sync.Mutex
	clock  *clock.Fake
	waits  []time.Duration
	onWait func(n int, d time.Duration)
}

// OnWait sets f to be called on every wait, with its 1-based number, before the timer
// fires: tests use it to bring a receiver back after a number of failed tries.
func (t *Timer) OnWait(f func(n int, d time.Duration)) {
	t.mu.Lock()
	t.onWait = f
	t.mu.Unlock()
}

// NewTimer returns a timer that advances c (which may be nil).
func NewTimer(c *clock.Fake) *Timer { return &Timer{clock: c} }

// After records d, advances the clock and returns a channel that is ready.
func (t *Timer) After(d time.Duration) <-chan time.Time {
	t.mu.Lock()
	t.waits = append(t.waits, d)
	n, f := len(t.waits), t.onWait
	var now time.Time
	if t.clock != nil {
		t.clock.Advance(d)
		now = t.clock.Now()
	}
	t.mu.Unlock()
	if f != nil {
		f(n, d)
	}
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

// Waits returns every wait asked for, in order.
func (t *Timer) Waits() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.waits)
}
