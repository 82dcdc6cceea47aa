package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/warroom/warroom/triage/model"
)

// Containment actions live in the actions table (migration 0003). The actions engine
// changes them only inside writer ops: it reads the row with Tx.Action, checks the
// move, and writes it back with Tx.PutAction, so two concurrent changes of one action
// are serialised by the single writer and the second sees the first (a compare-and-set
// without locks). Reads go through the read pool.

const (
	actionCols = "id, incident_id, playbook, playbook_action, kind, target, connector, ttl, auto, dry_run, " +
		"allow_internal, pending_review, note, policy, state, requested_by, requested_at, approvals, " +
		"idempotency_key, diff, result, error, attempts, verified, verification, executed_at, expires_at, " +
		"reverted_at, updated_at"
	actionNCols  = 29
	actionSelect = "SELECT " + actionCols + " FROM actions"
	actionUpdate = "UPDATE actions SET incident_id = ?2, playbook = ?3, playbook_action = ?4, kind = ?5, target = ?6, " +
		"connector = ?7, ttl = ?8, auto = ?9, dry_run = ?10, allow_internal = ?11, pending_review = ?12, note = ?13, " +
		"policy = ?14, state = ?15, requested_by = ?16, requested_at = ?17, approvals = ?18, idempotency_key = ?19, " +
		"diff = ?20, result = ?21, error = ?22, attempts = ?23, verified = ?24, verification = ?25, executed_at = ?26, " +
		"expires_at = ?27, reverted_at = ?28, updated_at = ?29 WHERE id = ?1"
)

var actionInsert = "INSERT INTO actions (" + actionCols + ") VALUES (?" + strings.Repeat(", ?", actionNCols-1) + ")"

