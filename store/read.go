package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// Reads go through the read-only pool; each listing that spans tables runs in one
// read transaction, so it sees a single committed state.

const (
	alertSelect = "SELECT " + alertCols + " FROM alerts"
	// alertSelectNoRaw reads the same columns with NULL for raw.
	alertSelectNoRaw = "SELECT " + alertColsNoRaw + " FROM alerts"
	// incidentCols reads the commander a chat command set (incident_commanders),
	// which the correlation engine's rows do not know, before the row's own.
	incidentCols = "id, number, title, kind, status, severity, category, notifiable, alert_count, first_seen, last_seen, " +
		"opened_at, acknowledged_at, contained_at, resolved_at, closed_at, merged_into, " +
		"COALESCE((SELECT c.commander FROM incident_commanders c WHERE c.incident_id = incidents.id), commander), " +
		"drill_id, updated_at, playbook"
	incidentSelect = "SELECT " + incidentCols + " FROM incidents"
	// incidentByID reads one incident and its entities in one statement, so in one
	// snapshot without a transaction of its own: the entities come as the JSON array
	// of the alerts' entities column (decodeEntities).
	incidentByID = "SELECT " + incidentCols + ", (SELECT json_group_array(json_object('kind', kind, 'value', value, 'role', role) " +
		"ORDER BY rowid) FROM incident_entities WHERE incident_id = incidents.id) FROM incidents WHERE id = ?"
	// An incident's alerts (migration 0009): those up to incident_alerts_mark through
	// incident_alerts, those after it by a short range of rowids. alertsMark reads the
	// mark in the statement's own snapshot.
	alertsMark   = "(SELECT through FROM incident_alerts_mark)"
	liveStatuses = "('" + string(model.StatusOpen) + "','" + string(model.StatusAcknowledged) + "','" + string(model.StatusContained) + "')"

	defaultAlertLimit    = 100
	maxAlertLimit        = 1000
	defaultIncidentLimit = 50
	maxIncidentLimit     = 500
	defaultAuditLimit    = 100
	maxAuditLimit        = 1000
)

func clampLimit(n, def, max int) int {
	if n <= 0 {
		return def
	}
	if n > max {
		return max
	}
	return n
}

// scanAlert reads one row of alertSelect.
func scanAlert(rows *sql.Rows) (*model.Alert, error) {
	var (
		a             model.Alert
		inc, ev, rcv  sql.NullInt64
		sev           int64
		cat           string
		ents, labels  sql.RawBytes
		raw           sql.NullString
		entsOK, labOK bool
	)
	if err := rows.Scan(&a.ID, &inc, &a.Source, &a.Format, &a.SourceRef, &a.Rule, &a.Title, &sev, &cat,
		&a.Status, &ev, &rcv, &ents, &labels, &a.URL, &a.Fingerprint, &a.DrillID, &raw); err != nil {
		return nil, err
	}
	entsOK, labOK = ents != nil, len(labels) > 0
	a.IncidentID = inc.Int64
	a.Severity = model.Severity(sev)
	a.Category = model.Category(cat)
	a.EventTime, a.ReceivedAt = timeFrom(ev), timeFrom(rcv)
	var err error
	if a.Entities, err = decodeEntities(ents, entsOK); err != nil {
		return nil, fmt.Errorf("alert %d: %w", a.ID, err)
	}
	if a.Labels, err = decodeLabels(labels, labOK); err != nil {
		return nil, fmt.Errorf("alert %d: %w", a.ID, err)
	}
	a.Raw = rawFrom(raw)
	return &a, nil
}

// Alert returns one alert, or an error wrapping ErrNotFound.
func (s *SQLite) Alert(ctx context.Context, id int64) (*model.Alert, error) {
	rows, err := s.rdb.QueryContext(ctx, alertSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("read alert %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read alert %d: %w", id, err)
		}
		return nil, fmt.Errorf("alert %d: %w", id, ErrNotFound)
	}
	a, err := scanAlert(rows)
	if err != nil {
		return nil, fmt.Errorf("read alert %d: %w", id, err)
	}
	return a, nil
}

