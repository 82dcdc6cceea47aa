// Package actions is warroom's response engine: it turns playbook proposals and
// people's requests into containment actions and carries each one through its life
// cycle — proposed, approved, running, succeeded or failed, then reverted or expired —
// under the approval policy and the guardrails, exactly once per action, with the
// connector's verification recorded and an automatic rollback when the TTL ends.
//
// Every transition and every refusal is written to the incident's timeline and to the
// hash-chained audit log in the same store transaction as the change itself; those
// audit entries (actions "action.*") are the records the SIEM sinks forward. The API,
// the CLI and the chat buttons all call this engine, so one policy applies to all.
package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/drain"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Store is what the engine needs from the store: the writer and the reads of
// incidents, alerts and actions.
type Store interface {
	Submit(ctx context.Context, op store.Op) error
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	LiveIncidents(ctx context.Context) ([]*model.Incident, error)
	Alerts(ctx context.Context, f store.AlertFilter) ([]*model.Alert, string, error)
	store.ActionReader
}

// IncidentEvents is where incident changes come from (triage.Pipeline).
type IncidentEvents interface {
	Subscribe() (<-chan triage.Event, func())
}

// IncidentStatus moves incidents: a verified containment marks its incident contained.
type IncidentStatus interface {
	SetStatus(ctx context.Context, incidentID int64, to model.Status, actor, note string) (*model.Incident, error)
}

// Options configure an Engine.
type Options struct {
	Store Store
	// Connectors are the configured connectors by name. New wraps each in the retry
	// stage and a circuit breaker (connectors.Resilient): the one place where
	// connector calls are retried.
	Connectors map[string]connectors.Connector
	// Retry and Breakers tune that wrapping per connector; a missing entry takes the
	// defaults.
	Retry    map[string]connectors.Policy
	Breakers map[string]connectors.BreakerConfig
	// Guard applies the guardrails at proposal and again at execution (default: the
	// default guardrails).
	Guard *connectors.Guard
	// Playbooks are matched by Plan; nil turns planning off.
	Playbooks *playbooks.Set
	// Events, when set, makes Run plan incidents as they become notifiable or change.
	Events IncidentEvents
	// Incidents, when set, is told when a containment (block_ip, isolate_host) has
	// succeeded and been verified, so an open or acknowledged incident becomes
	// contained, stamped with the time and the person whose approval ran it.
	Incidents IncidentStatus
	Clock     clock.Clock
	Log       *slog.Logger
	// DefaultTTL is given to a containment proposed without a TTL (default 24h); the
	// guardrails still bound it.
	DefaultTTL time.Duration
	// CallTimeout bounds one connector call with its retries (default 30s).
	CallTimeout time.Duration
	// MaxPlanAlerts is how many of an incident's newest alerts Plan reads (default 500).
	MaxPlanAlerts int
	// PlanInterval is the least time between two plans of one incident that Run makes
	// for its events (default 5s): under a flood of alerts an incident is planned at
	// once, then at most once per interval.
	PlanInterval time.Duration
	// RepeatInterval is that least time when the incident's events since its last
	// plan only added alerts like its own (triage.Event.CountOnly; default 30s).
	RepeatInterval time.Duration
	// RevertRetry is how long the scheduler waits before trying again a rollback that
	// failed (default 1m).
	RevertRetry time.Duration
	// AfterSweep, when set, is called by Run after each pass of the TTL scheduler
	// with the number of actions it rolled back.
	AfterSweep func(expired int)
	// DrillSandbox names the connectors drill incidents may change for real (a lab
	// firewall); every other action on a drill incident runs in dry-run.
	DrillSandbox []string
}

