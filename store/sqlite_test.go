package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func openTest(t testing.TB, path string, opts Options) *SQLite {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "warroom.db")
	}
	if opts.Clock == nil {
		opts.Clock = clock.NewFake(t0)
	}
	if _, bench := t.(*testing.B); !bench && opts.indexEvery == 0 {
		opts.indexEvery = 3 // every test reads across the mark of migration 0009; benchmarks keep the default
	}
	s, err := OpenSQLite(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawDB opens the file with a plain read-write connection, bypassing the store.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testAlert(i int) *model.Alert {
	return &model.Alert{
		Source:     "suricata",
		Format:     "suricata",
		SourceRef:  fmt.Sprintf("flow-%d", i),
		Rule:       "ET SCAN Nmap",
		Title:      "Port scan from 203.0.113.7",
		Severity:   model.SeverityHigh,
		Category:   model.CategoryScan,
		Status:     "firing",
		EventTime:  t0.Add(time.Duration(i) * time.Second),
		ReceivedAt: t0.Add(time.Duration(i)*time.Second + 250*time.Millisecond),
		Entities: []model.Entity{
			{Kind: model.EntityIP, Value: "203.0.113.7", Role: model.RoleSrc},
			{Kind: model.EntityIP, Value: fmt.Sprintf("10.0.%d.%d", i/250%250, i%250), Role: model.RoleDst},
		},
		Labels:      map[string]string{"sensor": "edge-1", "sid": "2009582"},
		Fingerprint: fmt.Sprintf("fp-%d", i),
		Raw:         json.RawMessage(`{"event_type":"alert","src_ip":"203.0.113.7"}`),
	}
}

// insertAlerts submits one op that assigns ids to alerts and inserts them.
func insertAlerts(t testing.TB, s *SQLite, alerts ...*model.Alert) {
	t.Helper()
	err := s.Submit(context.Background(), func(tx Tx) error {
		for _, a := range alerts {
			a.ID = tx.NextAlertID()
		}
		return tx.InsertAlerts(alerts)
	})
	if err != nil {
		t.Fatalf("insert alerts: %v", err)
	}
}

func TestOpenMigratesFreshFileThenReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	a := testAlert(1)
	insertAlerts(t, s, a)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var version int
	if err := rawDB(t, path).QueryRow("SELECT MAX(version) FROM schema_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != SchemaVersion() || version < 1 {
		t.Fatalf("schema version %d, want %d", version, SchemaVersion())
	}

	s = openTest(t, path, Options{})
	if _, err := s.Alert(context.Background(), a.ID); err != nil {
		t.Fatalf("alert written before reopening: %v", err)
	}
	var next int64
	if err := s.Submit(context.Background(), func(tx Tx) error { next = tx.NextAlertID(); return nil }); err != nil {
		t.Fatal(err)
	}
	if next != a.ID+1 {
		t.Fatalf("after reopening NextAlertID = %d, want %d (counters continue from MAX(id))", next, a.ID+1)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	s.Close()
	if _, err := rawDB(t, path).Exec("INSERT INTO schema_version (version, applied_at) VALUES (999, 0)"); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSQLite(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this warroom binary") || !strings.Contains(err.Error(), "999") {
		t.Fatalf("open of a newer database: got %v, want an error naming version 999 as newer", err)
	}
}

func TestOpenRefusesNonDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := writeFile(path, strings.Repeat("not a database\n", 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLite(context.Background(), path, Options{}); err == nil {
		t.Fatal("opened a text file as a database")
	}
}

func TestAlertRoundTripsEveryField(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	paris, _ := time.LoadLocation("Europe/Paris")
	if paris == nil {
		paris = time.FixedZone("CET", 3600)
	}
	a := &model.Alert{
		IncidentID:  0,
		Source:      "edge-ids",
		Format:      "suricata",
		SourceRef:   "flow 1234",
		Rule:        "ET POLICY \"quoted\" \\ rule",
		Title:       "Ünïcödé title\twith\ncontrol\u2028chars <&>",
		Severity:    model.SeverityCritical,
		Category:    model.CategoryC2,
		Status:      "resolved",
		EventTime:   time.Date(2024, 2, 29, 23, 59, 59, 999999999, paris),
		ReceivedAt:  time.Date(2024, 3, 1, 0, 0, 0, 1, time.UTC),
		Entities:    []model.Entity{{Kind: model.EntityIP, Value: "2001:db8::1", Role: model.RoleSrc}, {Kind: model.EntityHost, Value: "web-01", Role: model.RoleDst}, {Kind: model.EntityCommunityID, Value: "1:abc=", Role: model.RoleObserver}},
		Labels:      map[string]string{"instance": "web-01:9100", "quote\"key": "line\nbreak", "empty": ""},
		URL:         "https://siem.example/alerts/1?x=1&y=2",
		Fingerprint: "sha1:deadbeef",
		DrillID:     "drill-7",
		Raw:         json.RawMessage(`{"a": [1, 2, {"b": "c"}]}`),
	}
	b := &model.Alert{Source: "s", Format: "generic", EventTime: t0}
	insertAlerts(t, s, a, b)
	err := s.Submit(ctx, func(tx Tx) error {
		inc := &model.Incident{ID: tx.NextIncidentID(), Number: "INC-0001", Status: model.StatusOpen, Kind: model.KindNormal}
		c := *a
		c.ID = tx.NextAlertID()
		c.IncidentID = inc.ID
		a.IncidentID, a.ID = c.IncidentID, c.ID
		if err := tx.UpsertIncident(inc); err != nil {
			return err
		}
		return tx.InsertAlerts([]*model.Alert{&c})
	})
	if err != nil {
		t.Fatal(err)
	}

	want := *a
	want.EventTime = a.EventTime.UTC()
	got, err := s.Alert(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("alert round trip:\n got %+v\nwant %+v", got, &want)
	}
	if got.EventTime.Location() != time.UTC {
		t.Fatalf("event time location %v, want UTC", got.EventTime.Location())
	}

	// Empty optional fields stay empty.
	gotB, err := s.Alert(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotB, b) {
		t.Fatalf("minimal alert round trip:\n got %+v\nwant %+v", gotB, b)
	}

	if _, err := s.Alert(ctx, 424242); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing alert: got %v, want ErrNotFound", err)
	}
}

func TestInsertAlertsRefusesBadInput(t *testing.T) {
	s := openTest(t, "", Options{})
	for name, a := range map[string]*model.Alert{
		"no id":             {Source: "s", EventTime: t0},
		"time out of range": {ID: 1, Source: "s", EventTime: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := s.Submit(context.Background(), func(tx Tx) error { return tx.InsertAlerts([]*model.Alert{a}) })
		if err == nil {
			t.Errorf("%s: inserted", name)
		}
	}
	if list, _, err := s.Alerts(context.Background(), AlertFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("after refused inserts: %d alerts, %v", len(list), err)
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestIncidentRoundTripsEveryField(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	in := &model.Incident{
		Title:          "SSH brute force from 203.0.113.7 against 3 hosts",
		Kind:           model.KindDrill,
		Status:         model.StatusResolved,
		Severity:       model.SeverityMedium,
		Category:       model.CategoryBruteforce,
		Notifiable:     true,
		AlertCount:     42,
		Entities:       []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.7", Role: model.RoleSrc}, {Kind: model.EntityHost, Value: "db-1", Role: model.RoleDst}},
		FirstSeen:      t0,
		LastSeen:       t0.Add(time.Minute),
		OpenedAt:       t0.Add(2 * time.Second),
		AcknowledgedAt: ptr(t0.Add(3 * time.Minute)),
		ContainedAt:    ptr(t0.Add(4 * time.Minute)),
		ResolvedAt:     ptr(t0.Add(5*time.Minute + 7)),
		ClosedAt:       ptr(t0.Add(6 * time.Minute)),
		MergedInto:     7,
		Commander:      "alice",
		DrillID:        "drill-1",
		UpdatedAt:      t0.Add(6 * time.Minute),
	}
	err := s.Submit(ctx, func(tx Tx) error {
		in.ID = tx.NextIncidentID()
		in.Number = model.IncidentNumber(in.ID)
		// A first, stale version of the row: the last upsert in the transaction wins.
		stale := *in
		stale.Title, stale.AlertCount = "old", 1
		if err := tx.UpsertIncident(&stale); err != nil {
			return err
		}
		if err := tx.UpsertIncident(in); err != nil {
			return err
		}
		return tx.AddIncidentEntities(in.ID, in.Entities)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Incident(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("incident round trip:\n got %+v\nwant %+v", got, in)
	}

	// A later full update replaces every column.
	upd := &model.Incident{ID: in.ID, Number: in.Number, Kind: model.KindNormal, Status: model.StatusOpen,
		Severity: model.SeverityLow, Category: model.CategoryOther, OpenedAt: t0, UpdatedAt: t0, Entities: []model.Entity{}}
	if err := s.Submit(ctx, func(tx Tx) error { return tx.UpsertIncident(upd) }); err != nil {
		t.Fatal(err)
	}
	got, err = s.Incident(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	upd.Entities = in.Entities // entities live in their own table
	if !reflect.DeepEqual(got, upd) {
		t.Fatalf("incident after update:\n got %+v\nwant %+v", got, upd)
	}
	if _, err := s.Incident(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing incident: got %v, want ErrNotFound", err)
	}
}

func TestTimelineRoundTrips(t *testing.T) {
	fake := clock.NewFake(t0)
	s := openTest(t, "", Options{Clock: fake})
	ctx := context.Background()
	evs := []*model.TimelineEvent{
		{IncidentID: 3, At: t0.Add(time.Second).In(time.FixedZone("X", -7200)), Actor: "system", Kind: "opened", Text: "Incident opened", Data: json.RawMessage(`{"alert":1}`)},
		{IncidentID: 3, Actor: "bob", Kind: "note", Text: "looking"}, // At from the clock
		{IncidentID: 4, At: t0, Actor: "system", Kind: "alert", Text: "other incident"},
	}
	err := s.Submit(ctx, func(tx Tx) error {
		for _, ev := range evs {
			if err := tx.AppendTimeline(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].ID == 0 || evs[1].ID != evs[0].ID+1 {
		t.Fatalf("timeline ids %d, %d: want assigned, increasing", evs[0].ID, evs[1].ID)
	}
	if !evs[1].At.Equal(t0) {
		t.Fatalf("event without a time got %v, want the clock's %v", evs[1].At, t0)
	}
	got, err := s.Timeline(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.TimelineEvent{*evs[0], *evs[1]}
	want[0].At = t0.Add(time.Second)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("timeline:\n got %+v\nwant %+v", got, want)
	}
	if got, _ := s.Timeline(ctx, 99); got == nil || len(got) != 0 {
		t.Fatalf("timeline of an incident without events: %v, want empty", got)
	}
}

func appendAudit(t testing.TB, s *SQLite, entries ...*model.AuditEntry) {
	t.Helper()
	err := s.Submit(context.Background(), func(tx Tx) error {
		for _, e := range entries {
			if err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditRoundTripsAndChains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	ctx := context.Background()
	var entries []*model.AuditEntry
	for i := range 5 {
		entries = append(entries, &model.AuditEntry{At: t0.Add(time.Duration(i)), Actor: "alice", Action: "incident.status",
			Subject: model.IncidentNumber(int64(i + 1)), Detail: json.RawMessage(fmt.Sprintf(`{"to":"acknowledged","n":%d}`, i))})
	}
	entries[4].Detail = nil
	appendAudit(t, s, entries[:3]...)
	s.Close()
	s = openTest(t, path, Options{}) // the chain continues across a restart
	appendAudit(t, s, entries[3:]...)

	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != entries[i-1].Hash || i == 0 && e.PrevHash != "" {
			t.Fatalf("entry %d prev_hash %q does not chain to %q", i, e.PrevHash, entries[max(i-1, 0)].Hash)
		}
		if len(e.Hash) != 64 {
			t.Fatalf("entry %d hash %q: want 64 hex chars", i, e.Hash)
		}
	}
	got, err := s.Audit(ctx, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.AuditEntry{*entries[1], *entries[2], *entries[3]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Audit(after 1, limit 3):\n got %+v\nwant %+v", got, want)
	}
	n, err := s.VerifyAudit(ctx)
	if err != nil || n != 5 {
		t.Fatalf("VerifyAudit = %d, %v; want 5, nil", n, err)
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	ctx := context.Background()
	for i := range 10 {
		appendAudit(t, s, &model.AuditEntry{Actor: "alice", Action: "incident.ack", Subject: model.IncidentNumber(int64(i + 1))})
	}
	db := rawDB(t, path)

	// The table refuses changes outright...
	if _, err := db.Exec("UPDATE audit SET actor = 'mallory' WHERE seq = 4"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("UPDATE of an audit row: got %v, want refused as append-only", err)
	}
	if _, err := db.Exec("DELETE FROM audit WHERE seq = 4"); err == nil {
		t.Fatal("DELETE of an audit row was allowed")
	}
	// ...and someone who removes the guard is still caught by the chain.
	if _, err := db.Exec("DROP TRIGGER audit_no_update"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET actor = 'mallory' WHERE seq = 4"); err != nil {
		t.Fatal(err)
	}
	n, err := s.VerifyAudit(ctx)
	if !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), "entry 4") || n != 3 {
		t.Fatalf("VerifyAudit after altering entry 4 = %d, %v; want 3 and an error naming entry 4", n, err)
	}

	// Recomputing the altered row's hash breaks the link to the next entry instead.
	var e model.AuditEntry
	var at int64
	if err := db.QueryRow("SELECT seq, at, actor, action, subject, prev_hash FROM audit WHERE seq = 4").Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &e.PrevHash); err != nil {
		t.Fatal(err)
	}
	e.At = time.Unix(0, at)
	if _, err := db.Exec("UPDATE audit SET hash = ? WHERE seq = 4", auditHash(e.PrevHash, &e)); err != nil {
		t.Fatal(err)
	}
	n, err = s.VerifyAudit(ctx)
	if !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), "entry 5") || n != 4 {
		t.Fatalf("VerifyAudit after re-hashing entry 4 = %d, %v; want 4 and an error naming entry 5", n, err)
	}

	// A removed entry shows as a gap.
	if _, err := db.Exec("DROP TRIGGER audit_no_delete"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET actor = 'alice', hash = (SELECT prev_hash FROM audit WHERE seq = 5) WHERE seq = 4"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM audit WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	n, err = s.VerifyAudit(ctx)
	if !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), "entry 3") || !strings.Contains(err.Error(), "missing") || n != 1 {
		t.Fatalf("VerifyAudit after deleting entry 2 = %d, %v; want 1 and an error naming entry 3 and the gap", n, err)
	}
}

func TestFullSyncSetsSynchronousFull(t *testing.T) {
	for _, tc := range []struct {
		full bool
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{false, 1}, {true, 2}} {
		s := openTest(t, "", Options{FullSync: tc.full})
		var got int
		err := s.Submit(context.Background(), func(tx Tx) error {
			rows, err := tx.(*writeTx).w.conn.Query("PRAGMA synchronous", nil)
			if err != nil {
				return err
			}
			defer rows.Close()
			vals := make([]driver.Value, 1)
			if err := rows.Next(vals); err != nil {
				return err
			}
			got = int(vals[0].(int64))
			return nil
		})
		if err != nil || got != tc.want {
			t.Errorf("FullSync %v: synchronous = %d (%v), want %d", tc.full, got, err, tc.want)
		}
	}
}
