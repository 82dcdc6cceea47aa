package sinks

import (
	"context"
	"encoding/json"
	"fmt"
)

// Queue is the durable store of events waiting for delivery, one ordered queue per
// sink. NewStoreQueue makes one from the SQLite store; sinktest.MemQueue is an
// in-memory one for tests.
type Queue interface {
	// Enqueue appends events to the queue of every named sink, atomically: either every
	// sink gets every event, or nothing is stored.
	Enqueue(ctx context.Context, sinks []string, events []Event) error
	// Pending returns up to limit of the sink's oldest events, oldest first.
	Pending(ctx context.Context, sink string, limit int) ([]Queued, error)
	// Ack removes events from the sink's queue by Queued.ID. Unknown ids are ignored,
	// so an Ack repeated after a lost answer is harmless.
	Ack(ctx context.Context, sink string, ids []int64) error
	// Len returns how many events wait for the sink.
	Len(ctx context.Context, sink string) (int, error)
}

// Queued is an event in a sink's queue.
type Queued struct {
	// ID orders the queue (it grows with every enqueue and is never reused) and names
	// the entry for Ack.
	ID    int64
	Event Event
	// Bad, when set, says the stored entry could not be read back as an event; the
	// Dispatcher drops it, logging the reason.
	Bad error
}

// RawQueue is what a durable store provides for NewStoreQueue: payloads are opaque
// bytes, ids grow with every enqueue and are never reused. *store.SQLite implements it.
type RawQueue interface {
	// EnqueueSinkEvents stores each payload once for each sink, in one transaction.
	EnqueueSinkEvents(ctx context.Context, sinks []string, payloads [][]byte) error
	// ScanSinkEvents calls fn for up to limit of the sink's oldest entries, oldest first.
	ScanSinkEvents(ctx context.Context, sink string, limit int, fn func(id int64, payload []byte) error) error
	// AckSinkEvents deletes the sink's entries with these ids.
	AckSinkEvents(ctx context.Context, sink string, ids []int64) error
	// CountSinkEvents returns how many entries wait for the sink.
	CountSinkEvents(ctx context.Context, sink string) (int, error)
}

// NewStoreQueue returns a Queue that keeps events as JSON in raw.
func NewStoreQueue(raw RawQueue) Queue { return storeQueue{raw} }

type storeQueue struct{ raw RawQueue }

var _ Queue = storeQueue{}

func (q storeQueue) Enqueue(ctx context.Context, sinks []string, events []Event) error {
	if len(sinks) == 0 || len(events) == 0 {
		return nil
	}
	payloads := make([][]byte, len(events))
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return fmt.Errorf("encode event %s for the sink queue: %w", events[i].ID, err)
		}
		payloads[i] = b
	}
	if err := q.raw.EnqueueSinkEvents(ctx, sinks, payloads); err != nil {
		return fmt.Errorf("enqueue %d events for %d sinks: %w", len(events), len(sinks), err)
	}
	return nil
}

func (q storeQueue) Pending(ctx context.Context, sink string, limit int) ([]Queued, error) {
	var out []Queued
	err := q.raw.ScanSinkEvents(ctx, sink, limit, func(id int64, payload []byte) error {
		e := Queued{ID: id}
		if err := json.Unmarshal(payload, &e.Event); err != nil {
			e.Bad = fmt.Errorf("stored event %d is not valid JSON: %w", id, err)
		} else if err := e.Event.Validate(); err != nil {
			e.Bad = fmt.Errorf("stored event %d: %w", id, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the queue of sink %s: %w", sink, err)
	}
	return out, nil
}

func (q storeQueue) Ack(ctx context.Context, sink string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := q.raw.AckSinkEvents(ctx, sink, ids); err != nil {
		return fmt.Errorf("remove %d delivered events from the queue of sink %s: %w", len(ids), sink, err)
	}
	return nil
}

func (q storeQueue) Len(ctx context.Context, sink string) (int, error) {
	n, err := q.raw.CountSinkEvents(ctx, sink)
	if err != nil {
		return 0, fmt.Errorf("count the queue of sink %s: %w", sink, err)
	}
	return n, nil
}
