package drill

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warroom/warroom/config"
	_ "github.com/warroom/warroom/connectors/edl" // the example configuration's connector
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
)

// bubble builds a store, a pipeline and a runner inside a synctest bubble, where the
// wall clock (time.Now, timers, and so robfig/cron) is fake and moves only when
// every goroutine of the bubble waits.
func bubble(t *testing.T, lib *Library) (*store.SQLite, *Runner, func()) {
	t.Helper()
	return bubbleWith(t, RunnerOptions{Scenarios: lib})
}

func bubbleWith(t *testing.T, o RunnerOptions) (*store.SQLite, *Runner, func()) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := triage.NewPipeline(context.Background(), st, triage.DefaultConfig(), clock.Real{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Pipeline, o.Clock, o.Rand, o.Poll = st, pipe, clock.Real{}, newRand(1), time.Hour
	r, err := NewRunner(o)
	if err != nil {
		t.Fatal(err)
	}
	return st, r, func() {
		r.Stop()
		st.Close()
	}
}

func library(t *testing.T) *Library {
	t.Helper()
	lib, err := LoadLibrary("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// TestScheduleFiresInItsTimeZoneWithJitter: "30 9 * * *" in Europe/Berlin fires at
// 08:30 UTC in winter; the run starts after the jitter the random source draws, and
// ends as timed out at its own timeout. The fire is accounted for, so a restart
// reports nothing missed.
func TestScheduleFiresInItsTimeZoneWithJitter(t *testing.T) {
	lib := library(t)
	synctest.Test(t, func(t *testing.T) {
		st, r, done := bubble(t, lib)
		defer done()
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Now().UTC().Truncate(24 * time.Hour)
		var asked time.Duration
		s, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{},
			Schedules: []Schedule{{Name: "morning", Scenario: "vpn-password-spray", Spec: "30 9 * * *", Location: berlin,
				Jitter: 10 * time.Minute, Timeout: 20 * time.Minute}},
			Jitter: func(max time.Duration) time.Duration { asked = max; return 7 * time.Minute }})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(9 * time.Hour) // fake time: the bubble's clock
		synctest.Wait()
		s.Stop()
		runs, err := st.DrillRuns(context.Background(), store.DrillFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 {
			t.Fatalf("runs %+v; want one", runs)
		}
		run := runs[0]
		fire := day.Add(8*time.Hour + 30*time.Minute)
		if !run.ScheduledAt.Equal(fire) || !run.StartedAt.Equal(fire.Add(7*time.Minute)) || asked != 10*time.Minute {
			t.Errorf("scheduled %s started %s (jitter asked below %s); want %s and %s", run.ScheduledAt, run.StartedAt, asked,
				fire, fire.Add(7*time.Minute))
		}
		if run.Status != store.DrillTimedOut || !run.FinishedAt.Equal(fire.Add(27*time.Minute)) || run.Schedule != "morning" ||
			run.Trigger != "schedule:morning" {
			t.Errorf("run %+v; want timed out 20m after its start", run)
		}
		missed, err := s.CheckMissed(context.Background())
		if err != nil || len(missed) != 0 {
			t.Errorf("after a fire: missed %v %v", missed, err)
		}
	})
}

// TestStopDuringTheJitterLeavesTheFireMissed: warroom stops after a fire but before
// its jittered run begins. Nothing ran, so the next start records the fire as missed
// rather than losing it; a fire whose run began is not reported again.
func TestStopDuringTheJitterLeavesTheFireMissed(t *testing.T) {
	lib := library(t)
	synctest.Test(t, func(t *testing.T) {
		st, r, done := bubble(t, lib)
		defer done()
		sched := []Schedule{{Name: "hourly", Scenario: "vpn-password-spray", Spec: "@hourly", Jitter: 30 * time.Minute,
			Timeout: 10 * time.Minute}}
		jitter := func(time.Duration) time.Duration { return 20 * time.Minute }
		s, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{}, Schedules: sched, Jitter: jitter})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC()
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fire := start.Truncate(time.Hour).Add(time.Hour)
		time.Sleep(fire.Sub(start) + 10*time.Minute) // fake time: 10 minutes into the 20-minute jitter
		synctest.Wait()
		s.Stop()
		if runs, _ := st.DrillRuns(context.Background(), store.DrillFilter{}); len(runs) != 0 {
			t.Fatalf("runs %+v before the jitter ended", runs)
		}

		time.Sleep(5 * time.Minute) // down for a while, then started again
		s2, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{}, Schedules: sched, Jitter: jitter})
		if err != nil {
			t.Fatal(err)
		}
		missed, err := s2.CheckMissed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(missed) != 1 || !missed[0].ScheduledAt.Equal(fire) || missed[0].Status != store.DrillMissed ||
			!strings.Contains(missed[0].Error, "stopped before the run began") {
			t.Fatalf("missed %+v; want the %s fire", missed, fire)
		}

		// The next fire runs: it is accounted for, and a later check finds nothing.
		if err := s2.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(90 * time.Minute) // fake time: past the next fire, its jitter and its timeout
		synctest.Wait()
		s2.Stop()
		runs, _ := st.DrillRuns(context.Background(), store.DrillFilter{Status: store.DrillTimedOut})
		if len(runs) != 1 || !runs[0].ScheduledAt.Equal(fire.Add(time.Hour)) {
			t.Fatalf("runs after the restart %+v; want the next fire's", runs)
		}
		if again, err := s2.CheckMissed(context.Background()); err != nil || len(again) != 0 {
			t.Errorf("after a run: missed %+v %v", again, err)
		}
	})
}

