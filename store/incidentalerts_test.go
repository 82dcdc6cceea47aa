package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

// checkIncidentAlerts checks migration 0009's invariant on the database at path: the
// pairs of incident_alerts are exactly the (incident, alert) pairs of the alerts up
// to the mark that have an incident.
func checkIncidentAlerts(t testing.TB, path string) {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	for what, q := range map[string]string{
		"alerts up to the mark missing from incident_alerts": "SELECT COUNT(*) FROM (SELECT incident_id, id FROM alerts WHERE incident_id IS NOT NULL AND id <= " + alertsMark +
			" EXCEPT SELECT incident_id, alert_id FROM incident_alerts)",
		"pairs of incident_alerts that no alert up to the mark has": "SELECT COUNT(*) FROM (SELECT incident_id, alert_id FROM incident_alerts" +
			" EXCEPT SELECT incident_id, id FROM alerts WHERE incident_id IS NOT NULL AND id <= " + alertsMark + ")",
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			t.Fatalf("%d %s", n, what)
		}
	}
}

// TestIncidentAlertsMatchTheAlerts runs random inserts, merges, late inserts of ids
// taken earlier and reopenings, with the mark moving every 1, 2, 7 or 256 ids, and
// after each step reads every incident's alerts page by page and its chat
// statistics from a random alert on: they must be exactly the alerts whose
// incident_id names it, as a model of the same steps has them.
func TestIncidentAlertsMatchTheAlerts(t *testing.T) {
	for _, every := range []int64{1, 2, 7, 256} {
		t.Run(fmt.Sprintf("every %d", every), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(every), 9))
			path := filepath.Join(t.TempDir(), "warroom.db")
			opts := Options{indexEvery: every}
			s := openTest(t, path, opts)
			ctx := context.Background()
			owner := map[int64]int64{} // alert id -> incident id (0: none)
			var reserved []int64       // ids taken and not inserted yet
			seq := 0
			newAlert := func(id, inc int64) *model.Alert {
				seq++
				a := testAlert(seq)
				a.ID, a.IncidentID = id, inc
				return a
			}
			for step := range 150 {
				switch r := rng.IntN(20); {
				case r < 12: // a transaction of 1..12 alerts into incidents 1..6 or none
					n := 1 + rng.IntN(12)
					var alerts []*model.Alert
					submit(t, s, func(tx Tx) error {
						alerts = alerts[:0]
						for range n {
							alerts = append(alerts, newAlert(tx.NextAlertID(), int64(rng.IntN(7))))
						}
						return tx.InsertAlerts(alerts)
					})
					for _, a := range alerts {
						owner[a.ID] = a.IncidentID
					}
				case r < 14: // a merge
					from, to := int64(1+rng.IntN(6)), int64(1+rng.IntN(6))
					if from == to {
						continue
					}
					submit(t, s, func(tx Tx) error { return tx.MoveAlerts(from, to) })
					for id, inc := range owner {
						if inc == from {
							owner[id] = to
						}
					}
				case r < 16: // ids taken now, their alerts inserted later (at or below the mark by then)
					submit(t, s, func(tx Tx) error {
						for range 1 + rng.IntN(3) {
							reserved = append(reserved, tx.NextAlertID())
						}
						return nil
					})
				case r < 18:
					if len(reserved) == 0 {
						continue
					}
					var alerts []*model.Alert
					for _, id := range reserved {
						alerts = append(alerts, newAlert(id, int64(1+rng.IntN(6))))
					}
					reserved = nil
					submit(t, s, func(tx Tx) error { return tx.InsertAlerts(alerts) })
					for _, a := range alerts {
						owner[a.ID] = a.IncidentID
					}
				default:
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					// Ids taken and never inserted are handed out again after a restart
					// (the counter starts from the newest alert), at or below the mark.
					reserved = nil
					s = openTest(t, path, opts)
				}
				for inc := int64(1); inc <= 6; inc++ {
					var want []int64
					for id, o := range owner {
						if o == inc {
							want = append(want, id)
						}
					}
					slices.Sort(want)
					slices.Reverse(want)
					var got []int64
					cursor, limit := "", 1+rng.IntN(5)
					for {
						page, next, err := s.Alerts(ctx, AlertFilter{IncidentID: inc, Cursor: cursor, Limit: limit, NoRaw: rng.IntN(2) == 0})
						if err != nil {
							t.Fatal(err)
						}
						for _, a := range page {
							if a.IncidentID != inc {
								t.Fatalf("step %d: alert %d of incident %d reads as of incident %d", step, a.ID, inc, a.IncidentID)
							}
							got = append(got, a.ID)
						}
						if next == "" {
							break
						}
						cursor = next
					}
					if !slices.Equal(got, want) {
						t.Fatalf("step %d: incident %d lists alerts %v, want %v", step, inc, got, want)
					}
					after := int64(0)
					if len(want) > 0 {
						after = want[rng.IntN(len(want))]
					}
					st, err := s.ChatAlertStats(ctx, inc, after)
					if err != nil {
						t.Fatal(err)
					}
					n := 0
					for _, id := range want {
						if id > after {
							n++
						}
					}
					if st.Total != n {
						t.Fatalf("step %d: incident %d has %d alerts after %d by its chat statistics, want %d", step, inc, st.Total, after, n)
					}
				}
				checkIncidentAlerts(t, path)
			}
		})
	}
}

