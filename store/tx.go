package store

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/mattn/go-sqlite3"

	"github.com/warroom/warroom/triage/model"
)

// writeTx is the Tx handed to ops. There is one, reused for every transaction of the
// writer goroutine.
//
// Rows of alerts, incidents and incident entities are buffered and written with
// multi-row statements when a buffer fills, before MoveAlerts, and at commit; several
// upserts of one incident in a transaction write only the last. A failure while
// writing buffered rows cannot be pinned on the op that added them, so any SQL error
// poisons the transaction: every later call and the commit fail with it, the batch is
// rolled back and its ops are run again one per transaction, where each op's rows are
// written before its own commit and an error is its own. Argument errors (a missing
// id, a time out of range) are returned before anything is buffered and do not poison.
type writeTx struct {
	w *writer

	nextAlert, nextIncident, nextEvent int64
	auditSeq                           int64
	auditHash                          string

	// The block of alert ids being filled and the newest event time among its alerts
	// (see migration 0008 and noteAlertBlock).
	block blockState
	// indexed is incident_alerts_mark.through as this transaction has it: the alerts
	// up to it are in incident_alerts (migration 0009, indexAlerts).
	indexed int64
	// Audit chain head, alert block and mark at BEGIN, restored on rollback.
	savedSeq     int64
	savedHash    string
	savedBlock   blockState
	savedIndexed int64

	incRow  map[int64]int // incident id -> row in w.incidents not yet written
	incKeys [][4]any      // scratch for flushIncidents
	// keysDone holds the indexed columns of incident rows as committed by this writer,
	// keysTx those written by the open transaction: flushIncidents skips the UPDATE
	// of an incident whose status, severity and kind are known to be in its row.
	keysDone, keysTx map[int64]incidentKeys
	rollbacks        []func()
	err              error // first SQL error of this transaction
	arena            arena // bytes of the JSON and raw values of buffered alert rows
	// alertBox holds the last boxed value of the alert columns that repeat from row
	// to row (source, format, rule, title, category, status).
	alertBox [6]boxMemo
}

// arena holds the text of buffered values without one allocation each. Strings handed
// out point into it, so it is only appended to: when full, a new block is started
// and the old one lives on for as long as those strings do. reset makes the current
// block reusable once no buffered row refers to it.
type arena struct{ b []byte }

const arenaBlock = 256 << 10

// start returns where the next value, of about size bytes, begins; it starts a new
// block if the current one lacks room. (A value that outgrows its estimate is still
// safe: append moves the block to a new array, and the strings handed out earlier
// keep the old one alive.)
func (a *arena) start(size int) int {
	if cap(a.b)-len(a.b) < size {
		a.b = make([]byte, 0, max(arenaBlock, size))
	}
	return len(a.b)
}

// string returns the bytes appended since start as a string sharing the arena.
func (a *arena) string(start int) string {
	if len(a.b) == start {
		return ""
	}
	return unsafe.String(&a.b[start], len(a.b)-start)
}

func (a *arena) reset() { a.b = a.b[:0] }

// boxMemo turns a string into a driver argument, reusing the previous one when the
// string repeats: converting a string to an interface allocates, and consecutive
// alerts mostly share their source, format, rule, title and category.
type boxMemo struct {
	s string
	v any
}

func (m *boxMemo) box(s string) any {
	if m.v == nil || s != m.s {
		m.s, m.v = s, s
	}
	return m.v
}

var _ Tx = (*writeTx)(nil)

// incidentKeys are the indexed columns of an incidents row.
type incidentKeys struct {
	status, kind string
	severity     int64
}

// maxKeysDone bounds keysDone; past it the memory starts over (and the first write of
// each incident after that runs its UPDATE again).
const maxKeysDone = 1 << 16

func (t *writeTx) begin() error {
	clear(t.keysTx)
	if !t.w.conn.AutoCommit() {
		// A transaction left open by a failed ROLLBACK: end it before starting over.
		execStmt(t.w.rollback, nil)
	}
	t.savedSeq, t.savedHash = t.auditSeq, t.auditHash
	t.savedBlock = t.block
	t.savedIndexed = t.indexed
	t.err = nil
	if err := execStmt(t.w.begin, nil); err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	return nil
}