// Engine runs actions. It is safe for concurrent use.
type Engine struct {
	st       Store
	conns    map[string]connectors.Connector // wrapped
	raw      map[string]connectors.Connector
	breakers map[string]*connectors.Breaker
	guard    *connectors.Guard
	set      *playbooks.Set
	events   IncidentEvents
	clk      clock.Clock
	log      *slog.Logger
	sim      *connectors.Simulation // stands in for the connector of dry-run actions
	opts     Options

	wake   chan struct{}
	planMu sync.Mutex
	// refused holds, per live incident, the playbook proposals refused by earlier
	// plans (under planMu).
	refused map[int64][]refusedPlan

	mu        sync.Mutex
	undoLocks map[int64]*keyLock
	retryAt   map[int64]time.Time

	subMu sync.Mutex
	subs  map[chan Event]struct{}
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// New builds an engine. ctx is not kept.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Store == nil {
		return nil, errors.New("actions: a store is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = 24 * time.Hour
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.MaxPlanAlerts <= 0 {
		o.MaxPlanAlerts = 500
	}
	if o.RevertRetry <= 0 {
		o.RevertRetry = time.Minute
	}
	if o.PlanInterval <= 0 {
		o.PlanInterval = 5 * time.Second
	}
	if o.RepeatInterval <= 0 {
		o.RepeatInterval = 30 * time.Second
	}
	o.RepeatInterval = max(o.RepeatInterval, o.PlanInterval)
	if o.Guard == nil {
		g, err := connectors.NewGuard(connectors.DefaultGuardConfig(), o.Clock)
		if err != nil {
			return nil, fmt.Errorf("actions: default guardrails: %w", err)
		}
		o.Guard = g
	}
	e := &Engine{
		st: o.Store, conns: map[string]connectors.Connector{}, raw: map[string]connectors.Connector{},
		breakers: map[string]*connectors.Breaker{}, guard: o.Guard, set: o.Playbooks, events: o.Events,
		clk: o.Clock, log: o.Log, sim: connectors.NewSimulation(o.Clock), opts: o,
		wake: make(chan struct{}, 1), undoLocks: map[int64]*keyLock{}, retryAt: map[int64]time.Time{},
		subs: map[chan Event]struct{}{},
	}
	for name, c := range o.Connectors {
		if c == nil {
			return nil, fmt.Errorf("actions: connector %q is nil", name)
		}
		p, ok := o.Retry[name]
		if !ok {
			p = connectors.DefaultPolicy()
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("actions: connector %q: %w", name, err)
		}
		bc := o.Breakers[name]
		if err := bc.Validate(); err != nil {
			return nil, fmt.Errorf("actions: connector %q: %w", name, err)
		}
		b := connectors.NewBreaker(name, bc, o.Clock)
		e.raw[name] = c
		e.breakers[name] = b
		e.conns[name] = connectors.Resilient(c, p, b)
	}
	return e, nil
}

// Connectors lists the connector names, sorted.
func (e *Engine) Connectors() []string {
	out := make([]string, 0, len(e.conns))
	for n := range e.conns {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Breaker returns the circuit breaker of a connector.
func (e *Engine) Breaker(name string) (*connectors.Breaker, bool) {
	b, ok := e.breakers[name]
	return b, ok
}

// Ready probes every connector (reachable, authenticated, permitted), by name.
func (e *Engine) Ready(ctx context.Context) map[string]connectors.Readiness {
	out := make(map[string]connectors.Readiness, len(e.conns))
	for n, c := range e.conns {
		out[n] = c.Ready(ctx)
	}
	return out
}

// Get returns one action, or an error wrapping store.ErrNotFound.
func (e *Engine) Get(ctx context.Context, id int64) (*model.Action, error) {
	return e.st.Action(ctx, id)
}

// List returns an incident's actions, oldest first.
func (e *Engine) List(ctx context.Context, incidentID int64) ([]*model.Action, error) {
	if _, err := e.st.Incident(ctx, incidentID); err != nil {
		return nil, err
	}
	return e.st.Actions(ctx, incidentID)
}

// Preview asks the connector, now, what executing the action would change.
func (e *Engine) Preview(ctx context.Context, id int64) (connectors.Diff, error) {
	a, err := e.st.Action(ctx, id)
	if err != nil {
		return connectors.Diff{}, err
	}
	c, ok := e.conns[a.Connector]
	if !ok {
		return connectors.Diff{}, &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("connector %q is not configured", a.Connector)}
	}
	req, err := requestOf(a)
	if err != nil {
		return connectors.Diff{}, err
	}
	return c.Preview(ctx, req)
}

// Event tells a subscriber what the engine did, after it is committed.
type Event struct {
	// Kind is planned, proposed, approval, approved, kept, rejected, refused, running,
	// succeeded, failed, reverted, expired or revert_failed.
	Kind       string
	IncidentID int64
	ActionID   int64         // 0 for planned and for a refused proposal
	Action     *model.Action // the action after the change, when there is one
	Playbook   string        // for planned
	Refusal    *Refusal      // for refused
}

// Subscribe returns a channel of engine events and a function that ends the
// subscription. Events are hints sent without blocking (dropped when the buffer is
// full); the store is the record.
func (e *Engine) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	e.subMu.Lock()
	e.subs[ch] = struct{}{}
	e.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.subMu.Lock()
			delete(e.subs, ch)
			close(ch)
			e.subMu.Unlock()
		})
	}
}

