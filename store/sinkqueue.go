package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// The sink queue holds events waiting for delivery to the SIEM sinks: payloads are
// opaque bytes (package sinks stores events as JSON), one row per event and sink, in
// the order enqueued. *SQLite implements sinks.RawQueue with the methods below; writes
// go through the writer like every other change, reads through the read pool.

const (
	sinkInsertSQL = "INSERT INTO sink_queue (sink, enqueued_at, payload) VALUES (?, ?, ?)"
	maxAckChunk   = 500 // ids per DELETE, well under SQLite's parameter limit
	maxScanLimit  = 10000
)

// EnqueueSinkEvents stores each payload once for each sink, in one transaction: every
// sink gets every payload, or nothing is stored.
func (s *SQLite) EnqueueSinkEvents(ctx context.Context, sinks []string, payloads [][]byte) error {
	if len(sinks) == 0 || len(payloads) == 0 {
		return nil
	}
	return s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: enqueue sink events: unexpected transaction type %T", tx)
		}
		return t.EnqueueSinkEvents(sinks, payloads)
	})
}

// EnqueueSinkEvents adds the payloads to the sinks' queues within this transaction, so
// that an incident change and the events announcing it commit together.
func (t *writeTx) EnqueueSinkEvents(sinks []string, payloads [][]byte) error {
	if t.err != nil {
		return t.err
	}
	for _, s := range sinks {
		if s == "" {
			return errors.New("store: enqueue sink events: empty sink name")
		}
	}
	for i, p := range payloads {
		if len(p) == 0 {
			return fmt.Errorf("store: enqueue sink events: payload %d is empty", i)
		}
	}
	ds, err := t.w.conn.Prepare(sinkInsertSQL)
	if err != nil {
		return t.poison(fmt.Errorf("prepare sink queue insert: %w", err))
	}
	defer ds.Close()
	st, ok := ds.(driver.StmtExecContext)
	if !ok {
		return t.poison(fmt.Errorf("sink queue insert: statement %T cannot execute with a context", ds))
	}
	now := t.w.opts.Clock.Now().UnixNano()
	args := make([]driver.NamedValue, 3)
	for _, p := range payloads {
		for _, sink := range sinks {
			args[0] = driver.NamedValue{Ordinal: 1, Value: sink}
			args[1] = driver.NamedValue{Ordinal: 2, Value: now}
			args[2] = driver.NamedValue{Ordinal: 3, Value: string(p)}
			if _, err := st.ExecContext(context.Background(), args); err != nil {
				return t.poison(fmt.Errorf("enqueue an event for sink %s: %w", sink, err))
			}
		}
	}
	return nil
}

// ScanSinkEvents calls fn with up to limit of the sink's oldest entries, oldest first
// (limit is clamped to 1..10000). The payload slice is only valid during the call.
func (s *SQLite) ScanSinkEvents(ctx context.Context, sink string, limit int, fn func(id int64, payload []byte) error) error {
	limit = clampLimit(limit, 100, maxScanLimit)
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, payload FROM sink_queue WHERE sink = ? ORDER BY id LIMIT ?", sink, limit)
	if err != nil {
		return fmt.Errorf("read the queue of sink %s: %w", sink, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      int64
			payload []byte
		)
		if err := rows.Scan(&id, &payload); err != nil {
			return fmt.Errorf("read the queue of sink %s: %w", sink, err)
		}
		if err := fn(id, payload); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the queue of sink %s: %w", sink, err)
	}
	return nil
}

// AckSinkEvents deletes the sink's entries with these ids. Ids that are gone, or that
// belong to another sink, are left alone.
func (s *SQLite) AckSinkEvents(ctx context.Context, sink string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	ids = append([]int64(nil), ids...) // the op may run after the caller reuses its slice
	return s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: ack sink events: unexpected transaction type %T", tx)
		}
		return t.ackSinkEvents(sink, ids)
	})
}

func (t *writeTx) ackSinkEvents(sink string, ids []int64) error {
	if t.err != nil {
		return t.err
	}
	for len(ids) > 0 {
		n := min(len(ids), maxAckChunk)
		chunk := ids[:n]
		ids = ids[n:]
		q := "DELETE FROM sink_queue WHERE sink = ? AND id IN (?" + strings.Repeat(",?", n-1) + ")"
		ds, err := t.w.conn.Prepare(q)
		if err != nil {
			return t.poison(fmt.Errorf("prepare sink queue delete: %w", err))
		}
		st, ok := ds.(driver.StmtExecContext)
		if !ok {
			ds.Close()
			return t.poison(fmt.Errorf("sink queue delete: statement %T cannot execute with a context", ds))
		}
		args := make([]driver.NamedValue, n+1)
		args[0] = driver.NamedValue{Ordinal: 1, Value: sink}
		for i, id := range chunk {
			args[i+1] = driver.NamedValue{Ordinal: i + 2, Value: id}
		}
		_, err = st.ExecContext(context.Background(), args)
		ds.Close()
		if err != nil {
			return t.poison(fmt.Errorf("remove delivered events of sink %s: %w", sink, err))
		}
	}
	return nil
}

// CountSinkEvents returns how many entries wait for the sink.
func (s *SQLite) CountSinkEvents(ctx context.Context, sink string) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM sink_queue WHERE sink = ?", sink).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the queue of sink %s: %w", sink, err)
	}
	return n, nil
}
