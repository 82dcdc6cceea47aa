package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"
)

// A request is one Submit waiting for its op to commit.
type request struct {
	ctx   context.Context
	op    Op
	state atomic.Int32
	done  chan error // buffered: the writer never waits for the submitter
}

const (
	reqQueued    int32 = iota // in the queue; the submitter may still withdraw it
	reqStarted                // the writer is running it: it is committed regardless
	reqCancelled              // withdrawn before it started; never runs
)

// Submit queues op and blocks until the transaction holding it has committed (nil) or
// failed (the op's error, or the store's). If ctx ends while op is still queued, op is
// withdrawn and ctx.Err() returned; once op has started it commits regardless, and
// Submit waits for that commit.
func (s *SQLite) Submit(ctx context.Context, op Op) error {
	if op == nil {
		return errors.New("store: submit: nil op")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := s.requests.Get().(*request)
	r.ctx, r.op = ctx, op
	r.state.Store(reqQueued)

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		r.ctx, r.op = nil, nil
		s.requests.Put(r)
		return ErrClosed
	}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		r.ctx, r.op = nil, nil
		s.requests.Put(r)
		return ctx.Err()
	}
	s.mu.RUnlock()

	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			// The writer will skip r without touching it again, except to read its
			// state; r is left to the garbage collector, not reused.
			return ctx.Err()
		}
		err = <-r.done
	}
	r.ctx, r.op = nil, nil
	s.requests.Put(r)
	return err
}

// Queued reports how many submitted ops are waiting for the writer: its backlog.
func (s *SQLite) Queued() int { return len(s.queue) }

// maxChunkBits bounds multi-row statements at 1<<maxChunkBits rows (64 alerts are
// 1,152 parameters). Smaller flushes use the power-of-two statements below it, so at
// most maxChunkBits+1 statements per table are ever prepared.
const (
	maxChunkBits = 6
	maxChunkRows = 1 << maxChunkBits
)

// rowBuf accumulates rows for one multi-row INSERT and writes them in chunks.
type rowBuf struct {
	what    string // for errors: "insert alerts"
	head    string // "INSERT INTO t (a, b) VALUES "
	tail    string // " ON CONFLICT ..." or ""
	cols    int
	args    []driver.NamedValue
	rows    int
	stmts   [maxChunkBits + 1]*sqlite3.SQLiteStmt
	written *int // the writer's count of rows written since the last checkpoint
}

func (b *rowBuf) add(v any) { b.args = append(b.args, driver.NamedValue{Value: v}) }

// endRow closes the row being added and reports whether the buffer is full.
func (b *rowBuf) endRow() bool {
	b.rows++
	return b.rows >= maxChunkRows
}

// truncate drops rows added after a failure midway through a call.
func (b *rowBuf) truncate(rows int) {
	clear(b.args[rows*b.cols:])
	b.args = b.args[:rows*b.cols]
	b.rows = rows
}

func (b *rowBuf) reset() { b.truncate(0) }

func (b *rowBuf) stmt(c *sqlite3.SQLiteConn, k int) (*sqlite3.SQLiteStmt, error) {
	if st := b.stmts[k]; st != nil {
		return st, nil
	}
	q := make([]byte, 0, len(b.head)+len(b.tail)+(2*b.cols+2)<<k)
	q = append(q, b.head...)
	for r := 0; r < 1<<k; r++ {
		if r > 0 {
			q = append(q, ',')
		}
		q = append(q, '(')
		for i := 0; i < b.cols; i++ {
			if i > 0 {
				q = append(q, ',')
			}
			q = append(q, '?')
		}
		q = append(q, ')')
	}
	q = append(q, b.tail...)
	ds, err := c.Prepare(string(q))
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", b.what, err)
	}
	st := ds.(*sqlite3.SQLiteStmt)
	b.stmts[k] = st
	return st, nil
}

// flush writes every buffered row: the largest power-of-two chunks first.
func (b *rowBuf) flush(c *sqlite3.SQLiteConn) error {
	*b.written += b.rows
	off := 0
	for off < b.rows {
		k := maxChunkBits
		for 1<<k > b.rows-off {
			k--
		}
		st, err := b.stmt(c, k)
		if err != nil {
			b.reset()
			return err
		}
		seg := b.args[off*b.cols : (off+1<<k)*b.cols]
		if err := execStmt(st, seg); err != nil {
			b.reset()
			return fmt.Errorf("%s: %w", b.what, err)
		}
		off += 1 << k
	}
	b.reset()
	return nil
}

func (b *rowBuf) close() error {
	var errs []error
	for i, st := range b.stmts {
		if st != nil {
			errs = append(errs, st.Close())
			b.stmts[i] = nil
		}
	}
	return errors.Join(errs...)
}