// actionArgs renders a as the parameters of actionInsert / actionUpdate, in column
// order. It checks every time is storable.
func actionArgs(a *model.Action) ([]driver.NamedValue, error) {
	var terr error
	for _, c := range []struct {
		what string
		t    *time.Time
	}{{"requested_at", &a.RequestedAt}, {"executed_at", a.ExecutedAt}, {"expires_at", a.ExpiresAt},
		{"reverted_at", a.RevertedAt}, {"updated_at", &a.UpdatedAt}} {
		if c.t != nil {
			terr = errors.Join(terr, checkTime(c.what, *c.t))
		}
	}
	if terr != nil {
		return nil, terr
	}
	policy, err := json.Marshal(a.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var approvals any
	if len(a.Approvals) > 0 {
		b, err := json.Marshal(a.Approvals)
		if err != nil {
			return nil, fmt.Errorf("approvals: %w", err)
		}
		approvals = string(b)
	}
	vals := [actionNCols]any{a.ID, a.IncidentID, a.Playbook, a.PlaybookAction, a.Kind, a.Target, a.Connector,
		int64(a.TTL), a.Auto, a.DryRun, a.AllowInternal, a.PendingReview, a.Note, string(policy), string(a.State),
		a.RequestedBy, nanos(a.RequestedAt), approvals, a.IdempotencyKey, a.Diff, a.Result, a.Error,
		int64(a.Attempts), a.Verified, a.Verification, nanosPtr(a.ExecutedAt), nanosPtr(a.ExpiresAt),
		nanosPtr(a.RevertedAt), nanos(a.UpdatedAt)}
	args := make([]driver.NamedValue, actionNCols)
	for i, v := range vals {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return args, nil
}

// decodeAction builds an action from one row of actionSelect, as plain values: int64,
// string, []byte or nil (both the driver's rows and database/sql's give these).
func decodeAction(v []any) (*model.Action, error) {
	if len(v) != actionNCols {
		return nil, fmt.Errorf("action row has %d columns, want %d", len(v), actionNCols)
	}
	i64 := func(x any) int64 {
		n, _ := x.(int64)
		return n
	}
	str := func(x any) string {
		switch s := x.(type) {
		case string:
			return s
		case []byte:
			return string(s)
		}
		return ""
	}
	tm := func(x any) time.Time {
		if n, ok := x.(int64); ok {
			return time.Unix(0, n).UTC()
		}
		return time.Time{}
	}
	tp := func(x any) *time.Time {
		if n, ok := x.(int64); ok {
			t := time.Unix(0, n).UTC()
			return &t
		}
		return nil
	}
	a := &model.Action{
		ID: i64(v[0]), IncidentID: i64(v[1]), Playbook: str(v[2]), PlaybookAction: str(v[3]), Kind: str(v[4]),
		Target: str(v[5]), Connector: str(v[6]), TTL: time.Duration(i64(v[7])), Auto: i64(v[8]) != 0,
		DryRun: i64(v[9]) != 0, AllowInternal: i64(v[10]) != 0, PendingReview: i64(v[11]) != 0, Note: str(v[12]),
		State: model.ActionState(str(v[14])), RequestedBy: str(v[15]), RequestedAt: tm(v[16]),
		IdempotencyKey: str(v[18]), Diff: str(v[19]), Result: str(v[20]), Error: str(v[21]),
		Attempts: int(i64(v[22])), Verified: i64(v[23]) != 0, Verification: str(v[24]),
		ExecutedAt: tp(v[25]), ExpiresAt: tp(v[26]), RevertedAt: tp(v[27]), UpdatedAt: tm(v[28]),
	}
	if err := json.Unmarshal([]byte(str(v[13])), &a.Policy); err != nil {
		return nil, fmt.Errorf("action %d: policy: %w", a.ID, err)
	}
	a.Approvals = []model.Approval{}
	if s := str(v[17]); s != "" {
		if err := json.Unmarshal([]byte(s), &a.Approvals); err != nil {
			return nil, fmt.Errorf("action %d: approvals: %w", a.ID, err)
		}
	}
	return a, nil
}

// prepared prepares q on the write connection; the caller closes the statement.
func (t *writeTx) prepared(q string) (*sqlite3.SQLiteStmt, error) {
	ds, err := t.w.conn.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	st, ok := ds.(*sqlite3.SQLiteStmt)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("prepare %q: unexpected statement type %T", q, ds)
	}
	return st, nil
}

// queryActions runs an actionSelect query on the write connection, so it sees this
// transaction's own writes.
func (t *writeTx) queryActions(q string, args ...any) ([]*model.Action, error) {
	st, err := t.prepared(q)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	rows, err := st.QueryContext(context.Background(), nv)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*model.Action
	dest := make([]driver.Value, actionNCols)
	vals := make([]any, actionNCols)
	for {
		if err := rows.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		for i, d := range dest {
			vals[i] = d
		}
		a, err := decodeAction(vals)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
}

// Action reads one action inside the transaction.
func (t *writeTx) Action(id int64) (*model.Action, error) {
	if t.err != nil {
		return nil, t.err
	}
	list, err := t.queryActions(actionSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, t.poison(fmt.Errorf("read action %d: %w", id, err))
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("action %d: %w", id, ErrNotFound)
	}
	return list[0], nil
}

// IncidentActions reads an incident's actions inside the transaction, oldest first.
func (t *writeTx) IncidentActions(incidentID int64) ([]*model.Action, error) {
	if t.err != nil {
		return nil, t.err
	}
	list, err := t.queryActions(actionSelect+" WHERE incident_id = ? ORDER BY id", incidentID)
	if err != nil {
		return nil, t.poison(fmt.Errorf("read the actions of incident %d: %w", incidentID, err))
	}
	return list, nil
}

// PutAction inserts a (assigning its ID) when a.ID is 0 and updates it otherwise. An
// update of an action that does not exist is an error wrapping ErrNotFound.
func (t *writeTx) PutAction(a *model.Action) error {
	if t.err != nil {
		return t.err
	}
	switch {
	case a == nil:
		return errors.New("store: put action: nil action")
	case a.ID < 0:
		return fmt.Errorf("store: put action: id %d: use 0 to insert", a.ID)
	case a.IncidentID <= 0:
		return fmt.Errorf("store: put action: incident id %d: every action belongs to an incident", a.IncidentID)
	case a.IdempotencyKey == "":
		return errors.New("store: put action: no idempotency key")
	case a.State == "":
		return errors.New("store: put action: no state")
	}
	insert := a.ID == 0
	id := a.ID
	if insert {
		st, err := t.prepared("SELECT COALESCE(MAX(id), 0) + 1 FROM actions")
		if err != nil {
			return t.poison(err)
		}
		rows, err := st.QueryContext(context.Background(), nil)
		if err != nil {
			st.Close()
			return t.poison(fmt.Errorf("next action id: %w", err))
		}
		dest := make([]driver.Value, 1)
		err = rows.Next(dest)
		rows.Close()
		st.Close()
		if err != nil {
			return t.poison(fmt.Errorf("next action id: %w", err))
		}
		id, _ = dest[0].(int64)
	}
	cp := *a
	cp.ID = id
	args, err := actionArgs(&cp)
	if err != nil {
		return fmt.Errorf("store: put action %d: %w", id, err)
	}
	q := actionUpdate
	if insert {
		q = actionInsert
	}
	st, err := t.prepared(q)
	if err != nil {
		return t.poison(err)
	}
	defer st.Close()
	res, err := st.ExecContext(context.Background(), args)
	if err != nil {
		return t.poison(fmt.Errorf("write action %d: %w", id, err))
	}
	if !insert {
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("store: put action %d: %w", id, ErrNotFound)
		}
	}
	t.w.written++
	a.ID = id
	return nil
}

// SetIncidentPlaybook records the playbook an incident matched. Rows the transaction
// buffered are written first, so an incident inserted earlier in it is found.
func (t *writeTx) SetIncidentPlaybook(incidentID int64, playbook string) error {
	if t.err != nil {
		return t.err
	}
	if incidentID <= 0 {
		return fmt.Errorf("store: set playbook: incident id %d: want an incident's id", incidentID)
	}
	if err := t.flush(); err != nil {
		return err
	}
	st, err := t.prepared("UPDATE incidents SET playbook = ? WHERE id = ?")
	if err != nil {
		return t.poison(err)
	}
	defer st.Close()
	var v any
	if playbook != "" {
		v = playbook
	}
	res, err := st.ExecContext(context.Background(), []driver.NamedValue{{Ordinal: 1, Value: v}, {Ordinal: 2, Value: incidentID}})
	if err != nil {
		return t.poison(fmt.Errorf("set the playbook of incident %d: %w", incidentID, err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("store: set playbook: incident %d: %w", incidentID, ErrNotFound)
	}
	t.w.written++
	return nil
}

// readActions runs an actionSelect query on the read pool.
func (s *SQLite) readActions(ctx context.Context, q string, args ...any) ([]*model.Action, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*model.Action{}
	vals := make([]any, actionNCols)
	ptrs := make([]any, actionNCols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		a, err := decodeAction(vals)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Action returns one action, or an error wrapping ErrNotFound.
func (s *SQLite) Action(ctx context.Context, id int64) (*model.Action, error) {
	list, err := s.readActions(ctx, actionSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("read action %d: %w", id, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("action %d: %w", id, ErrNotFound)
	}
	return list[0], nil
}

// Actions lists an incident's actions, oldest first.
func (s *SQLite) Actions(ctx context.Context, incidentID int64) ([]*model.Action, error) {
	list, err := s.readActions(ctx, actionSelect+" WHERE incident_id = ? ORDER BY id", incidentID)
	if err != nil {
		return nil, fmt.Errorf("read the actions of incident %d: %w", incidentID, err)
	}
	return list, nil
}

// ActionsDue lists the succeeded actions whose expiry is at or before before, soonest
// first.
func (s *SQLite) ActionsDue(ctx context.Context, before time.Time) ([]*model.Action, error) {
	v, err := timeValue(before)
	if err != nil {
		if before.Before(minStoredTime) {
			return []*model.Action{}, nil
		}
		v = maxStoredTime.UnixNano()
	}
	list, err := s.readActions(ctx, actionSelect+" WHERE state = ? AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id",
		string(model.ActionSucceeded), v)
	if err != nil {
		return nil, fmt.Errorf("read the actions due before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return list, nil
}

// NextActionExpiry returns the earliest expiry among succeeded actions.
func (s *SQLite) NextActionExpiry(ctx context.Context) (time.Time, bool, error) {
	var n sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, "SELECT MIN(expires_at) FROM actions WHERE state = ? AND expires_at IS NOT NULL",
		string(model.ActionSucceeded)).Scan(&n)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the next action expiry: %w", err)
	}
	if !n.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, n.Int64).UTC(), true, nil
}

// ActionsInState lists the actions in state, oldest first (at start, the engine
// finds the actions a stop interrupted while running).
func (s *SQLite) ActionsInState(ctx context.Context, state model.ActionState) ([]*model.Action, error) {
	list, err := s.readActions(ctx, actionSelect+" WHERE state = ? ORDER BY id", string(state))
	if err != nil {
		return nil, fmt.Errorf("read the %s actions: %w", state, err)
	}
	return list, nil
}

// CountActionsByState counts the actions in each state, every state listed.
func (s *SQLite) CountActionsByState(ctx context.Context) (map[model.ActionState]int, error) {
	counts := map[model.ActionState]int{}
	for _, st := range model.ActionStates {
		counts[st] = 0
	}
	if err := countBy(ctx, s.rdb, "SELECT state, COUNT(*) FROM actions GROUP BY state", "actions",
		func(k string, n int) { counts[model.ActionState(k)] = n }); err != nil {
		return nil, err
	}
	return counts, nil
}
