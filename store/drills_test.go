package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestDrillRunsRoundTripAndFilter(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "warroom.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	runs := []*DrillRun{
		{ID: "r1", Scenario: "ssh-rdp-bruteforce", Trigger: "cli", Status: DrillRunning, StartedAt: at(0), Timeout: time.Hour},
		{ID: "r2", Scenario: "port-scan", Schedule: "weekly", Trigger: "schedule", Status: DrillMissed, ScheduledAt: at(24 * time.Hour)},
		{ID: "r3", Scenario: "ssh-rdp-bruteforce", Trigger: "cli", Status: DrillRunning, StartedAt: at(48 * time.Hour)},
	}
	for _, r := range runs {
		if err := st.Submit(ctx, func(tx Tx) error { return tx.PutDrillRun(r) }); err != nil {
			t.Fatal(err)
		}
	}
	r1 := *runs[0]
	r1.Status, r1.FinishedAt, r1.IncidentID, r1.Measures = DrillCompleted, at(30*time.Minute), 7, json.RawMessage(`{"ttr":1800}`)
	if err := st.Submit(ctx, func(tx Tx) error { return tx.PutDrillRun(&r1) }); err != nil {
		t.Fatal(err)
	}
	got, err := st.DrillRun(ctx, "r1")
	if err != nil || got.Status != DrillCompleted || got.IncidentID != 7 || !got.FinishedAt.Equal(*r1.FinishedAt) ||
		string(got.Measures) != `{"ttr":1800}` || got.Timeout != time.Hour {
		t.Fatalf("read back %+v %v", got, err)
	}
	if _, err := st.DrillRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	all, err := st.DrillRuns(ctx, DrillFilter{})
	if err != nil || len(all) != 3 || all[0].ID != "r1" || all[1].ID != "r2" || all[2].ID != "r3" {
		t.Fatalf("all runs: %v %v", all, err)
	}
	since, _ := st.DrillRuns(ctx, DrillFilter{Since: t0.Add(time.Hour)})
	if len(since) != 2 || since[0].ID != "r2" {
		t.Errorf("since: %v", since)
	}
	bf, _ := st.DrillRuns(ctx, DrillFilter{Scenario: "ssh-rdp-bruteforce", Status: DrillRunning})
	if len(bf) != 1 || bf[0].ID != "r3" {
		t.Errorf("by scenario and status: %v", bf)
	}
	if err := st.Submit(ctx, func(tx Tx) error { return tx.PutDrillRun(&DrillRun{ID: "x"}) }); err == nil {
		t.Error("a run without scenario and status was written")
	}
}

func TestDrillCheckedOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "warroom.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, ok, err := st.DrillChecked(ctx, "weekly"); ok || err != nil {
		t.Fatalf("unknown schedule: %v %v", ok, err)
	}
	t1 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, tm := range []time.Time{t1, t1.Add(-time.Hour)} {
		if err := st.Submit(ctx, func(tx Tx) error { return tx.SetDrillChecked("weekly", "@weekly", tm) }); err != nil {
			t.Fatal(err)
		}
	}
	got, spec, ok, err := st.DrillChecked(ctx, "weekly")
	if !ok || err != nil || !got.Equal(t1) || spec != "@weekly" {
		t.Fatalf("checked %v %q %v %v; want %v", got, spec, ok, err, t1)
	}
}