// run runs op; a panic in op is turned into its error so the writer survives it.
func (t *writeTx) run(op Op) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: op panicked: %v", p)
		}
	}()
	if err := op(t); err != nil {
		return err
	}
	return t.err
}

// finish writes the buffered rows and commits.
func (t *writeTx) finish() error {
	if err := t.flush(); err != nil {
		return err
	}
	if t.nextAlert-t.indexed >= t.w.opts.indexEvery {
		if err := t.indexAlerts(); err != nil {
			return t.poison(err)
		}
	}
	if err := execStmt(t.w.commit, nil); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if len(t.keysTx) > 0 {
		if len(t.keysDone)+len(t.keysTx) > maxKeysDone {
			clear(t.keysDone)
		}
		for id, k := range t.keysTx {
			t.keysDone[id] = k
		}
		clear(t.keysTx)
	}
	clear(t.rollbacks)
	t.rollbacks = t.rollbacks[:0]
	return nil
}

// abort rolls back, restores the audit head and runs the OnRollback callbacks, newest
// first.
func (t *writeTx) abort() {
	// A failed COMMIT may already have rolled back; then ROLLBACK fails harmlessly.
	execStmt(t.w.rollback, nil)
	t.w.alerts.reset()
	t.w.incidents.reset()
	t.w.entities.reset()
	t.arena.reset()
	clear(t.incRow)
	clear(t.keysTx)
	t.auditSeq, t.auditHash = t.savedSeq, t.savedHash
	t.block = t.savedBlock
	t.indexed = t.savedIndexed
	t.err = nil
	for i := len(t.rollbacks) - 1; i >= 0; i-- {
		runRollback(t.rollbacks[i])
	}
	clear(t.rollbacks)
	t.rollbacks = t.rollbacks[:0]
}

func runRollback(f func()) {
	defer func() { recover() }() // one broken callback must not stop the others or the writer
	f()
}

// flush writes every buffered row.
func (t *writeTx) flush() error {
	if t.err != nil {
		return t.err
	}
	if err := t.flushIncidents(); err != nil {
		return t.poison(err)
	}
	for _, b := range []*rowBuf{&t.w.alerts, &t.w.entities} {
		if err := b.flush(t.w.conn); err != nil {
			t.arena.reset()
			return t.poison(err)
		}
	}
	t.arena.reset()
	return nil
}

// flushIncidents writes the buffered incident rows. SQLite rewrites an index entry
// whenever an UPDATE sets a column of that index, even to the value it had, so the
// upsert leaves status, severity and kind (the indexed columns) alone on existing
// rows, and one UPDATE per incident then sets them only where they changed. An
// incident's usual change (one more alert, a later last_seen) so dirties one page
// instead of four. The UPDATE is left out altogether for an incident whose indexed
// columns this writer already wrote with the same values (keysDone, keysTx): usually
// all of them, which saves a statement per incident per commit.
func (t *writeTx) flushIncidents() error {
	b := &t.w.incidents
	clear(t.incRow)
	if b.rows == 0 {
		return nil
	}
	keys := t.incKeys[:0]
	for r := range b.rows {
		row := b.args[r*incNCols:]
		id, _ := row[0].Value.(int64)
		k := incidentKeys{status: row[4].Value.(string), severity: row[5].Value.(int64), kind: row[3].Value.(string)}
		cur, ok := t.keysTx[id]
		if !ok {
			cur, ok = t.keysDone[id]
		}
		if ok && cur == k {
			continue
		}
		t.keysTx[id] = k                                                                    // the transaction is poisoned and rolled back should the UPDATE fail
		keys = append(keys, [4]any{row[4].Value, row[5].Value, row[3].Value, row[0].Value}) // status, severity, kind, id
	}
	err := b.flush(t.w.conn)
	for _, k := range keys {
		if err != nil {
			break
		}
		if err = t.w.exec1(t.w.setIncidentKeys, k[0], k[1], k[2], k[3]); err != nil {
			err = fmt.Errorf("upsert incident %v: %w", k[3], err)
		}
	}
	clear(keys)
	t.incKeys = keys[:0]
	return err
}

