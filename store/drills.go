package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Gap drills live in drill_runs and drill_schedules (migration 0007). The drill
// runner writes a run when it starts, records the incident its alerts opened, and
// writes the measures when the run ends; the scheduler keeps, per schedule, the time
// up to which fires are accounted for, so fires missed while warroom was down are
// found at the next start.

// DrillStatus is where a drill run is.
type DrillStatus string

// Drill run statuses.
const (
	DrillRunning   DrillStatus = "running"
	DrillCompleted DrillStatus = "completed" // the incident was resolved
	DrillTimedOut  DrillStatus = "timed_out" // not resolved within the timeout
	DrillFailed    DrillStatus = "failed"    // the alerts could not be injected
	DrillMissed    DrillStatus = "missed"    // warroom was down at the scheduled time
)

// Final reports whether a run in this status is over.
func (s DrillStatus) Final() bool { return s != DrillRunning }

// DrillRun is one drill run.
type DrillRun struct {
	ID          string          `json:"id"`
	Scenario    string          `json:"scenario"`
	Schedule    string          `json:"schedule,omitempty"`
	Trigger     string          `json:"trigger"`
	Status      DrillStatus     `json:"status"`
	ScheduledAt *time.Time      `json:"scheduled_at,omitempty"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Timeout     time.Duration   `json:"timeout"`
	IncidentID  int64           `json:"incident_id,omitempty"`
	Measures    json.RawMessage `json:"measures,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// DrillFilter selects drill runs. Zero fields do not filter.
type DrillFilter struct {
	// Since keeps runs started (or, for missed runs, scheduled) at or after it.
	Since    time.Time
	Scenario string
	Status   DrillStatus
	// Limit caps the number of runs (default 1000, at most 100000).
	Limit int
}

// DrillTx is the write side of drill runs.
type DrillTx interface {
	// PutDrillRun inserts or fully updates a run.
	PutDrillRun(r *DrillRun) error
	// SetDrillChecked records that every fire of schedule name (spec) at or before
	// t is accounted for.
	SetDrillChecked(name, spec string, t time.Time) error
}

// DrillReader reads drill runs.
type DrillReader interface {
	// DrillRun returns one run, or an error wrapping ErrNotFound.
	DrillRun(ctx context.Context, id string) (*DrillRun, error)
	// DrillRuns lists runs oldest first.
	DrillRuns(ctx context.Context, f DrillFilter) ([]*DrillRun, error)
	// DrillChecked returns the time up to which a schedule's fires are accounted for,
	// and the spec it was recorded with; ok is false for a schedule never seen.
	DrillChecked(ctx context.Context, name string) (t time.Time, spec string, ok bool, err error)
}

var (
	_ DrillTx     = (*writeTx)(nil)
	_ DrillReader = (*SQLite)(nil)
)

const drillCols = "id, scenario, schedule, trigger, status, scheduled_at, started_at, finished_at, timeout, incident_id, measures, error"

// PutDrillRun implements DrillTx.
func (t *writeTx) PutDrillRun(r *DrillRun) error {
	if r == nil || r.ID == "" || r.Scenario == "" || r.Status == "" {
		return errors.New("store: put drill run: id, scenario and status are required")
	}
	for _, c := range []struct {
		what string
		t    *time.Time
	}{{"scheduled_at", r.ScheduledAt}, {"started_at", r.StartedAt}, {"finished_at", r.FinishedAt}} {
		if c.t != nil {
			if err := checkTime(c.what, *c.t); err != nil {
				return fmt.Errorf("store: put drill run %s: %w", r.ID, err)
			}
		}
	}
	var measures any
	if len(r.Measures) > 0 {
		measures = string(r.Measures)
	}
	_, err := t.chatExec("INSERT INTO drill_runs ("+drillCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"+
		" ON CONFLICT (id) DO UPDATE SET scenario = excluded.scenario, schedule = excluded.schedule, trigger = excluded.trigger,"+
		" status = excluded.status, scheduled_at = excluded.scheduled_at, started_at = excluded.started_at,"+
		" finished_at = excluded.finished_at, timeout = excluded.timeout, incident_id = excluded.incident_id,"+
		" measures = excluded.measures, error = excluded.error",
		r.ID, r.Scenario, r.Schedule, r.Trigger, string(r.Status), nanosPtr(r.ScheduledAt), nanosPtr(r.StartedAt),
		nanosPtr(r.FinishedAt), int64(r.Timeout), r.IncidentID, measures, r.Error)
	if err != nil {
		return t.poison(fmt.Errorf("write drill run %s: %w", r.ID, err))
	}
	return nil
}

// SetDrillChecked implements DrillTx.
func (t *writeTx) SetDrillChecked(name, spec string, at time.Time) error {
	if name == "" {
		return errors.New("store: set drill checked: the schedule name is required")
	}
	if err := checkTime("checked_to", at); err != nil {
		return fmt.Errorf("store: set drill checked %s: %w", name, err)
	}
	_, err := t.chatExec("INSERT INTO drill_schedules (name, spec, checked_to) VALUES (?, ?, ?)"+
		" ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, checked_to = MAX(checked_to, excluded.checked_to)",
		name, spec, at.UnixNano())
	if err != nil {
		return t.poison(fmt.Errorf("write drill schedule %s: %w", name, err))
	}
	return nil
}

func scanDrillRun(rows *sql.Rows) (*DrillRun, error) {
	var (
		r                   DrillRun
		status              string
		sched, started, fin sql.NullInt64
		timeout             int64
		measures            sql.NullString
	)
	if err := rows.Scan(&r.ID, &r.Scenario, &r.Schedule, &r.Trigger, &status, &sched, &started, &fin, &timeout,
		&r.IncidentID, &measures, &r.Error); err != nil {
		return nil, err
	}
	r.Status = DrillStatus(status)
	r.ScheduledAt, r.StartedAt, r.FinishedAt = timePtrFrom(sched), timePtrFrom(started), timePtrFrom(fin)
	r.Timeout = time.Duration(timeout)
	if measures.Valid && measures.String != "" {
		r.Measures = json.RawMessage(measures.String)
	}
	return &r, nil
}

// DrillRun implements DrillReader.
func (s *SQLite) DrillRun(ctx context.Context, id string) (*DrillRun, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+drillCols+" FROM drill_runs WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("read drill run %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read drill run %s: %w", id, err)
		}
		return nil, fmt.Errorf("drill run %s: %w", id, ErrNotFound)
	}
	r, err := scanDrillRun(rows)
	if err != nil {
		return nil, fmt.Errorf("read drill run %s: %w", id, err)
	}
	return r, nil
}

// DrillRuns implements DrillReader.
func (s *SQLite) DrillRuns(ctx context.Context, f DrillFilter) ([]*DrillRun, error) {
	limit := clampLimit(f.Limit, 1000, 100000)
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where = append(where, "COALESCE(started_at, scheduled_at) >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if f.Scenario != "" {
		where = append(where, "scenario = ?")
		args = append(args, f.Scenario)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	q := "SELECT " + drillCols + " FROM drill_runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY COALESCE(started_at, scheduled_at), id LIMIT ?"
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list drill runs: %w", err)
	}
	defer rows.Close()
	var out []*DrillRun
	for rows.Next() {
		r, err := scanDrillRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list drill runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list drill runs: %w", err)
	}
	return out, nil
}

// DrillChecked implements DrillReader.
func (s *SQLite) DrillChecked(ctx context.Context, name string) (time.Time, string, bool, error) {
	var (
		n    int64
		spec string
	)
	err := s.rdb.QueryRowContext(ctx, "SELECT checked_to, spec FROM drill_schedules WHERE name = ?", name).Scan(&n, &spec)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("read drill schedule %s: %w", name, err)
	}
	return time.Unix(0, n).UTC(), spec, true, nil
}