// TestIncidentAlertsMarkMoves: the mark stays put below indexEvery ids and then moves
// in the commit that passes it, to the newest id handed out.
func TestIncidentAlertsMarkMoves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{indexEvery: 10})
	mark := func() (through, pairs int64) {
		t.Helper()
		db := rawDB(t, path)
		defer db.Close()
		if err := db.QueryRow("SELECT "+alertsMark+", (SELECT COUNT(*) FROM incident_alerts)").Scan(&through, &pairs); err != nil {
			t.Fatal(err)
		}
		return through, pairs
	}
	batch := func(n int) []*model.Alert {
		out := make([]*model.Alert, n)
		for i := range out {
			out[i] = testAlert(i)
			out[i].IncidentID = 1
		}
		return out
	}
	insertAlerts(t, s, batch(9)...)
	if through, pairs := mark(); through != 0 || pairs != 0 {
		t.Fatalf("after 9 alerts: mark %d with %d pairs, want 0 and 0", through, pairs)
	}
	insertAlerts(t, s, batch(1)...)
	if through, pairs := mark(); through != 10 || pairs != 10 {
		t.Fatalf("after 10 alerts: mark %d with %d pairs, want 10 and 10", through, pairs)
	}
	insertAlerts(t, s, batch(25)...)
	if through, pairs := mark(); through != 35 || pairs != 35 {
		t.Fatalf("after 35 alerts: mark %d with %d pairs, want 35 and 35", through, pairs)
	}
}

// TestIncidentAlertsQueryPlan: the newest alerts of an incident come from a merge of
// the two ordered reads, with no sort of all of the incident's alerts, and every
// incident read goes through the rowid range and incident_alerts' key.
func TestIncidentAlertsQueryPlan(t *testing.T) {
	s := openTest(t, "", Options{})
	for name, q := range map[string]string{"newest": incidentAlertsNewest, "newest without raw": incidentAlertsNewestNoRaw,
		"ids after": "SELECT rule FROM alerts WHERE id IN (" + incidentAlertIDs + ")",
		"merge":     "UPDATE alerts SET incident_id = ?1 WHERE id IN (" + incidentAlertIDsOf("?2", "0") + ")"} {
		rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q, 1, 2, 3)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		if strings.Contains(all, "SCAN alerts") || !strings.Contains(all, "SEARCH alerts USING INTEGER PRIMARY KEY (rowid>?") ||
			!strings.Contains(all, "USING PRIMARY KEY (incident_id=?") {
			t.Errorf("%s: plan\n%s\nwants a rowid range of alerts and incident_alerts' key, no scan of alerts", name, all)
		}
		if strings.HasPrefix(name, "newest") && (strings.Contains(all, "TEMP B-TREE") || !strings.Contains(all, "MERGE")) {
			t.Errorf("%s: plan\n%s\nwants a merge without a sort", name, all)
		}
	}
}

// TestMigration0009IndexesExistingAlerts: a database from before migration 0009 gets
// incident_alerts for every alert that has an incident, the mark at its newest
// alert, and loses alerts_incident; its incidents list the same alerts as before.
func TestMigration0009IndexesExistingAlerts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	var alerts []*model.Alert
	for i := range 40 {
		a := testAlert(i)
		a.IncidentID = int64(i % 4) // a quarter without an incident
		alerts = append(alerts, a)
	}
	insertAlerts(t, s, alerts...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	execAll(t, path, downTo8...)

	s = openTest(t, path, Options{indexEvery: 1000})
	checkIncidentAlerts(t, path)
	var through, pairs, index int64
	if err := rawDB(t, path).QueryRow("SELECT "+alertsMark+", (SELECT COUNT(*) FROM incident_alerts),"+
		" (SELECT COUNT(*) FROM sqlite_master WHERE name = 'alerts_incident')").Scan(&through, &pairs, &index); err != nil {
		t.Fatal(err)
	}
	if through != alerts[39].ID || pairs != 30 || index != 0 {
		t.Fatalf("after 0009: mark %d, %d pairs, alerts_incident %d; want %d, 30, dropped", through, pairs, index, alerts[39].ID)
	}
	got, _, err := s.Alerts(context.Background(), AlertFilter{IncidentID: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	if want := []int64{40, 36, 32, 28, 24, 20, 16, 12, 8, 4}; !slices.Equal(ids, want) {
		t.Fatalf("incident 3 lists %v, want %v", ids, want)
	}
}