// execStmt numbers args 1..n and runs st. A background context keeps the driver on
// its synchronous path (no watcher goroutine per statement).
//
// It goes through QueryContext rather than ExecContext: the driver's query path binds
// every parameter and takes the first step in one cgo call, where its exec path makes
// one call per parameter. A data-changing statement runs to completion at that step.
func execStmt(st *sqlite3.SQLiteStmt, args []driver.NamedValue) error {
	for i := range args {
		args[i].Ordinal = i + 1
	}
	rows, err := st.QueryContext(context.Background(), args)
	if err != nil {
		return err
	}
	return rows.Close()
}

const (
	alertCols = "id, incident_id, source, format, source_ref, rule, title, severity, category, status, event_time, received_at, entities, labels, url, fingerprint, drill_id, raw"
	// alertColsNoRaw is alertCols with NULL in raw's place.
	alertColsNoRaw = "id, incident_id, source, format, source_ref, rule, title, severity, category, status, event_time, received_at, entities, labels, url, fingerprint, drill_id, NULL"
	alertNCols     = 18
	incCols        = "id, number, title, kind, status, severity, category, notifiable, alert_count, first_seen, last_seen, opened_at, acknowledged_at, contained_at, resolved_at, closed_at, merged_into, commander, drill_id, updated_at"
	incNCols       = 20
	// The indexed columns status, severity and kind are set apart: see flushIncidents.
	incUpdate   = " ON CONFLICT (id) DO UPDATE SET number = excluded.number, title = excluded.title, category = excluded.category, notifiable = excluded.notifiable, alert_count = excluded.alert_count, first_seen = excluded.first_seen, last_seen = excluded.last_seen, opened_at = excluded.opened_at, acknowledged_at = excluded.acknowledged_at, contained_at = excluded.contained_at, resolved_at = excluded.resolved_at, closed_at = excluded.closed_at, merged_into = excluded.merged_into, commander = excluded.commander, drill_id = excluded.drill_id, updated_at = excluded.updated_at"
	entCols     = "incident_id, kind, value, role"
	entNCols    = 4
	timelineSQL = "INSERT INTO timeline (id, incident_id, at, actor, kind, text, data) VALUES (?, ?, ?, ?, ?, ?, ?)"
	auditSQL    = "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

// writer owns the write connection. Everything on it runs on the writer goroutine.
type writer struct {
	opts Options
	conn *sqlite3.SQLiteConn

	begin, commit, rollback           *sqlite3.SQLiteStmt
	moveAlerts, copyEntities, delEnts *sqlite3.SQLiteStmt
	insTimeline, insAudit             *sqlite3.SQLiteStmt
	setIncidentKeys, upsertBlock      *sqlite3.SQLiteStmt
	// See migration 0009 and writeTx.indexAlerts.
	indexAlerts, indexAlert, setAlertsMark *sqlite3.SQLiteStmt
	moveIndexed                            *sqlite3.SQLiteStmt
	prepared                               []*sqlite3.SQLiteStmt
	alerts, incidents, entities            rowBuf
	tx                                     writeTx
	ran                                    []*request
	singleArgs                             [8]driver.NamedValue

	// written counts rows written since the checkpointer was last kicked.
	written     int
	ckpt        *checkpointer
	checkpoint  *sqlite3.SQLiteStmt
	walRestarts int // checkpoints by the writer that copied every frame
}

// checkpointAll runs a passive checkpoint on the write connection and reports whether
// it copied every frame, so that the next transaction starts the WAL over.
func (w *writer) checkpointAll() bool {
	rows, err := w.checkpoint.QueryContext(context.Background(), nil)
	if err != nil {
		return false
	}
	defer rows.Close()
	vals := make([]driver.Value, 3) // busy, frames in the WAL, frames copied
	if rows.Next(vals) != nil {
		return false
	}
	busy, _ := vals[0].(int64)
	frames, _ := vals[1].(int64)
	copied, _ := vals[2].(int64)
	return busy == 0 && frames == copied
}

// committed is called after each commit: it wakes the checkpointer once enough rows
// have gone into the WAL, and lets the WAL start over when it has grown large (see
// checkpoint.go). The writer's connection does not checkpoint on its own
// (wal_autocheckpoint is off), so commits do not wait for checkpoints.
func (w *writer) committed() {
	if w.ckpt == nil {
		return
	}
	if w.written >= w.ckpt.every {
		w.written = 0
		select {
		case w.ckpt.kick <- struct{}{}:
		default: // a checkpoint is already pending; it will copy these frames too
		}
	}
	if w.ckpt.restart.Load() && !w.ckpt.busy.Load() {
		// See checkpoint.go. Should this checkpoint not copy every frame (a reader
		// holds some), the WAL does not start over yet and a later background pass
		// asks again.
		if w.checkpointAll() {
			w.walRestarts++
		}
		w.ckpt.restart.Store(false)
	}
}

// newWriter reads the id counters and the head of the audit chain.
func newWriter(ctx context.Context, conn *sql.Conn, opts Options) (*writer, error) {
	w := &writer{opts: opts}
	w.alerts = rowBuf{what: "insert alerts", head: "INSERT INTO alerts (" + alertCols + ") VALUES ", cols: alertNCols, written: &w.written}
	w.incidents = rowBuf{what: "upsert incidents", head: "INSERT INTO incidents (" + incCols + ") VALUES ", tail: incUpdate, cols: incNCols, written: &w.written}
	w.entities = rowBuf{what: "add incident entities", head: "INSERT OR IGNORE INTO incident_entities (" + entCols + ") VALUES ", cols: entNCols, written: &w.written}
	w.tx = writeTx{w: w, incRow: make(map[int64]int), keysDone: make(map[int64]incidentKeys), keysTx: make(map[int64]incidentKeys)}
	for _, c := range []struct {
		q   string
		dst *int64
	}{
		{"SELECT COALESCE(MAX(id), 0) FROM alerts", &w.tx.nextAlert},
		{"SELECT COALESCE(MAX(id), 0) FROM incidents", &w.tx.nextIncident},
		{"SELECT COALESCE(MAX(id), 0) FROM timeline", &w.tx.nextEvent},
		{"SELECT through FROM incident_alerts_mark", &w.tx.indexed},
	} {
		if err := conn.QueryRowContext(ctx, c.q).Scan(c.dst); err != nil {
			return nil, fmt.Errorf("load counters: %w", err)
		}
	}
	// The block of the newest alert has no alert_blocks row yet: its newest event time
	// is read back from its alerts (a range of rowids).
	b := &w.tx.block
	b.block = w.tx.nextAlert >> alertBlockBits
	var newest sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(event_time) FROM alerts WHERE id >= ?", b.block<<alertBlockBits).Scan(&newest); err != nil {
		return nil, fmt.Errorf("load the newest alert block: %w", err)
	}
	b.max, b.has = newest.Int64, newest.Valid
	err := conn.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&w.tx.auditSeq, &w.tx.auditHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load audit head: %w", err)
	}
	return w, nil
}

