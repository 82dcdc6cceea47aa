package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

func TestAlertsPaginateNewestFirst(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	const n = 25
	var alerts []*model.Alert
	for i := range n {
		a := testAlert(i)
		if i%3 == 0 {
			a.IncidentID = 7
		}
		alerts = append(alerts, a)
	}
	insertAlerts(t, s, alerts...)

	var ids []int64
	cursor := ""
	for pages := 0; ; pages++ {
		list, next, err := s.Alerts(ctx, AlertFilter{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if pages < 2 && (len(list) != 10 || next == "") || pages == 2 && (len(list) != 5 || next != "") {
			t.Fatalf("page %d: %d alerts, next %q", pages, len(list), next)
		}
		for _, a := range list {
			ids = append(ids, a.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := make([]int64, 0, n)
	for i := n - 1; i >= 0; i-- {
		want = append(want, alerts[i].ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("paged ids %v, want %v", ids, want)
	}

	// An exactly full last page has no next cursor.
	list, next, err := s.Alerts(ctx, AlertFilter{Limit: n})
	if err != nil || len(list) != n || next != "" {
		t.Fatalf("one full page: %d alerts, next %q, %v", len(list), next, err)
	}

	// Filter by incident.
	var got []int64
	cursor = ""
	for {
		list, next, err := s.Alerts(ctx, AlertFilter{IncidentID: 7, Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.IncidentID != 7 {
				t.Fatalf("alert %d of incident %d in the listing of incident 7", a.ID, a.IncidentID)
			}
			got = append(got, a.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != 9 || !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("incident 7 alerts %v: want 9, newest first", got)
	}

	for _, bad := range []string{"nope", "!!!", encodeCursor(5) + "x", "YzE6LTE"} {
		if _, _, err := s.Alerts(ctx, AlertFilter{Cursor: bad}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: got %v, want ErrBadCursor", bad, err)
		}
	}
}

func TestAlertsLimitIsClamped(t *testing.T) {
	s := openTest(t, "", Options{})
	insertAlerts(t, s, benchAlerts(1005, 0)...)
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-5, 100}, {7, 7}, {5000, 1000}} {
		list, _, err := s.Alerts(context.Background(), AlertFilter{Limit: tc.limit})
		if err != nil || len(list) != tc.want {
			t.Errorf("limit %d: %d alerts (%v), want %d", tc.limit, len(list), err, tc.want)
		}
	}
}

// seedIncidents writes incidents with every combination of three statuses, two
// severities and two kinds, each with two entities, and returns them by id.
func seedIncidents(t *testing.T, s *SQLite) map[int64]*model.Incident {
	t.Helper()
	out := make(map[int64]*model.Incident)
	err := s.Submit(context.Background(), func(tx Tx) error {
		for _, st := range []model.Status{model.StatusOpen, model.StatusResolved, model.StatusAcknowledged} {
			for _, sev := range []model.Severity{model.SeverityHigh, model.SeverityLow} {
				for _, kind := range []model.Kind{model.KindNormal, model.KindDrill} {
					for range 2 {
						id := tx.NextIncidentID()
						in := &model.Incident{ID: id, Number: model.IncidentNumber(id), Title: "t", Kind: kind, Status: st,
							Severity: sev, Category: model.CategoryScan, OpenedAt: t0, UpdatedAt: t0,
							Entities: []model.Entity{
								{Kind: model.EntityIP, Value: "198.51.100.1", Role: model.RoleSrc},
								{Kind: model.EntityHost, Value: model.IncidentNumber(id), Role: model.RoleDst},
							}}
						if err := tx.UpsertIncident(in); err != nil {
							return err
						}
						if err := tx.AddIncidentEntities(id, in.Entities); err != nil {
							return err
						}
						out[id] = in
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIncidentsFilterAndPaginate(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	all := seedIncidents(t, s)
	for _, f := range []IncidentFilter{
		{},
		{Status: model.StatusOpen},
		{Severity: model.SeverityHigh},
		{Kind: model.KindDrill},
		{Status: model.StatusResolved, Severity: model.SeverityLow, Kind: model.KindNormal},
		{Status: model.StatusMerged},
	} {
		var want []int64
		for id, in := range all {
			if (f.Status == "" || in.Status == f.Status) && (f.Severity == 0 || in.Severity == f.Severity) && (f.Kind == "" || in.Kind == f.Kind) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		slices.Reverse(want)
		var got []int64
		f.Limit = 3
		for {
			list, next, err := s.Incidents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range list {
				got = append(got, in.ID)
				if len(in.Entities) != 2 || !slices.Equal(in.Entities, all[in.ID].Entities) {
					t.Fatalf("incident %d listed with entities %v, want %v", in.ID, in.Entities, all[in.ID].Entities)
				}
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %+v: ids %v, want %v", f, got, want)
		}
	}
	if _, _, err := s.Incidents(ctx, IncidentFilter{Cursor: "x"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestLiveIncidentsAndCounts(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	all := seedIncidents(t, s)
	live, err := s.LiveIncidents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for id, in := range all {
		if in.Status.Live() {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	var got []int64
	for _, in := range live {
		got = append(got, in.ID)
		if !slices.Equal(in.Entities, all[in.ID].Entities) {
			t.Fatalf("live incident %d has entities %v, want %v", in.ID, in.Entities, all[in.ID].Entities)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("live incidents %v, want %v", got, want)
	}

	counts, err := s.CountIncidentsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[model.Status]int{model.StatusOpen: 8, model.StatusAcknowledged: 8, model.StatusResolved: 8,
		model.StatusContained: 0, model.StatusMerged: 0, model.StatusFalsePositive: 0}
	for st, n := range wantCounts {
		if c, ok := counts[st]; !ok || c != n {
			t.Errorf("count of %s = %d (present %v), want %d", st, c, ok, n)
		}
	}
}

func TestScanAlertsFromEventTime(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	var alerts []*model.Alert
	for i := range 10 {
		a := testAlert(i)
		a.EventTime = t0.Add(time.Duration(9-i) * time.Minute) // later ids, earlier events
		alerts = append(alerts, a)
	}
	insertAlerts(t, s, alerts...)
	var got []int64
	err := s.ScanAlerts(ctx, t0.Add(5*time.Minute), func(a *model.Alert) error {
		got = append(got, a.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, a := range alerts[:5] { // event times 9..5 minutes
		want = append(want, a.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scanned %v, want %v in id order", got, want)
	}

	n := 0
	if err := s.ScanAlerts(ctx, time.Time{}, func(*model.Alert) error { n++; return nil }); err != nil || n != 10 {
		t.Fatalf("scan from the zero time: %d alerts, %v; want all 10", n, err)
	}

	stop := errors.New("stop")
	n = 0
	err = s.ScanAlerts(ctx, time.Time{}, func(*model.Alert) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("scan stopped by fn: %d calls, %v", n, err)
	}
}

// NoRaw reads every field but the raw payload.
func TestAlertsWithoutRaw(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	a := testAlert(1)
	a.IncidentID = 3
	insertAlerts(t, s, a)
	full, _, err := s.Alerts(ctx, AlertFilter{IncidentID: 3})
	if err != nil || len(full) != 1 || len(full[0].Raw) == 0 {
		t.Fatalf("with raw: %+v %v", full, err)
	}
	slim, _, err := s.Alerts(ctx, AlertFilter{IncidentID: 3, NoRaw: true})
	if err != nil || len(slim) != 1 || slim[0].Raw != nil {
		t.Fatalf("without raw: %+v %v", slim, err)
	}
	full[0].Raw = nil
	if !reflect.DeepEqual(full[0], slim[0]) {
		t.Fatalf("without raw, the alert differs:\n%+v\n%+v", slim[0], full[0])
	}
}

// TestIncidentReadMatchesTheList: reading one incident (one statement, entities as
// JSON) gives what the list gives (two queries, entities as rows): every field, the
// entities in the order they were added, values that need escapes in JSON, and an
// incident without entities.
func TestIncidentReadMatchesTheList(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	odd := []model.Entity{
		{Kind: model.EntityHost, Value: `web "01"\back`, Role: model.RoleDst},
		{Kind: model.EntityIP, Value: "198.51.100.7", Role: model.RoleSrc},
		{Kind: model.EntityUser, Value: "ctl\x01\ttab\u2028line\u00e9", Role: model.RoleObserver},
		{Kind: model.EntityIP, Value: "2001:db8::1", Role: model.RoleDst},
		{Kind: model.EntityHost, Value: "zz-last-added-first-sorted", Role: model.RoleSrc},
		{Kind: model.EntityHost, Value: "aa-added-last", Role: model.RoleSrc},
	}
	var withEnts, without int64
	err := s.Submit(ctx, func(tx Tx) error {
		for _, id := range []*int64{&withEnts, &without} {
			*id = tx.NextIncidentID()
			ack := t0.Add(time.Minute)
			inc := &model.Incident{ID: *id, Number: model.IncidentNumber(*id), Title: "Lateral movement from web01",
				Kind: model.KindNormal, Status: model.StatusAcknowledged, Severity: model.SeverityHigh,
				Category: model.CategoryLateral, Notifiable: true, AlertCount: 3, FirstSeen: t0, LastSeen: t0,
				OpenedAt: t0, UpdatedAt: ack, AcknowledgedAt: &ack}
			if err := tx.UpsertIncident(inc); err != nil {
				return err
			}
		}
		if err := tx.AddIncidentEntities(withEnts, odd[:3]); err != nil {
			return err
		}
		return tx.AddIncidentEntities(withEnts, odd[3:])
	})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := s.Incidents(ctx, IncidentFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d incidents, %v", len(list), err)
	}
	for _, want := range list {
		got, err := s.Incident(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("incident %d read alone:\n%+v\nin the list:\n%+v", want.ID, got, want)
		}
		switch want.ID {
		case withEnts:
			if !reflect.DeepEqual(got.Entities, odd) {
				t.Errorf("entities %q, want %q in the order added", got.Entities, odd)
			}
		case without:
			if got.Entities == nil || len(got.Entities) != 0 {
				t.Errorf("entities of an incident without any: %#v, want empty", got.Entities)
			}
		}
	}
	if _, err := s.Incident(ctx, without+100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing incident: %v, want ErrNotFound", err)
	}
}
