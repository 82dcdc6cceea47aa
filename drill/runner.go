package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Pipeline is the path drill alerts take: the same one as real alerts
// (triage.Pipeline).
type Pipeline interface {
	Ingest(ctx context.Context, alerts []*model.Alert) (triage.IngestResult, error)
	SetStatus(ctx context.Context, incidentID int64, to model.Status, actor, note string) (*model.Incident, error)
	// SubscribeHints: the runner polls its incident and takes events only to look
	// sooner, so what it misses must not count as lost (triage.Pipeline).
	SubscribeHints() (<-chan triage.Event, func())
}

// Store is what the runner reads and writes.
type Store interface {
	Submit(ctx context.Context, op store.Op) error
	Alert(ctx context.Context, id int64) (*model.Alert, error)
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	Incidents(ctx context.Context, f store.IncidentFilter) ([]*model.Incident, string, error)
	Actions(ctx context.Context, incidentID int64) ([]*model.Action, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
	store.DrillReader
}

// Timer waits: After is time.After, on the real clock or a test's.
type Timer interface {
	After(d time.Duration) <-chan time.Time
}

// RealTimer waits on the wall clock.
type RealTimer struct{}

// After implements Timer.
func (RealTimer) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	Store     Store
	Pipeline  Pipeline
	Scenarios *Library
	// Rules are the ingest category overrides, as for real sources.
	Rules *ingest.RuleTable
	Clock clock.Clock
	Timer Timer
	// Rand draws the run ids and the scenario's addresses (default: seeded from the
	// clock).
	Rand *rand.Rand
	Log  *slog.Logger
	// Timeout is the default time a run may take (default 2h).
	Timeout time.Duration
	// Poll is how often a running drill's incident is read again besides the
	// pipeline's events (default 30s).
	Poll time.Duration
	// OnFinish, when set, is called with each finished run (to post the report in
	// the drill's rooms).
	OnFinish func(ctx context.Context, run *store.DrillRun, m *Measures)
}

// Runner runs drills.
type Runner struct {
	o RunnerOptions

	rmu sync.Mutex // guards o.Rand

	mu      sync.Mutex
	running map[string]context.CancelFunc
	wg      sync.WaitGroup
}