// TestScheduleSkipsWhileTheLastRunGoes: a run that outlasts the interval makes the
// next fires skip (SkipIfStillRunning); the schedule runs again once it is over.
func TestScheduleSkipsWhileTheLastRunGoes(t *testing.T) {
	lib := library(t)
	synctest.Test(t, func(t *testing.T) {
		st, r, done := bubble(t, lib)
		defer done()
		s, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{},
			Schedules: []Schedule{{Name: "often", Scenario: "vpn-password-spray", Spec: "*/10 * * * *", Timeout: 25 * time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC()
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(41 * time.Minute) // fake time
		synctest.Wait()
		s.Stop()
		runs, _ := st.DrillRuns(context.Background(), store.DrillFilter{})
		if len(runs) != 2 || !runs[0].StartedAt.Equal(start.Add(10*time.Minute)) || !runs[1].StartedAt.Equal(start.Add(40*time.Minute)) {
			for _, r := range runs {
				t.Logf("run %s started %s status %s", r.ID, r.StartedAt, r.Status)
			}
			t.Fatalf("%d runs; want the 00:10 and 00:40 fires only", len(runs))
		}
		if runs[0].Status != store.DrillTimedOut {
			t.Errorf("first run %s", runs[0].Status)
		}
	})
}

// TestMissedDrillsAreRecorded: fires that fell while warroom was down are recorded as
// missed runs (and in the audit log) at the next start; a new schedule starts clean.
func TestMissedDrillsAreRecorded(t *testing.T) {
	r := newRig(t, RunnerOptions{})
	ctx := context.Background()
	r.clk.Set(time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC))
	if err := r.st.Submit(ctx, func(tx store.Tx) error {
		return tx.SetDrillChecked("hourly", "@hourly", time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC))
	}); err != nil {
		t.Fatal(err)
	}
	s, err := NewScheduler(SchedulerOptions{Runner: r.run, Store: r.st, Clock: r.clk, Schedules: []Schedule{
		{Name: "hourly", Scenario: "port-scan", Spec: "@hourly"},
		{Name: "new", Scenario: "ddos", Spec: "@every 1m"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	missed, err := s.CheckMissed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(missed) != 4 {
		t.Fatalf("missed %d; want 07:00, 08:00, 09:00 and 10:00", len(missed))
	}
	runs, _ := r.st.DrillRuns(ctx, store.DrillFilter{Status: store.DrillMissed})
	for i, run := range runs {
		want := time.Date(2026, 11, 24, 7+i, 0, 0, 0, time.UTC)
		if run.Scenario != "port-scan" || run.Schedule != "hourly" || !run.ScheduledAt.Equal(want) || run.Status != store.DrillMissed {
			t.Errorf("missed run %d: %+v", i, run)
		}
	}
	if again, _ := s.CheckMissed(ctx); len(again) != 0 {
		t.Errorf("checked twice: %d more missed", len(again))
	}
	audit, _ := r.st.Audit(ctx, 0, 100)
	n := 0
	for _, e := range audit {
		if e.Action == "drill.missed" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d drill.missed audit entries; want 4", n)
	}
}

func TestScheduleSpecs(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	from := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) // a Tuesday
	for _, c := range []struct {
		spec string
		loc  *time.Location
		want time.Time
	}{
		{"0 10 * * 2", berlin, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{"0 10 * * 2", nil, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"@daily", berlin, time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)},
		{"@weekly", nil, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)},
		{"@every 90m", nil, time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC)},
	} {
		sch, err := Schedule{Name: "x", Spec: c.spec, Location: c.loc}.Parse()
		if err != nil {
			t.Fatal(err)
		}
		if got := sch.Next(from).UTC(); !got.Equal(c.want) {
			t.Errorf("%s in %v: next %s; want %s", c.spec, c.loc, got, c.want)
		}
	}
	if _, err := (Schedule{Name: "x", Spec: "0 10 * * * *"}).Parse(); err == nil {
		t.Error("a six-field spec was accepted")
	}
	r := newRig(t, RunnerOptions{})
	if _, err := NewScheduler(SchedulerOptions{Runner: r.run, Store: r.st, Schedules: []Schedule{{Name: "x", Scenario: "nope", Spec: "@daily"}}}); err == nil {
		t.Error("a schedule of an unknown scenario was accepted")
	}
}

// TestExampleScheduleFires: the drill scheduled in config.example.yaml fires at its
// time (Tuesdays 10:00 in Europe/Berlin) and runs its built-in scenario.
func TestExampleScheduleFires(t *testing.T) {
	cfg, err := config.Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := LoadLibrary(cfg.Drills.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var scheds []Schedule
	for _, s := range cfg.Drills.Schedules {
		scheds = append(scheds, Schedule{Name: s.Name, Scenario: s.Scenario, Spec: s.Cron, Location: s.Location(),
			Jitter: time.Duration(s.Jitter), Timeout: time.Duration(s.Timeout)})
	}
	synctest.Test(t, func(t *testing.T) {
		st, r, done := bubble(t, lib)
		defer done()
		s, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{}, Schedules: scheds,
			Jitter: func(max time.Duration) time.Duration { return 12 * time.Minute }})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC() // the bubble starts on Saturday 2000-01-01, midnight UTC
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * 24 * time.Hour) // fake time
		synctest.Wait()
		s.Stop()
		runs, _ := st.DrillRuns(context.Background(), store.DrillFilter{})
		fire := start.Add(3*24*time.Hour + 9*time.Hour) // Tuesday 10:00 CET
		if len(runs) != 1 || runs[0].Scenario != "ssh-rdp-bruteforce" || !runs[0].ScheduledAt.Equal(fire) ||
			!runs[0].StartedAt.Equal(fire.Add(12*time.Minute)) || runs[0].IncidentID == 0 {
			t.Fatalf("runs %+v; want the weekly brute force at %s", runs, fire)
		}
	})
}

