package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// The entries of the External Dynamic Lists warroom serves (connectors/edl) are kept
// in edl_entries so a list survives a restart. The store speaks only its own types;
// the actions package adapts them to the edl connector's Store interface.

// EDLEntry is one listed prefix of one list.
type EDLEntry struct {
	Prefix    netip.Prefix
	ActionID  string
	AddedAt   time.Time
	ExpiresAt time.Time
}

// EDLEntries returns every stored entry of list, expired ones included, by prefix.
func (s *SQLite) EDLEntries(ctx context.Context, list string) ([]EDLEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT prefix, action_id, added_at, expires_at FROM edl_entries WHERE list = ? ORDER BY prefix", list)
	if err != nil {
		return nil, fmt.Errorf("read EDL %s: %w", list, err)
	}
	defer rows.Close()
	out := []EDLEntry{}
	for rows.Next() {
		var (
			prefix, action string
			added, expires sql.NullInt64
		)
		if err := rows.Scan(&prefix, &action, &added, &expires); err != nil {
			return nil, fmt.Errorf("read EDL %s: %w", list, err)
		}
		p, err := netip.ParsePrefix(prefix)
		if err != nil {
			return nil, fmt.Errorf("read EDL %s: stored prefix %q: %w", list, prefix, err)
		}
		out = append(out, EDLEntry{Prefix: p, ActionID: action, AddedAt: timeFrom(added), ExpiresAt: timeFrom(expires)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read EDL %s: %w", list, err)
	}
	return out, nil
}

// PutEDLEntry inserts or replaces the entry for e.Prefix in list.
func (s *SQLite) PutEDLEntry(ctx context.Context, list string, e EDLEntry) error {
	if list == "" || !e.Prefix.IsValid() {
		return errors.New("store: put EDL entry: a list name and a valid prefix are required")
	}
	if err := errors.Join(checkTime("added_at", e.AddedAt), checkTime("expires_at", e.ExpiresAt)); err != nil {
		return fmt.Errorf("store: put EDL entry %s: %w", e.Prefix, err)
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: list}, {Ordinal: 2, Value: e.Prefix.String()},
		{Ordinal: 3, Value: e.ActionID}, {Ordinal: 4, Value: nanos(e.AddedAt)}, {Ordinal: 5, Value: nanos(e.ExpiresAt)}}
	return s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: put EDL entry: unexpected transaction type %T", tx)
		}
		return t.execEDL("INSERT OR REPLACE INTO edl_entries (list, prefix, action_id, added_at, expires_at) VALUES (?, ?, ?, ?, ?)", args)
	})
}

// DeleteEDLEntry removes the entry for p from list; an absent entry is not an error.
func (s *SQLite) DeleteEDLEntry(ctx context.Context, list string, p netip.Prefix) error {
	args := []driver.NamedValue{{Ordinal: 1, Value: list}, {Ordinal: 2, Value: p.String()}}
	return s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: delete EDL entry: unexpected transaction type %T", tx)
		}
		return t.execEDL("DELETE FROM edl_entries WHERE list = ? AND prefix = ?", args)
	})
}

func (t *writeTx) execEDL(q string, args []driver.NamedValue) error {
	if t.err != nil {
		return t.err
	}
	st, err := t.prepared(q)
	if err != nil {
		return t.poison(err)
	}
	defer st.Close()
	if _, err := st.ExecContext(context.Background(), args); err != nil {
		return t.poison(fmt.Errorf("write EDL entry: %w", err))
	}
	t.w.written++
	return nil
}
