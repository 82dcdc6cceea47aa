package store

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// TestIncidentKeysAfterRollback: the writer skips the UPDATE of an incident's status,
// severity and kind when it knows the row already holds them. What a rolled-back
// transaction wrote must not count as known: the next upsert with the same values
// still lands, and so does every change after commits.
func TestIncidentKeysAfterRollback(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	inc := &model.Incident{ID: 1, Number: model.IncidentNumber(1), Title: "Port scan", Kind: model.KindNormal,
		Status: model.StatusOpen, Severity: model.SeverityLow, Category: model.CategoryScan,
		FirstSeen: t0, LastSeen: t0, OpenedAt: t0, UpdatedAt: t0}
	upsert := func(status model.Status, sev model.Severity, fail error) error {
		c := *inc
		c.Status, c.Severity = status, sev
		return s.Submit(ctx, func(tx Tx) error {
			if err := tx.UpsertIncident(&c); err != nil {
				return err
			}
			// A merge of two other incidents writes the buffered rows, so that the
			// failing op's incident row is written before its transaction rolls back.
			if err := tx.MoveAlerts(8, 9); err != nil {
				return err
			}
			return fail
		})
	}
	check := func(step string, status model.Status, sev model.Severity) {
		t.Helper()
		got, err := s.Incident(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != status || got.Severity != sev {
			t.Fatalf("%s: incident is %s/%s, want %s/%s", step, got.Status, got.Severity, status, sev)
		}
		list, _, err := s.Incidents(ctx, IncidentFilter{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != inc.ID {
			t.Fatalf("%s: filtering by status %s (the index) found %d incidents, want it", step, status, len(list))
		}
	}
	if err := upsert(model.StatusOpen, model.SeverityLow, nil); err != nil {
		t.Fatal(err)
	}
	check("first write", model.StatusOpen, model.SeverityLow)

	boom := errors.New("boom")
	if err := upsert(model.StatusAcknowledged, model.SeverityHigh, boom); !errors.Is(err, boom) {
		t.Fatalf("failing op: %v, want boom", err)
	}
	check("after the rollback", model.StatusOpen, model.SeverityLow)

	if err := upsert(model.StatusAcknowledged, model.SeverityHigh, nil); err != nil {
		t.Fatal(err)
	}
	check("the rolled-back values, committed", model.StatusAcknowledged, model.SeverityHigh)

	if err := upsert(model.StatusAcknowledged, model.SeverityHigh, nil); err != nil {
		t.Fatal(err)
	}
	check("unchanged", model.StatusAcknowledged, model.SeverityHigh)

	if err := upsert(model.StatusContained, model.SeverityHigh, nil); err != nil {
		t.Fatal(err)
	}
	check("changed again", model.StatusContained, model.SeverityHigh)
}

// scanIDs returns the ids ScanAlerts(since) yields, failing on ids out of order.
func scanIDs(t *testing.T, s *SQLite, since time.Time) []int64 {
	t.Helper()
	var ids []int64
	err := s.ScanAlerts(context.Background(), since, func(a *model.Alert) error {
		if n := len(ids); n > 0 && a.ID <= ids[n-1] {
			t.Fatalf("ScanAlerts: id %d after %d, want id order", a.ID, ids[n-1])
		}
		ids = append(ids, a.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// wantIDs lists, in order, the ids in times whose event time is at or after since.
func wantIDs(times map[int64]time.Time, since time.Time) []int64 {
	var ids []int64
	for id, at := range times {
		if !at.IsZero() && !at.Before(since) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// alertBlocks reads alert_blocks: block -> newest event time (0 for NULL).
func alertBlocks(t *testing.T, path string) map[int64]int64 {
	t.Helper()
	rows, err := rawDB(t, path).Query("SELECT block, COALESCE(max_event_time, 0) FROM alert_blocks")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]int64{}
	for rows.Next() {
		var b, m int64
		if err := rows.Scan(&b, &m); err != nil {
			t.Fatal(err)
		}
		got[b] = m
	}
	return got
}

// wantBlocks is what alert_blocks should hold: a row for every block below the newest
// alert's, with the newest event time among the block's alerts.
func wantBlocks(times map[int64]time.Time) map[int64]int64 {
	var top int64
	for id := range times {
		top = max(top, id>>alertBlockBits)
	}
	want := map[int64]int64{}
	for id, at := range times {
		b := id >> alertBlockBits
		if b == top {
			continue
		}
		if _, ok := want[b]; !ok {
			want[b] = 0
		}
		if !at.IsZero() && at.UnixNano() > want[b] {
			want[b] = at.UnixNano()
		}
	}
	return want
}

// TestScanAlertsSkipsOldBlocks: ScanAlerts yields exactly the alerts whose event time
// is at or after since, in id order, whatever the order of event times across the
// blocks alert_blocks summarises, across a restart, a rolled-back transaction and
// alerts inserted in an order other than their ids'.
func TestScanAlertsSkipsOldBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	times := map[int64]time.Time{}
	at := func(id int64) time.Time {
		switch {
		case id == 5: // an old block with a future-dated alert is read
			return t0.Add(1000 * time.Hour)
		case id == 9000: // a late alert in a recent block is left out by its time
			return t0.Add(-time.Hour)
		case id%1000 == 7:
			return time.Time{} // no event time
		}
		return t0.Add(time.Duration(id) * time.Second)
	}
	insert := func(s *SQLite, n int, fail error) error {
		return s.Submit(context.Background(), func(tx Tx) error {
			alerts := make([]*model.Alert, n)
			for i := range alerts {
				a := testAlert(i)
				a.ID = tx.NextAlertID()
				a.EventTime = at(a.ID)
				alerts[i] = a
			}
			// Ids taken first and inserted last to first: a block boundary inside
			// the op is crossed backwards.
			slices.Reverse(alerts)
			if err := tx.InsertAlerts(alerts); err != nil {
				return err
			}
			if fail != nil {
				return fail
			}
			for _, a := range alerts {
				times[a.ID] = a.EventTime
			}
			return nil
		})
	}
	check := func(step string, s *SQLite) {
		t.Helper()
		for _, since := range []time.Time{t0.Add(-2 * time.Hour), t0.Add(5000 * time.Second), t0.Add(12000 * time.Second), t0.Add(999 * time.Hour)} {
			if got, want := scanIDs(t, s, since), wantIDs(times, since); !slices.Equal(got, want) {
				t.Fatalf("%s: since %s: %d alerts, want %d (first %v, want %v)", step, since, len(got), len(want), got[:min(5, len(got))], want[:min(5, len(want))])
			}
		}
		if got, want := alertBlocks(t, path), wantBlocks(times); !maps.Equal(got, want) {
			t.Fatalf("%s: alert_blocks %v, want %v", step, got, want)
		}
	}
	for range 9 {
		if err := insert(s, 1000, nil); err != nil {
			t.Fatal(err)
		}
	}
	check("9,000 alerts", s)

	boom := errors.New("boom")
	if err := insert(s, 4000, boom); !errors.Is(err, boom) { // would close block 2
		t.Fatalf("failing op: %v, want boom", err)
	}
	check("after a rollback", s)
	if err := insert(s, 1000, nil); err != nil {
		t.Fatal(err)
	}
	check("after a rollback, more alerts", s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path, Options{})
	check("reopened", s)
	for range 4 {
		if err := insert(s, 1000, nil); err != nil {
			t.Fatal(err)
		}
	}
	check("more alerts after reopening", s)
	if n := len(alertBlocks(t, path)); n < 3 {
		t.Fatalf("%d alert blocks, want at least 3", n)
	}

	// Old blocks are not read at all: an unreadable alert in one goes unnoticed by a
	// scan after its block's newest event time, and fails a scan before it.
	if _, err := rawDB(t, path).Exec("UPDATE alerts SET entities = 'not json' WHERE id = 5000"); err != nil {
		t.Fatal(err)
	}
	if err := s.ScanAlerts(context.Background(), t0.Add(12000*time.Second), func(*model.Alert) error { return nil }); err != nil {
		t.Fatalf("scan after block 1: %v", err)
	}
	if err := s.ScanAlerts(context.Background(), t0.Add(4000*time.Second), func(*model.Alert) error { return nil }); err == nil {
		t.Fatal("scan from inside block 1 read past the unreadable alert")
	}
}

// downTo8 takes a database back to schema 8, from before migration 0009.
var downTo8 = []string{"DROP TABLE incident_alerts", "DROP TABLE incident_alerts_mark",
	"CREATE INDEX alerts_incident ON alerts (incident_id)", "DELETE FROM schema_version WHERE version = 9"}

// execAll runs each statement on the database at path.
func execAll(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigration0008SummarisesExistingAlerts: a database from before migration 0008
// gets alert_blocks rows for its full blocks, and loses the event time index.
func TestMigration0008SummarisesExistingAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	times := map[int64]time.Time{}
	for k := range 10 {
		alerts := make([]*model.Alert, 1000)
		for i := range alerts {
			alerts[i] = testAlert(k*1000 + i)
			if i == 500 {
				alerts[i].EventTime = time.Time{}
			}
		}
		insertAlerts(t, s, alerts...)
		for _, a := range alerts {
			times[a.ID] = a.EventTime
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Back to schema 7, as a database written before 0008 is.
	downTo7 := append(downTo8, "DROP TABLE alert_blocks", "CREATE INDEX alerts_event_time ON alerts (event_time)",
		"DELETE FROM schema_version WHERE version = 8")
	execAll(t, path, downTo7...)

	s = openTest(t, path, Options{})
	if got, want := alertBlocks(t, path), wantBlocks(times); !maps.Equal(got, want) || len(want) != 2 {
		t.Fatalf("alert_blocks %v, want %v (2 blocks)", got, want)
	}
	var n int
	if err := rawDB(t, path).QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE name = 'alerts_event_time'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("alerts_event_time: %d (%v), want dropped", n, err)
	}
	since := t0.Add(3000 * time.Second)
	if got, want := scanIDs(t, s, since), wantIDs(times, since); !slices.Equal(got, want) {
		t.Fatalf("since %s: %d alerts, want %d", since, len(got), len(want))
	}
}