func (t *writeTx) poison(err error) error {
	if t.err == nil {
		t.err = fmt.Errorf("store: %w", err)
	}
	return t.err
}

func (t *writeTx) NextAlertID() int64 {
	t.nextAlert++
	return t.nextAlert
}

func (t *writeTx) NextIncidentID() int64 {
	t.nextIncident++
	return t.nextIncident
}

func checkTime(what string, tm time.Time) error {
	if !tm.IsZero() && (tm.Before(minStoredTime) || tm.After(maxStoredTime)) {
		return fmt.Errorf("%s %s is outside the storable range 1678..2262", what, tm.UTC().Format(time.RFC3339))
	}
	return nil
}

// nanos is timeValue for a time already checked.
func nanos(tm time.Time) any {
	if tm.IsZero() {
		return nil
	}
	return tm.UnixNano()
}

func nanosPtr(tm *time.Time) any {
	if tm == nil {
		return nil
	}
	return nanos(*tm)
}

func (t *writeTx) InsertAlerts(alerts []*model.Alert) error {
	if t.err != nil {
		return t.err
	}
	for i, a := range alerts {
		var err error
		switch {
		case a == nil:
			err = errors.New("nil alert")
		case a.ID <= 0:
			err = fmt.Errorf("id %d: take ids from NextAlertID", a.ID)
		default:
			err = errors.Join(checkTime("event_time", a.EventTime), checkTime("received_at", a.ReceivedAt))
		}
		if err != nil {
			return fmt.Errorf("store: insert alert %d of %d: %w", i+1, len(alerts), err)
		}
	}
	b := &t.w.alerts
	for _, a := range alerts {
		if err := t.noteAlertBlock(a.ID, a.EventTime); err != nil {
			return t.poison(err)
		}
		if a.ID <= t.indexed && a.IncidentID != 0 {
			if err := t.w.exec1(t.w.indexAlert, a.IncidentID, a.ID); err != nil {
				return t.poison(fmt.Errorf("index alert %d by incident: %w", a.ID, err))
			}
		}
		b.add(a.ID)
		b.add(idValue(a.IncidentID))
		box := &t.alertBox
		b.add(box[0].box(a.Source))
		b.add(box[1].box(a.Format))
		b.add(a.SourceRef)
		b.add(box[2].box(a.Rule))
		b.add(box[3].box(a.Title))
		b.add(int64(a.Severity))
		b.add(box[4].box(string(a.Category)))
		b.add(box[5].box(a.Status))
		b.add(nanos(a.EventTime))
		b.add(nanos(a.ReceivedAt))
		if a.Entities == nil {
			b.add(nil)
		} else {
			start := t.arena.start(2 + 96*len(a.Entities))
			t.arena.b = appendEntitiesJSON(t.arena.b, a.Entities)
			b.add(t.arena.string(start))
		}
		if len(a.Labels) == 0 {
			b.add(nil)
		} else {
			start := t.arena.start(2 + 64*len(a.Labels))
			t.arena.b = appendLabelsJSON(t.arena.b, a.Labels)
			b.add(t.arena.string(start))
		}
		b.add(a.URL)
		b.add(a.Fingerprint)
		b.add(a.DrillID)
		if a.Raw == nil {
			b.add(nil)
		} else {
			start := t.arena.start(len(a.Raw))
			t.arena.b = append(t.arena.b, a.Raw...)
			b.add(t.arena.string(start))
		}
		if b.endRow() {
			err := b.flush(t.w.conn)
			t.arena.reset() // the flushed rows were the only users of its strings
			if err != nil {
				return t.poison(err)
			}
		}
	}
	return nil
}

// indexAlerts copies the (incident, alert) pairs of the alerts inserted since the
// mark into incident_alerts and moves the mark past the newest alert id handed out,
// in the transaction being committed (migration 0009). Done every indexEvery ids
// rather than in every commit, it writes each busy incident's newest leaf of
// incident_alerts once per few hundred alerts: an index on alerts.incident_id wrote
// it in every commit that touched the incident. Ids are handed out in increasing
// order and their alerts inserted in the transaction that took them, so no alert
// comes in at or below the mark; InsertAlerts indexes such an alert at once should
// one come all the same.
func (t *writeTx) indexAlerts() error {
	w := t.w
	if err := w.exec1(w.indexAlerts, t.indexed); err != nil {
		return fmt.Errorf("index the alerts after %d by incident: %w", t.indexed, err)
	}
	if err := w.exec1(w.setAlertsMark, t.nextAlert); err != nil {
		return fmt.Errorf("index the alerts after %d by incident: %w", t.indexed, err)
	}
	t.indexed = t.nextAlert
	return nil
}