// incidentAlertIDsOf selects the ids of the alerts of incident inc with ids above
// after (both SQL expressions): the pairs of incident_alerts up to the mark, then the
// alerts after it whose incident_id names inc.
func incidentAlertIDsOf(inc, after string) string {
	return "SELECT alert_id FROM incident_alerts WHERE incident_id = " + inc + " AND alert_id > " + after + " AND alert_id <= " + alertsMark +
		" UNION ALL SELECT id FROM alerts WHERE id > MAX(" + after + ", " + alertsMark + ") AND incident_id = " + inc
}

// incidentAlertIDs selects the ids of incident ?1's alerts after id ?2.
var incidentAlertIDs = incidentAlertIDsOf("?1", "?2")

// incidentAlertsNewest selects incident ?1's alerts with ids below ?2, newest first,
// at most ?3. The alerts after the mark (a range of rowids, read backwards) all come
// before those of incident_alerts (read backwards along its key), so SQLite merges
// the two in order and stops at the limit, without sorting.
var (
	incidentAlertsNewest      = newestOfIncident(alertCols)
	incidentAlertsNewestNoRaw = newestOfIncident(alertColsNoRaw)
)

func newestOfIncident(cols string) string {
	indexed := strings.Split(cols, ", ")
	for i, c := range indexed {
		switch {
		case i == 0:
			indexed[i] = "x.alert_id" // the key's own order: no sort
		case c != "NULL":
			indexed[i] = "a." + c
		}
	}
	return "SELECT " + cols + " FROM alerts WHERE id > " + alertsMark + " AND id < ?2 AND incident_id = ?1" +
		" UNION ALL SELECT " + strings.Join(indexed, ", ") + " FROM incident_alerts x CROSS JOIN alerts a ON a.id = x.alert_id" +
		" WHERE x.incident_id = ?1 AND x.alert_id < ?2 AND x.alert_id <= " + alertsMark + " ORDER BY 1 DESC LIMIT ?3"
}

// Alerts lists alerts newest first, optionally of one incident. The second result is
// the cursor of the next page, empty on the last page.
func (s *SQLite) Alerts(ctx context.Context, f AlertFilter) ([]*model.Alert, string, error) {
	limit := clampLimit(f.Limit, defaultAlertLimit, maxAlertLimit)
	before, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	sel := alertSelect
	if f.NoRaw {
		sel = alertSelectNoRaw
	}
	var rows *sql.Rows
	if f.IncidentID != 0 {
		q := incidentAlertsNewest
		if f.NoRaw {
			q = incidentAlertsNewestNoRaw
		}
		rows, err = s.rdb.QueryContext(ctx, q, f.IncidentID, before, limit+1)
	} else {
		rows, err = s.rdb.QueryContext(ctx, sel+" WHERE id < ? ORDER BY id DESC LIMIT ?", before, limit+1)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	items := make([]*model.Alert, 0, min(limit+1, 64))
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list alerts: %w", err)
		}
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(items[limit-1].ID)
	}
	return items, next, nil
}