// NewRunner returns a runner.
func NewRunner(o RunnerOptions) (*Runner, error) {
	if o.Store == nil || o.Pipeline == nil || o.Scenarios == nil {
		return nil, errors.New("drill runner: Store, Pipeline and Scenarios are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Timer == nil {
		o.Timer = RealTimer{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		n := uint64(o.Clock.Now().UnixNano())
		o.Rand = rand.New(rand.NewPCG(n, n^0x9e3779b97f4a7c15))
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = 30 * time.Second
	}
	return &Runner{o: o, running: map[string]context.CancelFunc{}}, nil
}

// Scenarios returns the runner's scenario library.
func (r *Runner) Scenarios() *Library { return r.o.Scenarios }

// Trigger says why a run starts.
type Trigger struct {
	// Kind is schedule, command, cli or api; By is who asked (platform:user, an API
	// identity) or the schedule's name.
	Kind, By string
	// Schedule and ScheduledAt are set for scheduled runs.
	Schedule    string
	ScheduledAt time.Time
	// Timeout overrides the scenario's and the default timeout when set.
	Timeout time.Duration
}

func (t Trigger) String() string {
	if t.By == "" {
		return t.Kind
	}
	return t.Kind + ":" + t.By
}

func (r *Runner) rng() *rand.Rand {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return rand.New(rand.NewPCG(r.o.Rand.Uint64(), r.o.Rand.Uint64()))
}

// Start records a new run of scenario and runs it in the background: it returns once
// the run is recorded. Wait waits for every background run.
func (r *Runner) Start(ctx context.Context, scenario string, tr Trigger) (*store.DrillRun, error) {
	s, run, rng, err := r.begin(ctx, scenario, tr)
	if err != nil {
		return nil, err
	}
	cp := *run // the background run changes its own copy
	r.spawn(ctx, run, func(ctx context.Context) { r.execute(ctx, s, run, rng) })
	return &cp, nil
}

// Run records a new run of scenario and runs it to its end (resolved, timed out or
// failed), returning the finished run.
func (r *Runner) Run(ctx context.Context, scenario string, tr Trigger) (*store.DrillRun, error) {
	s, run, rng, err := r.begin(ctx, scenario, tr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r.track(run.ID, cancel)
	defer r.untrack(run.ID)
	return r.execute(ctx, s, run, rng), nil
}

func (r *Runner) spawn(ctx context.Context, run *store.DrillRun, f func(context.Context)) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.track(run.ID, cancel)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.untrack(run.ID)
		f(ctx)
	}()
}

func (r *Runner) track(id string, cancel context.CancelFunc) {
	r.mu.Lock()
	r.running[id] = cancel
	r.mu.Unlock()
}

func (r *Runner) untrack(id string) {
	r.mu.Lock()
	if c, ok := r.running[id]; ok {
		c()
		delete(r.running, id)
	}
	r.mu.Unlock()
}

// Stop cancels the background runs and waits for them; their rows stay running and
// Resume picks them up at the next start.
func (r *Runner) Stop() {
	r.mu.Lock()
	for _, c := range r.running {
		c()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Wait waits for the background runs to end by themselves.
func (r *Runner) Wait() { r.wg.Wait() }

func (r *Runner) begin(ctx context.Context, scenario string, tr Trigger) (*Scenario, *store.DrillRun, *rand.Rand, error) {
	s, err := r.o.Scenarios.Get(scenario)
	if err != nil {
		return nil, nil, nil, err
	}
	rng := r.rng()
	now := r.o.Clock.Now().UTC()
	timeout := r.o.Timeout
	if s.Timeout > 0 {
		timeout = s.Timeout
	}
	if tr.Timeout > 0 {
		timeout = tr.Timeout
	}
	run := &store.DrillRun{
		ID:       fmt.Sprintf("drill-%s-%04x", now.Format("20060102t150405"), rng.Uint32()&0xffff),
		Scenario: s.Name, Schedule: tr.Schedule, Trigger: tr.String(), Status: store.DrillRunning,
		StartedAt: &now, Timeout: timeout,
	}
	if !tr.ScheduledAt.IsZero() {
		at := tr.ScheduledAt.UTC()
		run.ScheduledAt = &at
	}
	err = r.o.Store.Submit(ctx, func(tx store.Tx) error {
		if err := tx.PutDrillRun(run); err != nil {
			return err
		}
		return audit(tx, now, tr.String(), "drill.started", run, map[string]any{"scenario": s.Name, "timeout": timeout.String()})
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("record drill run of %s: %w", s.Name, err)
	}
	r.o.Log.Info("drill started", "run", run.ID, "scenario", s.Name, "trigger", run.Trigger)
	return s, run, rng, nil
}

func audit(tx store.Tx, at time.Time, actor, action string, run *store.DrillRun, detail map[string]any) error {
	if actor == "" {
		actor = model.SystemActor
	}
	detail["run"] = run.ID
	detail["status"] = run.Status
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	subject := run.ID
	if run.IncidentID != 0 {
		subject = model.IncidentNumber(run.IncidentID)
	}
	return tx.AppendAudit(&model.AuditEntry{At: at, Actor: actor, Action: action, Subject: subject, Detail: b})
}

// execute injects the scenario and waits for the run's end.
func (r *Runner) execute(ctx context.Context, s *Scenario, run *store.DrillRun, rng *rand.Rand) *store.DrillRun {
	if err := r.inject(ctx, s, run, rng); err != nil {
		if ctx.Err() != nil {
			return run // stopping: the run is resumed at the next start
		}
		r.o.Log.Error("drill failed", "run", run.ID, "error", err)
		return r.finish(context.WithoutCancel(ctx), run, store.DrillFailed, err.Error())
	}
	return r.watch(ctx, run)
}

// inject delivers the steps at their times, through the ingest decoders and the
// pipeline, each alert tagged with the run id.
func (r *Runner) inject(ctx context.Context, s *Scenario, run *store.DrillRun, rng *rand.Rand) error {
	vars := NewVars(run.ID, rng)
	start := *run.StartedAt
	for i, st := range s.Steps {
		if wait := start.Add(st.At).Sub(r.o.Clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.o.Timer.After(wait):
			}
		}
		at := start.Add(st.At)
		body, err := vars.Expand(st.Body, i, at)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		dec, ok := ingest.Lookup(st.Format)
		if !ok {
			return fmt.Errorf("step %d: format %q is not known", i, st.Format)
		}
		now := r.o.Clock.Now().UTC()
		items, err := dec.Decode([]byte(body), ingest.Options{Source: "drill", Rules: r.o.Rules, Now: now})
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		var alerts []*model.Alert
		for j, it := range items {
			if it.Err != nil && !errors.Is(it.Err, ingest.ErrSkipped) {
				return fmt.Errorf("step %d element %d: %w", i, j, it.Err)
			}
			if it.Alert != nil {
				it.Alert.DrillID = run.ID
				it.Alert.EventTime = at
				it.Alert.ReceivedAt = now
				alerts = append(alerts, it.Alert)
			}
		}
		if len(alerts) == 0 {
			continue
		}
		res, err := r.o.Pipeline.Ingest(ctx, alerts)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if run.IncidentID == 0 && len(res.IDs) > 0 {
			a, err := r.o.Store.Alert(ctx, res.IDs[0])
			if err != nil {
				return fmt.Errorf("step %d: read the alert back: %w", i, err)
			}
			if a.IncidentID != 0 {
				run.IncidentID = a.IncidentID
				if err := r.o.Store.Submit(ctx, func(tx store.Tx) error { return tx.PutDrillRun(run) }); err != nil {
					return fmt.Errorf("record the incident of %s: %w", run.ID, err)
				}
			}
		}
	}
	if run.IncidentID == 0 {
		return errors.New("the scenario's alerts opened no incident")
	}
	return nil
}

// watch waits until the run's incident is resolved (or otherwise closed), or the
// run's timeout passes.
func (r *Runner) watch(ctx context.Context, run *store.DrillRun) *store.DrillRun {
	evs, unsub := r.o.Pipeline.SubscribeHints()
	defer unsub()
	deadline := run.StartedAt.Add(run.Timeout)
	var timeout <-chan time.Time
	if left := deadline.Sub(r.o.Clock.Now()); left > 0 {
		timeout = r.o.Timer.After(left)
	} else {
		c := make(chan time.Time, 1)
		c <- deadline
		timeout = c
	}
	for {
		inc, err := r.o.Store.Incident(ctx, run.IncidentID)
		if err != nil && ctx.Err() != nil {
			return run
		}
		if err == nil && !inc.Status.Live() {
			return r.finish(context.WithoutCancel(ctx), run, store.DrillCompleted, "")
		}
		select {
		case <-ctx.Done():
			return run
		case <-timeout:
			return r.finish(context.WithoutCancel(ctx), run, store.DrillTimedOut,
				fmt.Sprintf("not resolved within %s", run.Timeout))
		case <-r.o.Timer.After(r.o.Poll):
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			if ev.IncidentID != run.IncidentID {
				continue
			}
		}
	}
}

// finish computes the measures from the stored incident, records the run's end and
// reports it.
func (r *Runner) finish(ctx context.Context, run *store.DrillRun, status store.DrillStatus, msg string) *store.DrillRun {
	now := r.o.Clock.Now().UTC()
	var m *Measures
	if run.IncidentID != 0 {
		mm, err := r.measure(ctx, run.IncidentID)
		if err != nil {
			r.o.Log.Error("drill: cannot measure", "run", run.ID, "error", err)
		} else {
			m = mm
			run.Measures, _ = json.Marshal(m)
		}
	}
	run.Status, run.FinishedAt, run.Error = status, &now, msg
	detail := map[string]any{"scenario": run.Scenario}
	if m != nil {
		detail["tta_s"], detail["ttc_s"], detail["ttr_s"] = m.TTA, m.TTC, m.TTR
	}
	err := r.o.Store.Submit(ctx, func(tx store.Tx) error {
		if err := tx.PutDrillRun(run); err != nil {
			return err
		}
		return audit(tx, now, model.SystemActor, "drill.completed", run, detail)
	})
	if err != nil {
		r.o.Log.Error("drill: cannot record the end of a run", "run", run.ID, "error", err)
		return run
	}
	if status == store.DrillTimedOut && run.IncidentID != 0 {
		// The drill is over: its incident stops taking part.
		if _, err := r.o.Pipeline.SetStatus(ctx, run.IncidentID, model.StatusFalsePositive, model.SystemActor,
			"drill "+run.ID+" timed out"); err != nil && !errors.Is(err, triage.ErrTransition) {
			r.o.Log.Warn("drill: cannot close a timed-out drill incident", "run", run.ID, "error", err)
		}
	}
	r.o.Log.Info("drill finished", "run", run.ID, "status", status)
	if r.o.OnFinish != nil {
		r.o.OnFinish(ctx, run, m)
	}
	return run
}

func (r *Runner) measure(ctx context.Context, id int64) (*Measures, error) {
	inc, err := r.o.Store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	acts, err := r.o.Store.Actions(ctx, id)
	if err != nil {
		return nil, err
	}
	tl, err := r.o.Store.Timeline(ctx, id)
	if err != nil {
		return nil, err
	}
	m := Measure(inc, acts, tl)
	return &m, nil
}

// Resume watches again the runs a stop left running: each ends as resolved or timed
// out like any other run. Runs that never got an incident are recorded as failed.
func (r *Runner) Resume(ctx context.Context) error {
	runs, err := r.o.Store.DrillRuns(ctx, store.DrillFilter{Status: store.DrillRunning, Limit: 100000})
	if err != nil {
		return err
	}
	for _, run := range runs {
		if run.IncidentID == 0 || run.StartedAt == nil {
			r.finish(ctx, run, store.DrillFailed, "warroom stopped before the drill's alerts opened an incident")
			continue
		}
		r.spawn(ctx, run, func(ctx context.Context) { r.watch(ctx, run) })
	}
	return nil
}