// alertBlockBits: alert ids are summarised in blocks of 1<<alertBlockBits (4,096), as
// migration 0008 has it.
const alertBlockBits = 12

// blockState is the block of alert ids being filled and the newest event time (unix
// nanoseconds) among its alerts; has says whether any of them has one.
type blockState struct {
	block, max int64
	has        bool
}

// noteAlertBlock keeps the alert_blocks summary that ScanAlerts skips old alerts with.
// An alert of a later block than the current one closes the current block: its row is
// written, in this transaction, and the new block starts. An alert of an earlier
// block (ids taken first and inserted later) updates that block's row at once.
func (t *writeTx) noteAlertBlock(id int64, at time.Time) error {
	blk := id >> alertBlockBits
	cur := &t.block
	switch {
	case blk > cur.block:
		if err := t.writeAlertBlock(cur.block, cur.max, cur.has); err != nil {
			return err
		}
		*cur = blockState{block: blk}
	case blk < cur.block:
		return t.writeAlertBlock(blk, at.UnixNano(), !at.IsZero())
	}
	if !at.IsZero() && (!cur.has || at.UnixNano() > cur.max) {
		cur.max, cur.has = at.UnixNano(), true
	}
	return nil
}

func (t *writeTx) writeAlertBlock(blk, maxNanos int64, has bool) error {
	var v any
	if has {
		v = maxNanos
	}
	if err := t.w.exec1(t.w.upsertBlock, blk, v); err != nil {
		return fmt.Errorf("record alert block %d: %w", blk, err)
	}
	return nil
}

func (t *writeTx) UpsertIncident(inc *model.Incident) error {
	if t.err != nil {
		return t.err
	}
	if inc == nil || inc.ID <= 0 {
		return errors.New("store: upsert incident: no id: take one from NextIncidentID")
	}
	var terr error
	for _, c := range []struct {
		what string
		t    *time.Time
	}{{"first_seen", &inc.FirstSeen}, {"last_seen", &inc.LastSeen}, {"opened_at", &inc.OpenedAt},
		{"acknowledged_at", inc.AcknowledgedAt}, {"contained_at", inc.ContainedAt}, {"resolved_at", inc.ResolvedAt},
		{"closed_at", inc.ClosedAt}, {"updated_at", &inc.UpdatedAt}} {
		if c.t != nil {
			terr = errors.Join(terr, checkTime(c.what, *c.t))
		}
	}
	if terr != nil {
		return fmt.Errorf("store: upsert incident %d: %w", inc.ID, terr)
	}
	b := &t.w.incidents
	row, seen := t.incRow[inc.ID]
	if !seen {
		row = b.rows
		for range incNCols {
			b.add(nil)
		}
	}
	args := b.args[row*incNCols : (row+1)*incNCols]
	vals := [incNCols]any{inc.ID, inc.Number, inc.Title, string(inc.Kind), string(inc.Status),
		int64(inc.Severity), string(inc.Category), inc.Notifiable, int64(inc.AlertCount),
		nanos(inc.FirstSeen), nanos(inc.LastSeen), nanos(inc.OpenedAt),
		nanosPtr(inc.AcknowledgedAt), nanosPtr(inc.ContainedAt), nanosPtr(inc.ResolvedAt), nanosPtr(inc.ClosedAt),
		inc.MergedInto, inc.Commander, inc.DrillID, nanos(inc.UpdatedAt)}
	for i, v := range vals {
		args[i].Value = v
	}
	if seen {
		return nil
	}
	t.incRow[inc.ID] = row
	if b.endRow() {
		if err := t.flushIncidents(); err != nil {
			return t.poison(err)
		}
	}
	return nil
}