// ScanAlerts calls fn for each alert whose event time is at or after since (every
// alert when since is zero), in id order. Blocks of 4,096 alert ids whose newest event
// time is before since (alert_blocks, migration 0008) are not read at all.
func (s *SQLite) ScanAlerts(ctx context.Context, since time.Time, fn func(*model.Alert) error) error {
	var fnErr error
	call := func(a *model.Alert) error {
		fnErr = fn(a)
		return fnErr
	}
	if since.IsZero() {
		err := s.scanAlertRange(ctx, s.rdb, 0, -1, nil, call)
		if err != nil && fnErr == nil {
			err = fmt.Errorf("scan alerts: %w", err)
		}
		return err
	}
	v, terr := timeValue(since)
	if terr != nil {
		if since.Before(minStoredTime) {
			return s.ScanAlerts(ctx, time.Time{}, fn)
		}
		return nil // after every storable time: nothing to scan
	}
	nanos, _ := v.(int64)
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		skip, err := oldAlertBlocks(ctx, tx, nanos)
		if err != nil {
			return err
		}
		// Read the id ranges between the runs of skipped blocks, in order.
		lo := int64(0)
		for i := 0; i < len(skip); {
			j := i
			for j+1 < len(skip) && skip[j+1] == skip[j]+1 {
				j++
			}
			if hi := skip[i] << alertBlockBits; hi > lo {
				if err := s.scanAlertRange(ctx, tx, lo, hi, nanos, call); err != nil {
					return err
				}
			}
			lo = (skip[j] + 1) << alertBlockBits
			i = j + 1
		}
		return s.scanAlertRange(ctx, tx, lo, -1, nanos, call)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("scan alerts: %w", err)
	}
	return nil
}

// oldAlertBlocks returns, in order, the blocks of alert ids that hold no alert with
// an event time at or after since (unix nanoseconds).
func oldAlertBlocks(ctx context.Context, tx *sql.Tx, since int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT block FROM alert_blocks WHERE max_event_time IS NULL OR max_event_time < ? ORDER BY block", since)
	if err != nil {
		return nil, fmt.Errorf("read alert blocks: %w", err)
	}
	defer rows.Close()
	var skip []int64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read alert blocks: %w", err)
		}
		skip = append(skip, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alert blocks: %w", err)
	}
	return skip, nil
}

