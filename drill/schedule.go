package drill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Parser reads schedule specs: five fields (minute hour day-of-month month
// day-of-week) or a descriptor (@hourly, @daily, @weekly, @monthly, @yearly,
// @every 1h30m).
var Parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is one scheduled drill.
type Schedule struct {
	Name     string
	Scenario string
	Spec     string
	// Location is the time zone the spec is read in (default UTC).
	Location *time.Location
	// Jitter delays each run by a random time below it, so a drill is not
	// predictable to the minute.
	Jitter  time.Duration
	Timeout time.Duration
}

// Parse returns the cron schedule of s, in its time zone.
func (s Schedule) Parse() (cron.Schedule, error) {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	sch, err := Parser.Parse("CRON_TZ=" + loc.String() + " " + s.Spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: cron %q: %w", s.Name, s.Spec, err)
	}
	return sch, nil
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Runner    *Runner
	Store     Store
	Schedules []Schedule
	Clock     clock.Clock
	Timer     Timer
	// Jitter returns a random duration in [0, max); default: from the runner's
	// random source.
	Jitter func(max time.Duration) time.Duration
	Log    *slog.Logger
}

// Scheduler fires scheduled drills with robfig/cron: each job recovers from panics and
// is skipped while the previous run of the same schedule is still going. At start it
// records, as missed, the fires that fell while warroom was not running.
type Scheduler struct {
	o      SchedulerOptions
	parsed []cron.Schedule
	cron   *cron.Cron

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

// NewScheduler checks the schedules and returns a scheduler; Start runs it.
func NewScheduler(o SchedulerOptions) (*Scheduler, error) {
	if o.Runner == nil || o.Store == nil {
		return nil, errors.New("drill scheduler: Runner and Store are required")
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
	if o.Jitter == nil {
		r := o.Runner
		o.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			r.rmu.Lock()
			defer r.rmu.Unlock()
			return time.Duration(r.o.Rand.Int64N(int64(max)))
		}
	}
	s := &Scheduler{o: o}
	names := map[string]bool{}
	for _, sc := range o.Schedules {
		if names[sc.Name] {
			return nil, fmt.Errorf("drill scheduler: schedule %q appears twice", sc.Name)
		}
		names[sc.Name] = true
		if _, err := o.Runner.Scenarios().Get(sc.Scenario); err != nil {
			return nil, fmt.Errorf("drill scheduler: schedule %q: %w", sc.Name, err)
		}
		p, err := sc.Parse()
		if err != nil {
			return nil, fmt.Errorf("drill scheduler: %w", err)
		}
		s.parsed = append(s.parsed, p)
	}
	return s, nil
}

// cronLogger sends robfig/cron's log lines to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("drill cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("drill cron: "+msg, append(kv, "error", err)...)
}

// Missed returns the fires of a schedule after from and at or before to (at most
// limit of them).
func Missed(sch cron.Schedule, from, to time.Time, limit int) []time.Time {
	var out []time.Time
	for t := sch.Next(from); !t.IsZero() && !t.After(to) && len(out) < limit; t = sch.Next(t) {
		out = append(out, t)
	}
	return out
}

// CheckMissed records, as missed runs, every fire of each schedule between the last
// fire accounted for and now; a schedule seen for the first time starts now. It
// returns the missed runs.
func (s *Scheduler) CheckMissed(ctx context.Context) ([]*store.DrillRun, error) {
	now := s.o.Clock.Now().UTC()
	var out []*store.DrillRun
	for i, sc := range s.o.Schedules {
		checked, _, ok, err := s.o.Store.DrillChecked(ctx, sc.Name)
		if err != nil {
			return out, err
		}
		var missed []*store.DrillRun
		if ok {
			for _, t := range Missed(s.parsed[i], checked, now, 1000) {
				at := t.UTC()
				missed = append(missed, &store.DrillRun{
					ID: "missed-" + sc.Name + "-" + at.Format("20060102t150405"), Scenario: sc.Scenario, Schedule: sc.Name,
					Trigger: "schedule:" + sc.Name, Status: store.DrillMissed, ScheduledAt: &at, FinishedAt: &at,
					Timeout: sc.Timeout, Error: "warroom was not running at the scheduled time, or stopped before the run began",
				})
			}
		}
		err = s.o.Store.Submit(ctx, func(tx store.Tx) error {
			for _, run := range missed {
				if err := tx.PutDrillRun(run); err != nil {
					return err
				}
				if err := audit(tx, now, model.SystemActor, "drill.missed", run, map[string]any{"scenario": run.Scenario,
					"schedule": sc.Name, "scheduled_at": run.ScheduledAt.Format(time.RFC3339)}); err != nil {
					return err
				}
			}
			return tx.SetDrillChecked(sc.Name, sc.Spec, now)
		})
		if err != nil {
			return out, fmt.Errorf("record missed drills of %s: %w", sc.Name, err)
		}
		for _, run := range missed {
			s.o.Log.Warn("drill missed: warroom was not running at its scheduled time", "schedule", sc.Name,
				"scenario", sc.Scenario, "scheduled_at", run.ScheduledAt)
		}
		out = append(out, missed...)
	}
	return out, nil
}

// Start records missed fires, then runs the schedules until Stop (or ctx ends).
func (s *Scheduler) Start(ctx context.Context) error {
	if _, err := s.CheckMissed(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron != nil {
		return errors.New("drill scheduler: already started")
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	log := cronLogger{s.o.Log}
	s.cron = cron.New(cron.WithParser(Parser), cron.WithLocation(time.UTC), cron.WithLogger(log))
	for i, sc := range s.o.Schedules {
		// SkipIfStillRunning outside Recover: robfig/cron v3.0.1 gives the run token
		// back only when the job returns, so a panic must be recovered inside it or
		// every later fire would be skipped.
		inner := cron.NewChain(cron.SkipIfStillRunning(log), cron.Recover(log)).Then(cron.FuncJob(func() { s.fire(sc) }))
		s.cron.Schedule(s.parsed[i], cron.FuncJob(func() {
			// A fire is accounted for once its run has started (in fire, after the
			// jitter) or once it was skipped because the previous run is still going.
			// A fire whose jitter wait was cut short by a stop is not: the next start
			// records it as missed.
			at := s.o.Clock.Now().UTC().Truncate(time.Minute)
			inner.Run()
			s.checked(sc, at)
		}))
	}
	s.cron.Start()
	return nil
}

func (s *Scheduler) fire(sc Schedule) {
	at := s.o.Clock.Now().UTC().Truncate(time.Minute)
	if d := s.o.Jitter(sc.Jitter); d > 0 {
		select {
		case <-s.ctx.Done():
			return
		case <-s.o.Timer.After(d):
		}
	}
	if s.ctx.Err() != nil {
		return
	}
	s.checked(sc, at)
	if _, err := s.o.Runner.Run(s.ctx, sc.Scenario, Trigger{Kind: "schedule", By: sc.Name, Schedule: sc.Name,
		ScheduledAt: at, Timeout: sc.Timeout}); err != nil {
		s.o.Log.Error("drill: scheduled run could not start", "schedule", sc.Name, "error", err)
	}
}

// checked records that sc's fire at at is accounted for. The store keeps the latest
// of the times recorded, so the late record of a long run's fire never moves a
// schedule back.
func (s *Scheduler) checked(sc Schedule, at time.Time) {
	if s.ctx.Err() != nil {
		return
	}
	if err := s.o.Store.Submit(s.ctx, func(tx store.Tx) error { return tx.SetDrillChecked(sc.Name, sc.Spec, at) }); err != nil {
		s.o.Log.Error("drill: cannot record a schedule's fire", "schedule", sc.Name, "error", err)
	}
}

// Next returns the next fire of each schedule after now, by name.
func (s *Scheduler) Next(now time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	for i, sc := range s.o.Schedules {
		out[sc.Name] = s.parsed[i].Next(now)
	}
	return out
}

// Stop stops firing and waits for the jobs running now to return (their runs are
// cancelled and resumed at the next start).
func (s *Scheduler) Stop() {
	s.mu.Lock()
	c, cancel := s.cron, s.cancel
	s.mu.Unlock()
	if c == nil {
		return
	}
	cancel()
	<-c.Stop().Done()
}
