package narrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

// Narrative sources, as rooms show them.
const (
	SourceAI       = "ai"
	SourceTemplate = "template"
)

// Narrative is the narrative of an incident that rooms show.
type Narrative struct {
	Text   string
	Source string // SourceAI or SourceTemplate
	Model  string
	// At is when the model's narrative was written; Stale says the incident's stage
	// has changed since (a new narrative is due or being written).
	At    time.Time
	Stale bool
}

// Store keeps the current narrative of each incident.
type Store interface {
	PutNarrative(ctx context.Context, n *store.Narrative) error
	Narrative(ctx context.Context, incidentID int64) (*store.Narrative, error)
}

var _ Store = (*store.SQLite)(nil)

// Options configure an Engine.
type Options struct {
	Completer Completer
	Store     Store
	Clock     clock.Clock
	Log       *slog.Logger
	// Redact: replace internal values with placeholders in prompts; Internal lists
	// internal networks besides the private and special ranges, InternalDomains the
	// DNS suffixes of internal names (config.AI.InternalDomains).
	Redact          bool
	Internal        []netip.Prefix
	InternalDomains []string
	// MinInterval is the least time between two narratives of one incident
	// (default 5m); Debounce how long a change must settle first (default 20s).
	MinInterval time.Duration
	Debounce    time.Duration
	// HourlyTokenBudget caps the tokens spent in any hour (default 200000);
	// MaxTokens is the answer's bound, counted in each request's estimate.
	HourlyTokenBudget int
	MaxTokens         int
	// Timeout bounds one narrative, request and validation (default 30s).
	Timeout time.Duration
	// Concurrency bounds the requests in flight (default 2).
	Concurrency int
	// OnUpdate is called, outside any lock, when an incident's narrative changed.
	OnUpdate func(incidentID int64)
}

// Engine decides when to write an incident's narrative and writes it in the
// background: Current never waits for the model.
type Engine struct {
	o   Options
	ctx context.Context
	end context.CancelFunc
	sem chan struct{}
	wg  sync.WaitGroup

	mu     sync.Mutex
	inc    map[int64]*incState
	spent  []*spend
	paused time.Time // a 429's Retry-After: no request before then
	stats  Stats
}

type spend struct {
	at     time.Time
	tokens int
}

// incState is what the engine knows of one incident.
type incState struct {
	loaded bool
	cur    *store.Narrative // the stored model narrative, nil for none
	// wantFP is the fingerprint of the latest facts; doneFP the one last tried.
	wantFP, doneFP string
	changedAt      time.Time // when wantFP last changed
	lastRun        time.Time
	retryAt        time.Time // after a failure, no attempt before then
	failures       int
	running        bool
}

// Stats count what the engine did.
type Stats struct {
	Requests, Written, Failed, Invalid, OverBudget int
	Dropped                                        Dropped
	PromptTokens, CompletionTokens                 int
}