// scanAlertRange calls fn for the alerts with lo <= id < hi (hi < 0: no upper bound)
// and, when since is not nil, event_time >= since, in id order. It returns fn's error
// as it is.
func (s *SQLite) scanAlertRange(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, lo, hi int64, since any, fn func(*model.Alert) error) error {
	query, args := alertSelect+" WHERE id >= ?", []any{lo}
	if hi >= 0 {
		query += " AND id < ?"
		args = append(args, hi)
	}
	if since != nil {
		query += " AND event_time >= ?"
		args = append(args, since)
	}
	rows, err := q.QueryContext(ctx, query+" ORDER BY id", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanIncident scans an incidentCols row, and into extra the columns after them.
func scanIncident(rows *sql.Rows, extra ...any) (*model.Incident, error) {
	var (
		in                                  model.Incident
		kind, status, cat                   string
		sev, count                          int64
		first, last, opened, ack, cont, res sql.NullInt64
		closed, updated                     sql.NullInt64
		playbook                            sql.NullString
	)
	dest := append([]any{&in.ID, &in.Number, &in.Title, &kind, &status, &sev, &cat, &in.Notifiable, &count,
		&first, &last, &opened, &ack, &cont, &res, &closed, &in.MergedInto, &in.Commander, &in.DrillID, &updated, &playbook}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	in.Playbook = playbook.String
	in.Kind, in.Status, in.Category = model.Kind(kind), model.Status(status), model.Category(cat)
	in.Severity, in.AlertCount = model.Severity(sev), int(count)
	in.FirstSeen, in.LastSeen, in.OpenedAt, in.UpdatedAt = timeFrom(first), timeFrom(last), timeFrom(opened), timeFrom(updated)
	in.AcknowledgedAt, in.ContainedAt, in.ResolvedAt, in.ClosedAt = timePtrFrom(ack), timePtrFrom(cont), timePtrFrom(res), timePtrFrom(closed)
	in.Entities = []model.Entity{}
	return &in, nil
}

// queryIncidents runs an incidentSelect query and then loads the entities of every
// incident it returned with one more query (entityQuery, which must select
// incident_id, kind, value, role ordered by incident_id, rowid). entityArgs nil means
// "the ids just read".
func queryIncidents(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any, entityQuery string, entityArgs []any) ([]*model.Incident, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []*model.Incident
	byID := make(map[int64]*model.Incident)
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, in)
		byID[in.ID] = in
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(list) == 0 {
		return list, nil
	}
	if entityArgs == nil {
		ids := make([]byte, 0, 8*len(list))
		ids = append(ids, '[')
		for i, in := range list {
			if i > 0 {
				ids = append(ids, ',')
			}
			ids = strconv.AppendInt(ids, in.ID, 10)
		}
		entityArgs = []any{string(append(ids, ']'))}
	}
	erows, err := q.QueryContext(ctx, entityQuery, entityArgs...)
	if err != nil {
		return nil, err
	}
	defer erows.Close()
	for erows.Next() {
		var (
			id                int64
			kind, value, role string
		)
		if err := erows.Scan(&id, &kind, &value, &role); err != nil {
			return nil, err
		}
		if in := byID[id]; in != nil {
			in.Entities = append(in.Entities, model.Entity{Kind: model.EntityKind(kind), Value: value, Role: model.Role(role)})
		}
	}
	return list, erows.Err()
}

const entitiesOfIDs = "SELECT incident_id, kind, value, role FROM incident_entities WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY incident_id, rowid"

// readTx runs f in one read transaction.
func (s *SQLite) readTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return f(tx)
}

// Incident returns one incident with its entities, or an error wrapping ErrNotFound.
func (s *SQLite) Incident(ctx context.Context, id int64) (*model.Incident, error) {
	in, err := s.incident(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read incident %d: %w", id, err)
	}
	if in == nil {
		return nil, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	return in, nil
}

// incident reads one incident with incidentByID; nil when there is none.
func (s *SQLite) incident(ctx context.Context, id int64) (*model.Incident, error) {
	rows, err := s.rdb.QueryContext(ctx, incidentByID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var ents sql.RawBytes
	in, err := scanIncident(rows, &ents)
	if err != nil {
		return nil, err
	}
	if in.Entities, err = decodeEntities(ents, true); err != nil {
		return nil, err
	}
	return in, rows.Close()
}

// Incidents lists incidents newest first (by id), with their entities.
func (s *SQLite) Incidents(ctx context.Context, f IncidentFilter) ([]*model.Incident, string, error) {
	limit := clampLimit(f.Limit, defaultIncidentLimit, maxIncidentLimit)
	before, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var where strings.Builder
	where.WriteString(" WHERE id < ?")
	args := []any{before}
	if f.Status != "" {
		where.WriteString(" AND status = ?")
		args = append(args, string(f.Status))
	}
	if f.Severity != model.SeverityUnknown {
		where.WriteString(" AND severity = ?")
		args = append(args, int64(f.Severity))
	}
	if f.Kind != "" {
		where.WriteString(" AND kind = ?")
		args = append(args, string(f.Kind))
	}
	args = append(args, limit+1)
	var list []*model.Incident
	err = s.readTx(ctx, func(tx *sql.Tx) (err error) {
		list, err = queryIncidents(ctx, tx, incidentSelect+where.String()+" ORDER BY id DESC LIMIT ?", args, entitiesOfIDs, nil)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list incidents: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = encodeCursor(list[limit-1].ID)
	}
	return list, next, nil
}

// LiveIncidents returns every open, acknowledged or contained incident with its
// entities, in id order.
func (s *SQLite) LiveIncidents(ctx context.Context) ([]*model.Incident, error) {
	var list []*model.Incident
	err := s.readTx(ctx, func(tx *sql.Tx) (err error) {
		list, err = queryIncidents(ctx, tx, incidentSelect+" WHERE status IN "+liveStatuses+" ORDER BY id", nil,
			"SELECT e.incident_id, e.kind, e.value, e.role FROM incident_entities e JOIN incidents i ON i.id = e.incident_id WHERE i.status IN "+liveStatuses+" ORDER BY e.incident_id, e.rowid", []any{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read live incidents: %w", err)
	}
	return list, nil
}

// CountIncidentsByStatus returns the number of incidents in each status; every
// status is present, zero when no incident has it.
func (s *SQLite) CountIncidentsByStatus(ctx context.Context) (map[model.Status]int, error) {
	counts := map[model.Status]int{
		model.StatusOpen: 0, model.StatusAcknowledged: 0, model.StatusContained: 0,
		model.StatusResolved: 0, model.StatusMerged: 0, model.StatusFalsePositive: 0,
	}
	if err := countBy(ctx, s.rdb, "SELECT status, COUNT(*) FROM incidents GROUP BY status", "incidents",
		func(k string, n int) { counts[model.Status(k)] = n }); err != nil {
		return nil, err
	}
	return counts, nil
}

// countBy runs a "SELECT key, COUNT(*) ... GROUP BY key" query and hands each row to
// put; what names the counted rows in errors.
func countBy(ctx context.Context, db *sql.DB, q, what string, put func(key string, n int)) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("count %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("count %s: %w", what, err)
		}
		put(k, n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count %s: %w", what, err)
	}
	return nil
}

// Timeline returns an incident's events, oldest first.
func (s *SQLite) Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, incident_id, at, actor, kind, text, data FROM timeline WHERE incident_id = ? ORDER BY id", incidentID)
	if err != nil {
		return nil, fmt.Errorf("read timeline of incident %d: %w", incidentID, err)
	}
	defer rows.Close()
	evs := []model.TimelineEvent{}
	for rows.Next() {
		var (
			ev   model.TimelineEvent
			at   sql.NullInt64
			data sql.NullString
		)
		if err := rows.Scan(&ev.ID, &ev.IncidentID, &at, &ev.Actor, &ev.Kind, &ev.Text, &data); err != nil {
			return nil, fmt.Errorf("read timeline of incident %d: %w", incidentID, err)
		}
		ev.At, ev.Data = timeFrom(at), rawFrom(data)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read timeline of incident %d: %w", incidentID, err)
	}
	return evs, nil
}

const auditSelect = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit"

func scanAudit(rows *sql.Rows) (model.AuditEntry, error) {
	var (
		e      model.AuditEntry
		at     int64
		detail sql.NullString
	)
	if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &detail, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.At, e.Detail = time.Unix(0, at).UTC(), rawFrom(detail)
	return e, nil
}

// Audit lists audit entries with Seq > after, oldest first, at most limit (default
// 100, at most 1000).
func (s *SQLite) Audit(ctx context.Context, after int64, limit int) ([]model.AuditEntry, error) {
	limit = clampLimit(limit, defaultAuditLimit, maxAuditLimit)
	rows, err := s.rdb.QueryContext(ctx, auditSelect+" WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	list := []model.AuditEntry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return list, nil
}

// VerifyAudit walks the whole audit chain in one read transaction and checks that
// sequence numbers run 1, 2, 3... without gaps, that each entry's prev_hash is the
// hash of the entry before, and that each hash matches its entry's contents. It
// returns the number of entries that verified; on a break, the error wraps
// ErrAuditBroken and names the first entry that breaks the chain.
func (s *SQLite) VerifyAudit(ctx context.Context) (int64, error) {
	var n int64
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, auditSelect+" ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		prev := ""
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return err
			}
			switch {
			case e.Seq != n+1:
				return fmt.Errorf("%w at entry %d: expected entry %d next: entries %d..%d are missing", ErrAuditBroken, e.Seq, n+1, n+1, e.Seq-1)
			case e.PrevHash != prev:
				return fmt.Errorf("%w at entry %d: its prev_hash %.16s… is not the hash of entry %d (%.16s…): an entry was altered, removed or inserted", ErrAuditBroken, e.Seq, e.PrevHash, n, prev)
			case auditHash(prev, &e) != e.Hash:
				return fmt.Errorf("%w at entry %d: its hash does not match its contents: the entry was altered after it was written", ErrAuditBroken, e.Seq)
			}
			prev = e.Hash
			n++
		}
		return rows.Err()
	})
	if err != nil {
		if errors.Is(err, ErrAuditBroken) {
			return n, err
		}
		return n, fmt.Errorf("verify audit log: %w", err)
	}
	return n, nil
}
