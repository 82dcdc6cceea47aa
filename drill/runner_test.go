package drill

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// fakeTimer fires at once for waits under limit, moving the fake clock by the wait;
// longer waits fire only when the test calls fire.
type fakeTimer struct {
	clk   *clock.Fake
	limit time.Duration

	mu      sync.Mutex
	pending []chan time.Time
}

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	if d < f.limit {
		f.clk.Advance(d)
		c <- f.clk.Now()
		return c
	}
	f.mu.Lock()
	f.pending = append(f.pending, c)
	f.mu.Unlock()
	return c
}

// fire fires every long wait asked for so far.
func (f *fakeTimer) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.pending {
		c <- f.clk.Now()
	}
	f.pending = nil
}

type rig struct {
	st    *store.SQLite
	pipe  *triage.Pipeline
	clk   *clock.Fake
	timer *fakeTimer
	run   *Runner
}

func newRig(t *testing.T, o RunnerOptions) *rig {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pipe, err := triage.NewPipeline(context.Background(), st, triage.DefaultConfig(), clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	timer := &fakeTimer{clk: clk, limit: 5 * time.Minute}
	if o.Scenarios == nil {
		lib, err := LoadLibrary("")
		if err != nil {
			t.Fatal(err)
		}
		o.Scenarios = lib
	}
	o.Store, o.Pipeline, o.Clock, o.Timer = st, pipe, clk, timer
	o.Rand = rand.New(rand.NewPCG(7, 8))
	if o.Poll == 0 {
		o.Poll = time.Hour
	}
	r, err := NewRunner(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return &rig{st: st, pipe: pipe, clk: clk, timer: timer, run: r}
}

// TestBuiltinScenariosOpenTheirPlaybook runs every built-in scenario through the
// ingest decoders and the correlation pipeline: each opens one drill incident, tagged
// with the run, holding only documentation-range addresses, that matches the
// playbook it is built for.
func TestBuiltinScenariosOpenTheirPlaybook(t *testing.T) {
	set, err := playbooks.Load("")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range Builtins() {
		t.Run(s.Name, func(t *testing.T) {
			r := newRig(t, RunnerOptions{})
			run, err := r.run.Start(ctx, s.Name, Trigger{Kind: "cli"})
			if err != nil {
				t.Fatal(err)
			}
			var got *store.DrillRun
			var alerts []*model.Alert
			eventually(t, "every step stored", func() bool {
				if got, err = r.st.DrillRun(ctx, run.ID); err != nil {
					t.Fatal(err)
				}
				if got.Status.Final() {
					t.Fatalf("run ended: %+v", got)
				}
				alerts, _, _ = r.st.Alerts(ctx, store.AlertFilter{Limit: 1000})
				return got.IncidentID != 0 && len(alerts) == len(s.Steps)
			})
			inc, err := r.st.Incident(ctx, got.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			if inc.Kind != model.KindDrill || inc.DrillID != run.ID || !inc.Notifiable {
				t.Errorf("incident %+v; want a notifiable drill incident of %s", inc, run.ID)
			}
			for _, a := range alerts {
				if a.IncidentID != inc.ID || a.DrillID != run.ID {
					t.Errorf("alert %d (%s) is in %d, drill %q; want all in %s", a.ID, a.Title, a.IncidentID, a.DrillID, inc.Number)
				}
				for _, e := range a.Entities {
					if ip, err := netip.ParseAddr(e.Value); e.Kind == model.EntityIP && (err != nil || !IsDocumentation(ip)) {
						t.Errorf("alert %d names %s, outside the documentation ranges", a.ID, e.Value)
					}
				}
			}
			p, ok := set.Match(inc, alerts)
			if !ok || p.ID != s.Playbook {
				t.Errorf("category %s matched playbook %v; want %s", inc.Category, p, s.Playbook)
			}
		})
	}
}

// TestDrillNeverMergesWithARealIncident: a real alert about the drill's attacker
// stays in an incident of its own.
func TestDrillNeverMergesWithARealIncident(t *testing.T) {
	r := newRig(t, RunnerOptions{})
	ctx := context.Background()
	run, err := r.run.Run(ctx, "ssh-rdp-bruteforce", Trigger{Kind: "cli", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_ = run
	alerts, _, _ := r.st.Alerts(ctx, store.AlertFilter{Limit: 100})
	attacker := ""
	for _, e := range alerts[0].Entities {
		if e.Role == model.RoleSrc {
			attacker = e.Value
		}
	}
	real := &model.Alert{Source: "suricata", Format: "suricata", Rule: "ssh brute force", Title: "SSH brute force",
		Severity: model.SeverityHigh, Category: model.CategoryBruteforce, EventTime: r.clk.Now(), Fingerprint: "real-1",
		Entities: []model.Entity{{Kind: model.EntityIP, Value: attacker, Role: model.RoleSrc}}}
	res, err := r.pipe.Ingest(ctx, []*model.Alert{real})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.st.Alert(ctx, res.IDs[0])
	inc, _ := r.st.Incident(ctx, a.IncidentID)
	if inc.Kind != model.KindNormal || inc.ID == alerts[0].IncidentID {
		t.Errorf("the real alert joined %+v", inc)
	}
}

// TestTimeoutIsRecorded: a drill nobody resolves ends as timed out at its timeout,
// with the measures it reached, and its incident is closed.
func TestTimeoutIsRecorded(t *testing.T) {
	var finished []*store.DrillRun
	var mu sync.Mutex
	r := newRig(t, RunnerOptions{OnFinish: func(ctx context.Context, run *store.DrillRun, m *Measures) {
		mu.Lock()
		finished = append(finished, run)
		mu.Unlock()
	}})
	ctx := context.Background()
	go func() {
		// The run asks for its timeout once its alerts are in: fire it then.
		eventually(t, "the run's timeout wait", func() bool {
			r.timer.mu.Lock()
			defer r.timer.mu.Unlock()
			return len(r.timer.pending) >= 2 // the timeout and the first poll
		})
		r.clk.Set(t0.Add(45 * time.Minute))
		r.timer.fire()
	}()
	run, err := r.run.Run(ctx, "port-scan", Trigger{Kind: "cli", Timeout: 45 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != store.DrillTimedOut || run.Error != "not resolved within 45m0s" || !run.FinishedAt.Equal(t0.Add(45*time.Minute)) {
		t.Fatalf("run %+v", run)
	}
	stored, _ := r.st.DrillRun(ctx, run.ID)
	if stored.Status != store.DrillTimedOut || len(stored.Measures) == 0 {
		t.Errorf("stored %+v", stored)
	}
	inc, _ := r.st.Incident(ctx, run.IncidentID)
	if inc.Status != model.StatusFalsePositive {
		t.Errorf("the timed-out drill's incident is %s", inc.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(finished) != 1 || finished[0].ID != run.ID {
		t.Errorf("OnFinish got %v", finished)
	}
}

func TestUnknownScenarioIsRefused(t *testing.T) {
	r := newRig(t, RunnerOptions{})
	_, err := r.run.Start(context.Background(), "nope", Trigger{Kind: "cli"})
	if err == nil || err.Error() != "no drill scenario \"nope\"; available: c2-beaconing, data-exfiltration, ddos, dns-tunnelling, lateral-movement, port-scan, routing-loop-bgp-flap, ssh-rdp-bruteforce" {
		t.Errorf("error %v", err)
	}
	if runs, _ := r.st.DrillRuns(context.Background(), store.DrillFilter{}); len(runs) != 0 {
		t.Errorf("a refused start recorded %v", runs)
	}
}

// eventually polls cond, bounded, for state that has no event to await (the runner
// works on its own goroutine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
		time.Sleep(time.Millisecond)
	}
}