// NewEngine builds an engine. Close stops it.
func NewEngine(o Options) (*Engine, error) {
	if o.Completer == nil || o.Clock == nil || o.Log == nil {
		return nil, errors.New("narrate: Completer, Clock and Log are required")
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 5 * time.Minute
	}
	if o.Debounce < 0 {
		o.Debounce = 0
	}
	if o.HourlyTokenBudget <= 0 {
		o.HourlyTokenBudget = 200000
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 800
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	ctx, end := context.WithCancel(context.Background())
	return &Engine{o: o, ctx: ctx, end: end, sem: make(chan struct{}, o.Concurrency), inc: map[int64]*incState{}}, nil
}

// Close cancels the requests in flight and waits for them.
func (e *Engine) Close() {
	e.end()
	e.wg.Wait()
}

// Model names the engine's model.
func (e *Engine) Model() string { return e.o.Completer.Model() }

// Stats returns what the engine did so far.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// Current returns the narrative rooms should show for the incident now: the model's
// latest valid narrative, else the template. It never waits for the model: when a
// narrative is due (the incident is new to the engine, or its stage changed and has
// settled, and the interval and the token budget allow), it is written in the
// background and OnUpdate is called when it is stored.
func (e *Engine) Current(ctx context.Context, f *Facts, template string) Narrative {
	id := f.Incident.ID
	now := e.o.Clock.Now()
	fp := f.Fingerprint()
	e.mu.Lock()
	st := e.inc[id]
	if st == nil {
		if len(e.inc) >= maxStates {
			e.pruneLocked()
		}
		st = &incState{}
		e.inc[id] = st
	}
	needLoad := !st.loaded
	e.mu.Unlock()
	if needLoad && e.o.Store != nil {
		n, err := e.o.Store.Narrative(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.o.Log.Warn("narrative: read the stored narrative failed", "incident", f.Incident.Number, "err", err)
		}
		e.mu.Lock()
		if !st.loaded && err == nil && n.Source == SourceAI {
			st.cur, st.doneFP, st.lastRun = n, n.Fingerprint, n.CreatedAt
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	st.loaded = true
	if fp != st.wantFP {
		st.wantFP, st.changedAt = fp, now
	}
	start := e.dueLocked(st, now)
	if start {
		st.running = true
	}
	out := Narrative{Text: template, Source: SourceTemplate}
	if st.cur != nil {
		out = Narrative{Text: st.cur.Text, Source: SourceAI, Model: st.cur.Model, At: st.cur.CreatedAt, Stale: st.cur.Fingerprint != fp}
	}
	e.mu.Unlock()
	if start {
		// The request ends when the engine closes or the caller's context (the
		// bot's run) ends, whichever comes first; never with one sync.
		gctx, cancel := context.WithCancel(e.ctx)
		stop := context.AfterFunc(ctx, cancel)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer cancel()
			defer stop()
			e.write(gctx, id, f, fp)
		}()
	}
	return out
}

// maxStates bounds the incidents the engine remembers; settled ones are forgotten
// past it and read back from the store when they are seen again.
const maxStates = 10000

// pruneLocked forgets the incidents with nothing running or waiting.
func (e *Engine) pruneLocked() {
	for id, st := range e.inc {
		if !st.running && st.wantFP == st.doneFP {
			delete(e.inc, id)
		}
	}
}

// dueLocked says whether a narrative of st's latest facts should be written now.
func (e *Engine) dueLocked(st *incState, now time.Time) bool {
	if st.running || st.wantFP == st.doneFP && st.failures == 0 {
		return false
	}
	if now.Before(e.paused) || now.Before(st.retryAt) {
		return false
	}
	if st.wantFP == st.doneFP && st.failures >= 3 {
		return false // this stage failed three times: wait for the next one
	}
	if st.lastRun.IsZero() {
		return true // the first narrative: at once
	}
	return !now.Before(st.changedAt.Add(e.o.Debounce)) && !now.Before(st.lastRun.Add(e.o.MinInterval))
}

// Due reports whether a narrative of the incident is waiting to be written and when
// it may be at the earliest, for callers that wake the engine on a timer.
func (e *Engine) Due(incidentID int64) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.inc[incidentID]
	if st == nil || st.running || st.wantFP == st.doneFP && (st.failures == 0 || st.failures >= 3) {
		return time.Time{}, false
	}
	at := st.changedAt.Add(e.o.Debounce)
	if !st.lastRun.IsZero() {
		at = later(at, st.lastRun.Add(e.o.MinInterval))
	} else {
		at = st.changedAt
	}
	return later(later(at, st.retryAt), e.paused), true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (e *Engine) redactor(f *Facts) *Redactor {
	if !e.o.Redact {
		return nil
	}
	return NewRedactor(f, e.o.Internal, e.o.InternalDomains)
}

// write asks the model for a narrative of f and stores it when it validates.
func (e *Engine) write(ctx context.Context, id int64, f *Facts, fp string) {
	defer func() {
		e.mu.Lock()
		e.inc[id].running = false
		e.mu.Unlock()
	}()
	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		return
	}
	n, err := e.generate(ctx, f, fp)
	now := e.o.Clock.Now()
	e.mu.Lock()
	st := e.inc[id]
	st.lastRun = now
	switch {
	case errors.Is(err, errOverBudget):
		e.stats.OverBudget++
		st.retryAt = e.budgetFreeLocked()
	case err != nil:
		if errors.Is(err, ErrInvalid) {
			e.stats.Invalid++
		} else {
			e.stats.Failed++
		}
		if st.doneFP != fp {
			st.failures = 0
		}
		st.doneFP = fp
		st.failures++
		wait := min(e.o.MinInterval, time.Minute) * time.Duration(st.failures)
		if ra, ok := RetryAfter(err); ok {
			wait = max(wait, ra)
			e.paused = later(e.paused, now.Add(ra))
		}
		if errors.Is(err, ErrInvalid) {
			st.failures = 3 // an invalid answer is not retried for the same stage
		}
		st.retryAt = now.Add(wait)
	default:
		st.cur, st.doneFP, st.failures, st.retryAt = n, fp, 0, time.Time{}
		e.stats.Written++
	}
	e.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) {
			e.o.Log.Warn("narrative: the model's narrative is not used; the room keeps the template or the last narrative",
				"incident", f.Incident.Number, "model", e.Model(), "err", err)
		}
		return
	}
	if e.o.OnUpdate != nil {
		e.o.OnUpdate(id)
	}
}