func (t *writeTx) AddIncidentEntities(incidentID int64, ents []model.Entity) error {
	if t.err != nil {
		return t.err
	}
	if incidentID <= 0 {
		return fmt.Errorf("store: add entities: incident id %d: want an incident's id", incidentID)
	}
	for i, e := range ents {
		if e.Kind == "" || e.Value == "" {
			return fmt.Errorf("store: add entities to incident %d: entity %d has an empty kind or value", incidentID, i+1)
		}
	}
	b := &t.w.entities
	for _, e := range ents {
		b.add(incidentID)
		b.add(string(e.Kind))
		b.add(e.Value)
		b.add(string(e.Role))
		if b.endRow() {
			if err := b.flush(t.w.conn); err != nil {
				return t.poison(err)
			}
		}
	}
	return nil
}

func (t *writeTx) MoveAlerts(from, to int64) error {
	if t.err != nil {
		return t.err
	}
	if from <= 0 || to <= 0 || from == to {
		return fmt.Errorf("store: move alerts from incident %d to %d: want two different incident ids", from, to)
	}
	if err := t.flush(); err != nil {
		return err
	}
	w := t.w
	for _, st := range []*sqlite3.SQLiteStmt{w.moveAlerts, w.moveIndexed} {
		if err := w.exec1(st, to, from); err != nil {
			return t.poison(fmt.Errorf("move alerts from incident %d to %d: %w", from, to, err))
		}
	}
	if err := w.exec1(w.copyEntities, to, from); err != nil {
		return t.poison(fmt.Errorf("move entities from incident %d to %d: %w", from, to, err))
	}
	if err := w.exec1(w.delEnts, from); err != nil {
		return t.poison(fmt.Errorf("move entities from incident %d to %d: %w", from, to, err))
	}
	return nil
}

// stamp returns at, or the clock's time when at is zero, in UTC without a monotonic
// reading: exactly what reading it back will give.
func (t *writeTx) stamp(at time.Time) time.Time {
	if at.IsZero() {
		at = t.w.opts.Clock.Now()
	}
	return at.UTC().Round(0)
}

func (t *writeTx) AppendTimeline(ev *model.TimelineEvent) error {
	if t.err != nil {
		return t.err
	}
	if ev == nil || ev.IncidentID <= 0 {
		return errors.New("store: append timeline: the event has no incident id")
	}
	at := t.stamp(ev.At)
	if err := checkTime("at", at); err != nil {
		return fmt.Errorf("store: append timeline: %w", err)
	}
	id := t.nextEvent + 1
	if err := t.w.exec1(t.w.insTimeline, id, ev.IncidentID, at.UnixNano(), ev.Actor, ev.Kind, ev.Text, rawValue(ev.Data)); err != nil {
		return t.poison(fmt.Errorf("append timeline to incident %d: %w", ev.IncidentID, err))
	}
	t.nextEvent = id
	ev.ID, ev.At = id, at
	return nil
}

func (t *writeTx) AppendAudit(e *model.AuditEntry) error {
	if t.err != nil {
		return t.err
	}
	if e == nil {
		return errors.New("store: append audit: nil entry")
	}
	ent := *e
	ent.At = t.stamp(e.At)
	if err := checkTime("at", ent.At); err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	ent.Seq = t.auditSeq + 1
	ent.PrevHash = t.auditHash
	ent.Hash = auditHash(ent.PrevHash, &ent)
	if err := t.w.exec1(t.w.insAudit, ent.Seq, ent.At.UnixNano(), ent.Actor, ent.Action, ent.Subject,
		rawValue(ent.Detail), ent.PrevHash, ent.Hash); err != nil {
		return t.poison(fmt.Errorf("append audit entry %d: %w", ent.Seq, err))
	}
	t.auditSeq, t.auditHash = ent.Seq, ent.Hash
	*e = ent
	if feed := t.w.opts.Feed; feed != nil {
		if sinks, payload := feed(&ent); len(sinks) > 0 && payload != nil {
			if err := t.EnqueueSinkEvents(sinks, [][]byte{payload}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *writeTx) OnRollback(f func()) {
	if f != nil {
		t.rollbacks = append(t.rollbacks, f)
	}
}
