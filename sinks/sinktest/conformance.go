package sinktest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/warroom/warroom/sinks"
)

// TestQueue runs the behaviour every sinks.Queue must have against queues made by
// newQueue (a fresh, empty queue per call): per-sink order, limits, atomic fan-out,
// acks scoped to a sink and idempotent, ids that grow and are never reused, and events
// that come back exactly as stored.
func TestQueue(t *testing.T, newQueue func(t *testing.T) sinks.Queue) {
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ev := func(i int) sinks.Event {
		return sinks.Event{
			ID:       fmt.Sprintf("ev-%03d", i),
			Time:     base.Add(time.Duration(i) * time.Second),
			Type:     sinks.ActionSucceeded,
			Incident: "INC-0042",
			Actor:    "alice",
			Fields:   map[string]string{"n": fmt.Sprint(i), "target": "203.0.113.7/32", "note": "ünïcode \"q\" ] \\"},
		}
	}
	ids := func(qs []sinks.Queued) []int64 {
		out := make([]int64, len(qs))
		for i, q := range qs {
			out[i] = q.ID
		}
		return out
	}
	eventIDs := func(qs []sinks.Queued) []string {
		out := make([]string, len(qs))
		for i, q := range qs {
			out[i] = q.Event.ID
		}
		return out
	}
	mustPending := func(t *testing.T, q sinks.Queue, sink string, limit int) []sinks.Queued {
		t.Helper()
		got, err := q.Pending(ctx, sink, limit)
		if err != nil {
			t.Fatalf("Pending(%s, %d): %v", sink, limit, err)
		}
		for _, g := range got {
			if g.Bad != nil {
				t.Fatalf("Pending(%s): entry %d is bad: %v", sink, g.ID, g.Bad)
			}
		}
		return got
	}
	mustLen := func(t *testing.T, q sinks.Queue, sink string, want int) {
		t.Helper()
		n, err := q.Len(ctx, sink)
		if err != nil {
			t.Fatalf("Len(%s): %v", sink, err)
		}
		if n != want {
			t.Fatalf("Len(%s) = %d, want %d", sink, n, want)
		}
	}

	t.Run("EmptyQueueHasNothingPending", func(t *testing.T) {
		q := newQueue(t)
		if got := mustPending(t, q, "splunk", 10); len(got) != 0 {
			t.Fatalf("Pending on an empty queue = %v, want none", got)
		}
		mustLen(t, q, "splunk", 0)
	})

	t.Run("EventsComeBackExactlyInOrderPerSink", func(t *testing.T) {
		q := newQueue(t)
		events := []sinks.Event{ev(1), ev(2), ev(3)}
		if err := q.Enqueue(ctx, []string{"splunk", "elastic"}, events); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		for _, sink := range []string{"splunk", "elastic"} {
			got := mustPending(t, q, sink, 10)
			if len(got) != 3 {
				t.Fatalf("%s: %d pending, want 3", sink, len(got))
			}
			for i, g := range got {
				want := events[i]
				if !g.Event.Time.Equal(want.Time) {
					t.Fatalf("%s: event %d time %v, want %v", sink, i, g.Event.Time, want.Time)
				}
				g.Event.Time = want.Time
				if !reflect.DeepEqual(g.Event, want) {
					t.Fatalf("%s: event %d = %+v, want %+v", sink, i, g.Event, want)
				}
				if i > 0 && g.ID <= got[i-1].ID {
					t.Fatalf("%s: ids not increasing: %v", sink, ids(got))
				}
			}
			mustLen(t, q, sink, 3)
		}
		mustLen(t, q, "syslog", 0)
	})

	t.Run("LimitReturnsTheOldest", func(t *testing.T) {
		q := newQueue(t)
		for i := 1; i <= 5; i++ {
			if err := q.Enqueue(ctx, []string{"s"}, []sinks.Event{ev(i)}); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
		}
		got := eventIDs(mustPending(t, q, "s", 2))
		if want := []string{"ev-001", "ev-002"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Pending(limit 2) = %v, want %v", got, want)
		}
	})

	t.Run("AckRemovesOnlyThatSinksEntries", func(t *testing.T) {
		q := newQueue(t)
		if err := q.Enqueue(ctx, []string{"a", "b"}, []sinks.Event{ev(1), ev(2), ev(3)}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		a := mustPending(t, q, "a", 10)
		b := mustPending(t, q, "b", 10)
		// Ack a's first and last, plus all of b's ids under sink a: only a's own go.
		if err := q.Ack(ctx, "a", append([]int64{a[0].ID, a[2].ID}, ids(b)...)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if got, want := eventIDs(mustPending(t, q, "a", 10)), []string{"ev-002"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("a after ack = %v, want %v", got, want)
		}
		mustLen(t, q, "b", 3)
		// Acking again, or ids that never existed, changes nothing.
		if err := q.Ack(ctx, "a", []int64{a[0].ID, a[2].ID, 1 << 40}); err != nil {
			t.Fatalf("repeated Ack: %v", err)
		}
		mustLen(t, q, "a", 1)
		if err := q.Ack(ctx, "a", nil); err != nil {
			t.Fatalf("Ack(nil): %v", err)
		}
	})

	t.Run("IDsAreNeverReused", func(t *testing.T) {
		q := newQueue(t)
		if err := q.Enqueue(ctx, []string{"s"}, []sinks.Event{ev(1), ev(2)}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		first := mustPending(t, q, "s", 10)
		if err := q.Ack(ctx, "s", ids(first)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := q.Enqueue(ctx, []string{"s"}, []sinks.Event{ev(3)}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		again := mustPending(t, q, "s", 10)
		if len(again) != 1 || again[0].ID <= first[1].ID {
			t.Fatalf("id after acking everything = %v, want one id above %d", ids(again), first[1].ID)
		}
		// A stale ack of the old ids must not remove the new entry.
		if err := q.Ack(ctx, "s", ids(first)); err != nil {
			t.Fatalf("stale Ack: %v", err)
		}
		mustLen(t, q, "s", 1)
	})

	t.Run("EmptyEnqueueIsANoOp", func(t *testing.T) {
		q := newQueue(t)
		if err := q.Enqueue(ctx, nil, []sinks.Event{ev(1)}); err != nil {
			t.Fatalf("Enqueue(no sinks): %v", err)
		}
		if err := q.Enqueue(ctx, []string{"s"}, nil); err != nil {
			t.Fatalf("Enqueue(no events): %v", err)
		}
		mustLen(t, q, "s", 0)
	})
}