func (w *writer) prepare(c *sqlite3.SQLiteConn) error {
	w.conn = c
	for _, p := range []struct {
		dst **sqlite3.SQLiteStmt
		q   string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		// An incident's alerts as the reads find them (migration 0009), then its pairs.
		{&w.moveAlerts, "UPDATE alerts SET incident_id = ?1 WHERE id IN (" + incidentAlertIDsOf("?2", "0") + ")"},
		{&w.moveIndexed, "UPDATE incident_alerts SET incident_id = ?1 WHERE incident_id = ?2"},
		{&w.indexAlerts, "INSERT INTO incident_alerts (incident_id, alert_id) SELECT incident_id, id FROM alerts WHERE id > ?1 AND incident_id IS NOT NULL"},
		{&w.indexAlert, "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id) VALUES (?1, ?2)"},
		{&w.setAlertsMark, "UPDATE incident_alerts_mark SET through = ?1"},
		{&w.copyEntities, "INSERT OR IGNORE INTO incident_entities (" + entCols + ") SELECT ?, kind, value, role FROM incident_entities WHERE incident_id = ? ORDER BY rowid"},
		{&w.delEnts, "DELETE FROM incident_entities WHERE incident_id = ?"},
		{&w.insTimeline, timelineSQL},
		{&w.insAudit, auditSQL},
		{&w.setIncidentKeys, "UPDATE incidents SET status = ?1, severity = ?2, kind = ?3 WHERE id = ?4 AND (status <> ?1 OR severity <> ?2 OR kind <> ?3)"},
		{&w.upsertBlock, "INSERT INTO alert_blocks (block, max_event_time) VALUES (?1, ?2) ON CONFLICT (block) DO UPDATE SET " +
			"max_event_time = CASE WHEN max_event_time IS NULL OR excluded.max_event_time > max_event_time THEN excluded.max_event_time ELSE max_event_time END"},
		{&w.checkpoint, "PRAGMA wal_checkpoint(PASSIVE)"},
	} {
		ds, err := c.Prepare(p.q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.dst = ds.(*sqlite3.SQLiteStmt)
		w.prepared = append(w.prepared, *p.dst)
	}
	return nil
}

func (w *writer) close() error {
	errs := []error{w.alerts.close(), w.incidents.close(), w.entities.close()}
	for _, st := range w.prepared {
		errs = append(errs, st.Close())
	}
	w.prepared = nil
	if _, err := w.conn.Exec("PRAGMA optimize", nil); err != nil {
		errs = append(errs, fmt.Errorf("optimize: %w", err))
	}
	return errors.Join(errs...)
}

// exec1 runs a single-row statement with vals as its parameters.
func (w *writer) exec1(st *sqlite3.SQLiteStmt, vals ...any) error {
	w.written++
	args := w.singleArgs[:len(vals)]
	for i, v := range vals {
		args[i].Value = v
	}
	err := execStmt(st, args)
	clear(args)
	return err
}

// runWriter is the writer goroutine: it owns the write connection for the life of the
// store and commits the queue in batches until Close closes the queue.
func (s *SQLite) runWriter(w *writer, ready chan<- error) {
	defer close(s.writerDone)
	started := false
	err := s.wconn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		if err := w.prepare(c); err != nil {
			w.close()
			return err
		}
		started = true
		ready <- nil
		w.loop(s.queue)
		if w.ckpt != nil {
			close(w.ckpt.kick)
		}
		return w.close()
	})
	if !started {
		ready <- err
		return
	}
	if err != nil {
		s.writerErr = fmt.Errorf("writer: %w", err)
	}
}