func (e *Engine) publish(ev Event) {
	if ev.Action != nil {
		cp := *ev.Action
		ev.Action = &cp
	}
	e.subMu.Lock()
	defer e.subMu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Run plans incidents as their events arrive and runs the TTL scheduler, until ctx
// ends. At start it marks actions a previous stop interrupted while running as
// failed (they can be retried), rolls back every action whose TTL ended while
// warroom was down, and plans the live notifiable incidents.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.recoverRunning(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.schedule(ctx)
	}()
	defer wg.Wait()
	if e.set == nil {
		<-ctx.Done()
		return nil
	}
	// Events are taken off the subscription as they come, whatever the planning is
	// doing, so that a burst of incidents does not overflow it: the notifiable
	// incidents they name wait in pending, each once, for the loop below, with
	// whether all their events were CountOnly.
	var (
		pendMu  sync.Mutex
		pending = map[int64]bool{}
		ready   = make(chan struct{}, 1)
	)
	if e.events != nil {
		evs, unsub := e.events.Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Returns when the pipeline is gone too; the scheduler keeps running.
			drain.Each(ctx, evs, func(ev triage.Event) {
				if !ev.Notifiable {
					return
				}
				pendMu.Lock()
				if only, ok := pending[ev.IncidentID]; ok {
					pending[ev.IncidentID] = only && ev.CountOnly
				} else {
					pending[ev.IncidentID] = ev.CountOnly
				}
				pendMu.Unlock()
				select {
				case ready <- struct{}{}:
				default:
				}
			})
		}()
		defer unsub()
	}
	if live, err := e.st.LiveIncidents(ctx); err != nil {
		e.log.Error("actions: cannot read live incidents to plan them", "error", err)
	} else {
		for _, in := range live {
			if in.Notifiable && ctx.Err() == nil {
				e.planLogged(ctx, in.ID)
			}
		}
	}
	p := planner{e: e, last: map[int64]time.Time{}, deferred: map[int64]bool{}}
	tick := time.NewTicker(e.opts.PlanInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			p.flush(ctx)
		case <-ready:
			// One plan per incident per pass, however many events named it.
			pendMu.Lock()
			ids := pending
			pending = map[int64]bool{}
			pendMu.Unlock()
			p.plan(ctx, ids)
		}
	}
}

// planner spaces the plans Run makes for events: an incident planned less than
// PlanInterval ago (on the engine's clock) waits for a later tick, and one whose
// events only added alerts like its own (CountOnly) waits for RepeatInterval.
type planner struct {
	e    *Engine
	last map[int64]time.Time
	// deferred holds the incidents waiting, with whether all their events were
	// CountOnly.
	deferred map[int64]bool
}

// wait returns how long after its last plan an incident is planned again.
func (p *planner) wait(countOnly bool) time.Duration {
	if countOnly {
		return p.e.opts.RepeatInterval
	}
	return p.e.opts.PlanInterval
}