var errOverBudget = errors.New("the hourly token budget is spent")

// generate runs one request: prompt, budget, model, validation, storage.
func (e *Engine) generate(ctx context.Context, f *Facts, fp string) (*store.Narrative, error) {
	red := e.redactor(f)
	p, err := BuildPrompt(f, red)
	if err != nil {
		return nil, err
	}
	estimate := (len(p.System)+len(p.User))/4 + e.o.MaxTokens
	now := e.o.Clock.Now()
	e.mu.Lock()
	if e.spentLocked(now)+estimate > e.o.HourlyTokenBudget {
		e.mu.Unlock()
		return nil, errOverBudget
	}
	// Reserve the estimate; the real count replaces it below.
	reserved := &spend{at: now, tokens: estimate}
	e.spent = append(e.spent, reserved)
	e.stats.Requests++
	e.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	ans, err := e.o.Completer.Complete(ctx, p)
	latency := e.o.Clock.Now().Sub(now)
	e.mu.Lock()
	used := ans.PromptTokens + ans.CompletionTokens
	if used == 0 && err == nil {
		used = estimate // a server that reports no usage is charged the estimate
	}
	reserved.tokens = used // a refused request (no usage) costs nothing
	e.stats.PromptTokens += ans.PromptTokens
	e.stats.CompletionTokens += ans.CompletionTokens
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	res, err := Parse(ans.Content)
	if err != nil {
		return nil, err
	}
	res.restore(red)
	valid, dropped, err := Validate(res, f)
	if err != nil {
		return nil, err
	}
	if dropped.Total() > 0 {
		e.o.Log.Info("narrative: validation dropped parts of the answer", "incident", f.Incident.Number,
			"model", e.Model(), "dropped", dropped.String())
	}
	e.mu.Lock()
	e.stats.Dropped = addDropped(e.stats.Dropped, dropped)
	e.mu.Unlock()
	raw, err := json.Marshal(valid)
	if err != nil {
		return nil, err
	}
	n := &store.Narrative{IncidentID: f.Incident.ID, Source: SourceAI, Model: e.Model(), Text: valid.Text(f),
		Result: string(raw), Fingerprint: fp, Latency: latency, PromptTokens: ans.PromptTokens,
		CompletionTokens: ans.CompletionTokens, Dropped: dropped.Total(), CreatedAt: e.o.Clock.Now()}
	if dropped.Total() > 0 {
		n.Note = "dropped: " + dropped.String()
	}
	if e.o.Store != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("store the narrative: %w", err)
		}
		if err := e.o.Store.PutNarrative(context.WithoutCancel(ctx), n); err != nil {
			return nil, fmt.Errorf("store the narrative: %w", err)
		}
	}
	return n, nil
}

// spentLocked is the tokens spent in the hour before now; it forgets older spends.
func (e *Engine) spentLocked(now time.Time) int {
	cut := 0
	for cut < len(e.spent) && !e.spent[cut].at.After(now.Add(-time.Hour)) {
		cut++
	}
	e.spent = e.spent[cut:]
	total := 0
	for _, s := range e.spent {
		total += s.tokens
	}
	return total
}

// budgetFreeLocked is when the oldest spend of the hour leaves the window.
func (e *Engine) budgetFreeLocked() time.Time {
	if len(e.spent) == 0 {
		return e.o.Clock.Now()
	}
	return e.spent[0].at.Add(time.Hour)
}

func addDropped(a, b Dropped) Dropped {
	return Dropped{Actions: a.Actions + b.Actions, Alerts: a.Alerts + b.Alerts, Entities: a.Entities + b.Entities,
		Techniques: a.Techniques + b.Techniques, Evidence: a.Evidence + b.Evidence, Playbook: a.Playbook + b.Playbook}
}

// Wait blocks until no narrative is being written (for tests and shutdown).
func (e *Engine) Wait() { e.wg.Wait() }