// loop takes whatever is queued (up to MaxBatch ops) and commits it as one batch.
func (w *writer) loop(queue <-chan *request) {
	batch := make([]*request, 0, w.opts.MaxBatch)
	for {
		r, ok := <-queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		w.gather(queue, &batch)
		w.runBatch(batch)
		clear(batch)
	}
}

// maxYields bounds how many times the writer yields while gathering a batch.
const maxYields = 4

// gather adds whatever is queued to batch. While ops keep arriving it yields the
// processor so that submitters already woken (typically those answered by the last
// commit) can queue their next op and join this batch: one commit then serves many
// ops instead of a few. When nothing else is runnable a yield returns at once, so an
// idle store pays next to nothing for it.
func (w *writer) gather(queue <-chan *request, batch *[]*request) {
	prev := -1
	for yields := 0; ; yields++ {
	drain:
		for len(*batch) < w.opts.MaxBatch {
			select {
			case r, ok := <-queue:
				if !ok {
					return
				}
				*batch = append(*batch, r)
			default:
				break drain
			}
		}
		if len(*batch) >= w.opts.MaxBatch || len(*batch) == prev || yields == maxYields {
			return
		}
		prev = len(*batch)
		runtime.Gosched()
	}
}

// start claims r for running. A request whose submitter has gone is answered (if
// still queued) with its context's error, or skipped (if withdrawn).
func start(r *request) bool {
	if err := r.ctx.Err(); err != nil {
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			r.done <- err
		}
		return false
	}
	return r.state.CompareAndSwap(reqQueued, reqStarted)
}

// runBatch runs batch in one transaction. If any op (or the commit) fails, the
// transaction is rolled back and each op that ran is run again alone, so that only
// the failing op fails; the ops after the failure are then batched again.
func (w *writer) runBatch(batch []*request) {
	t0 := w.opts.Clock.Now()
	if err := w.tx.begin(); err != nil {
		for _, r := range batch {
			if start(r) {
				r.done <- err
			}
		}
		return
	}
	ran := w.ran[:0]
	var failed error
	rest := 0
	for i, r := range batch {
		if !start(r) {
			continue
		}
		ran = append(ran, r)
		if err := w.tx.run(r.op); err != nil {
			failed = err
			rest = i + 1
			break
		}
	}
	if failed == nil {
		failed = w.tx.finish()
		rest = len(batch)
	}
	w.ran = ran
	if failed == nil {
		if w.opts.OnBatch != nil && len(ran) > 0 {
			w.opts.OnBatch(len(ran), w.opts.Clock.Now().Sub(t0))
		}
		for _, r := range ran {
			r.done <- nil
		}
		clear(w.ran)
		w.committed()
		return
	}
	w.tx.abort()
	if len(ran) == 1 {
		ran[0].done <- failed
	} else {
		for _, r := range ran {
			w.runAlone(r)
		}
	}
	clear(w.ran)
	if rest < len(batch) {
		w.runBatch(batch[rest:])
	}
}

// runAlone runs one already started op in a transaction of its own and answers it.
func (w *writer) runAlone(r *request) {
	t0 := w.opts.Clock.Now()
	if err := w.tx.begin(); err != nil {
		r.done <- err
		return
	}
	err := w.tx.run(r.op)
	if err == nil {
		err = w.tx.finish()
	}
	if err != nil {
		w.tx.abort()
		r.done <- err
		return
	}
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(1, w.opts.Clock.Now().Sub(t0))
	}
	r.done <- nil
	w.committed()
}