// TestSchedulePanicIsRecovered: a job that panics (here, in the end-of-run hook) is
// recovered; the schedule keeps firing.
func TestSchedulePanicIsRecovered(t *testing.T) {
	lib := library(t)
	synctest.Test(t, func(t *testing.T) {
		st, r, done := bubbleWith(t, RunnerOptions{Scenarios: lib, OnFinish: func(context.Context, *store.DrillRun, *Measures) {
			panic("hook failed")
		}})
		defer done()
		s, err := NewScheduler(SchedulerOptions{Runner: r, Store: st, Clock: clock.Real{},
			Schedules: []Schedule{{Name: "often", Scenario: "vpn-password-spray", Spec: "*/10 * * * *", Timeout: 5 * time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Minute) // fake time
		synctest.Wait()
		s.Stop()
		runs, _ := st.DrillRuns(context.Background(), store.DrillFilter{Status: store.DrillTimedOut})
		if len(runs) != 2 {
			all, _ := st.DrillRuns(context.Background(), store.DrillFilter{})
			for _, r := range all {
				t.Logf("run %s started %s status %s finished %v", r.ID, r.StartedAt, r.Status, r.FinishedAt)
			}
			t.Fatalf("%d timed-out runs; want the 00:10 and 00:20 fires, each after a recovered panic", len(runs))
		}
	})
}