// plan plans the incidents of ids (id → all its events were CountOnly) whose wait
// since their last plan is over, and defers the others.
func (p *planner) plan(ctx context.Context, ids map[int64]bool) {
	now := p.e.clk.Now()
	sorted := make([]int64, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	slices.Sort(sorted)
	for _, id := range sorted {
		if ctx.Err() != nil {
			return
		}
		only := ids[id]
		if d, ok := p.deferred[id]; ok {
			only = only && d
		}
		if t, ok := p.last[id]; ok && now.Sub(t) < p.wait(only) {
			p.deferred[id] = only
			continue
		}
		p.last[id] = now
		delete(p.deferred, id)
		p.e.planLogged(ctx, id)
	}
}

func (p *planner) flush(ctx context.Context) {
	now := p.e.clk.Now()
	due := map[int64]bool{}
	for id, only := range p.deferred {
		if now.Sub(p.last[id]) >= p.wait(only) {
			due[id] = only
		}
	}
	for id, t := range p.last {
		if _, waiting := p.deferred[id]; !waiting && now.Sub(t) >= p.e.opts.RepeatInterval {
			delete(p.last, id)
		}
	}
	p.plan(ctx, due)
}

func (e *Engine) planLogged(ctx context.Context, id int64) {
	if _, err := e.Plan(ctx, id); err != nil && ctx.Err() == nil {
		e.log.Error("actions: planning failed", "incident", model.IncidentNumber(id), "error", err)
	}
}

// recoverRunning marks actions left running by a stop as failed, so they show up with
// a retry.
func (e *Engine) recoverRunning(ctx context.Context) error {
	running, err := e.st.ActionsInState(ctx, model.ActionRunning)
	if err != nil {
		return fmt.Errorf("actions: %w", err)
	}
	for _, a := range running {
		var done *model.Action
		err := e.st.Submit(ctx, func(tx store.Tx) error {
			done = nil
			cur, err := tx.Action(a.ID)
			if err != nil || cur.State != model.ActionRunning {
				return err
			}
			now := e.now()
			cur.State, cur.Error, cur.UpdatedAt = model.ActionFailed, "interrupted: warroom stopped while the connector call was in flight; retry to run it again (connectors treat a repeat as a no-op)", now
			if err := tx.PutAction(cur); err != nil {
				return err
			}
			done = cur
			return e.record(tx, cur, System, now, "failed", "action.failed",
				fmt.Sprintf("%s failed: %s", describe(cur), cur.Error), map[string]any{"error": cur.Error})
		})
		if err != nil {
			return fmt.Errorf("actions: recover action %d: %w", a.ID, err)
		}
		if done != nil {
			e.publish(Event{Kind: "failed", IncidentID: done.IncidentID, ActionID: done.ID, Action: done})
		}
	}
	return nil
}

func (e *Engine) now() time.Time { return e.clk.Now().UTC().Round(0) }

// idempotencyKey identifies an action for the connectors: the incident, the
// playbook action, what is done to what, where, and the generation (how many earlier
// actions had the same identity), so a block proposed again after its rollback is a
// new action.
func idempotencyKey(a *model.Action, generation int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d|%s|%s|%s|%s|%s|%d", a.IncidentID, a.Playbook, a.PlaybookAction,
		a.Kind, a.Target, a.Connector, generation)))
	return hex.EncodeToString(h[:16])
}

// requestOf is the connector request an action makes.
func requestOf(a *model.Action) (connectors.Request, error) {
	req := connectors.Request{
		ActionID: strconv.FormatInt(a.ID, 10), IdempotencyKey: a.IdempotencyKey, Kind: connectors.ActionKind(a.Kind),
		TTL: a.TTL, Params: map[string]string{"incident": model.IncidentNumber(a.IncidentID)},
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = "preview"
	}
	if a.Playbook != "" {
		req.Params["playbook"], req.Params["playbook_action"] = a.Playbook, a.PlaybookAction
	}
	if a.Note != "" {
		req.Params["note"] = a.Note
	}
	if a.Target != "" {
		t, err := connectors.ParseTarget(a.Target)
		if err != nil {
			return req, invalid("%v", err)
		}
		req.Target = t
	}
	return req, nil
}

// describe names an action for timeline lines: "block_ip 203.0.113.7/32 via edl (#7)".
func describe(a *model.Action) string {
	s := a.Kind
	if a.Target != "" {
		s += " " + a.Target
	}
	s += " via " + a.Connector
	if a.ID != 0 {
		s += fmt.Sprintf(" (#%d)", a.ID)
	}
	return s
}

// live reports whether an action still stands: not rejected, reverted or expired.
func live(s model.ActionState) bool {
	return s != model.ActionRejected && s != model.ActionReverted && s != model.ActionExpired
}

// expiring reports whether an action of this kind and TTL is rolled back by the
// scheduler when its TTL ends.
func expiring(a *model.Action) bool {
	k := connectors.ActionKind(a.Kind)
	return a.TTL > 0 && (k.Containment() || k == connectors.Webhook)
}
