package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Pipeline turns accepted alerts into incidents durably: each Ingest is one store op
// that assigns alert ids, correlates, and writes the alerts, the incidents they
// changed, their entities, merges, timeline events and audit entries in the same
// transaction. It owns the Engine, which only ever runs inside store writer ops.
type Pipeline struct {
	st  store.Store
	eng *Engine
	clk clock.Clock
	log *slog.Logger

	// committed is the mark of the newest op known to be committed: frames up to it
	// are released at the start of the next op.
	committed atomic.Uint64

	mu      sync.Mutex
	subs    map[chan Event]bool // counted in Dropped
	dropped atomic.Int64
}

// IngestResult answers an Ingest: one alert id per input alert, in input order (a
// duplicate gets the id of the alert it repeats), and how many were duplicates.
type IngestResult struct {
	IDs        []int64
	Duplicates int
}

// ErrTransition is matched (errors.Is) by every *TransitionError.
var ErrTransition = errors.New("status change not allowed")

// TransitionError says why an incident may not move to a status. The API answers it
// with 409 Conflict.
type TransitionError struct {
	IncidentID int64
	From, To   model.Status
	Reason     error
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s: %v", model.IncidentNumber(e.IncidentID), e.Reason)
}

// Is makes errors.Is(err, ErrTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// Unwrap returns the reason.
func (e *TransitionError) Unwrap() error { return e.Reason }

var errMergeByHand = errors.New("incidents are merged by correlation, not by a status change")

// EventKind says what happened to an incident.
type EventKind string

// Event kinds, from most to least significant.
const (
	EventOpened     EventKind = "opened"
	EventNotifiable EventKind = "notifiable"
	EventStatus     EventKind = "status"
	EventMerged     EventKind = "merged"
	EventUpdated    EventKind = "updated"
)

// Event tells a subscriber that an incident changed, after the change is committed.
type Event struct {
	IncidentID int64
	Kind       EventKind
	Notifiable bool
	// CountOnly is set on an EventUpdated that only added alerts: no new entity and
	// no change of severity, status or notifiability. What it changes (counts, last
	// seen) can wait for a subscriber's next periodic look.
	CountOnly bool
	// Status and Severity are the incident's after the change, so that a subscriber
	// can tell whether they moved without reading the incident.
	Status   model.Status
	Severity model.Severity
}

// NewPipeline returns a pipeline over st, with the correlation state restored from it.
func NewPipeline(ctx context.Context, st store.Store, cfg Config, clk clock.Clock, log *slog.Logger) (*Pipeline, error) {
	if st == nil || clk == nil || log == nil {
		return nil, errors.New("new pipeline: store, clock and logger are required")
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		return nil, fmt.Errorf("correlation config: %w", err)
	}
	if err := eng.Restore(ctx, st, clk.Now()); err != nil {
		return nil, err
	}
	s := eng.Stats()
	log.Info("correlation state restored", "live_incidents", s.LiveIncidents, "index_keys", s.IndexKeys,
		"fingerprints", s.Fingerprints, "alerts_replayed", s.Alerts)
	return &Pipeline{st: st, eng: eng, clk: clk, log: log, subs: map[chan Event]bool{}}, nil
}

func (p *Pipeline) begin(tx store.Tx) Mark {
	p.eng.Release(Mark(p.committed.Load()))
	m := p.eng.Begin(p.clk.Now())
	eng := p.eng
	tx.OnRollback(func() { eng.Rollback(m) })
	return m
}

func (p *Pipeline) markCommitted(m Mark) {
	for {
		cur := p.committed.Load()
		if uint64(m) <= cur || p.committed.CompareAndSwap(cur, uint64(m)) {
			return
		}
	}
}

// Ingest stores and correlates alerts (decoded, not yet stored: their ID and
// IncidentID are set here). It returns after the transaction holding them commits.
// An alert without an event time takes its receive time.
func (p *Pipeline) Ingest(ctx context.Context, alerts []*model.Alert) (IngestResult, error) {
	if len(alerts) == 0 {
		return IngestResult{IDs: []int64{}}, nil
	}
	now := p.clk.Now()
	for i, a := range alerts {
		if a == nil {
			return IngestResult{}, fmt.Errorf("ingest: alert %d is nil", i)
		}
		if a.ReceivedAt.IsZero() {
			a.ReceivedAt = now
		}
		if a.EventTime.IsZero() {
			a.EventTime = a.ReceivedAt
		}
	}
	c := ingestCalls.Get().(*ingestCall)
	c.p, c.alerts = p, alerts
	c.res = IngestResult{IDs: make([]int64, len(alerts))}
	err := p.st.Submit(ctx, c.op)
	// Submit has returned: the writer is done with the op (it ran and committed or
	// failed, or it was withdrawn before running), so c can be read and reused.
	mark, res := c.mark, c.res
	if err == nil {
		p.markCommitted(mark)
		p.publish(c.events)
	}
	clear(c.events)
	c.p, c.alerts, c.res, c.events, c.mark = nil, nil, IngestResult{}, c.events[:0], 0
	ingestCalls.Put(c)
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest %d alerts: %w", len(alerts), err)
	}
	return res, nil
}

// ingestCall is one Ingest's store op with its inputs and results. It is pooled: an op
// built as a closure over the call's state cost several allocations per request.
type ingestCall struct {
	p        *Pipeline
	alerts   []*model.Alert
	res      IngestResult
	events   []Event
	mark     Mark
	op       store.Op // c.run, bound once
	rollback func()   // undoes c.mark in the engine, bound once
}

var ingestCalls = sync.Pool{New: func() any {
	c := &ingestCall{}
	c.op = c.run
	c.rollback = func() { c.p.eng.Rollback(c.mark) }
	return c
}}

// run is the op. It may run twice (its batch rolled back and it is retried alone):
// it starts from scratch each time.
func (c *ingestCall) run(tx store.Tx) error {
	p := c.p
	p.eng.Release(Mark(p.committed.Load()))
	c.mark = p.eng.Begin(p.clk.Now())
	tx.OnRollback(c.rollback)
	c.res.Duplicates, c.events = 0, c.events[:0]
	if err := p.ingestOp(tx, c.alerts, &c.res, &c.events); err != nil {
		p.eng.Rollback(c.mark)
		return err
	}
	return nil
}

func (p *Pipeline) ingestOp(tx store.Tx, alerts []*model.Alert, res *IngestResult, events *[]Event) error {
	eng := p.eng
	fresh := make([]*model.Alert, 0, len(alerts))
	for i, a := range alerts {
		if id, dup := eng.IsDuplicate(a.Fingerprint); dup {
			eng.Duplicate()
			res.IDs[i] = id
			res.Duplicates++
			continue
		}
		a.ID = tx.NextAlertID()
		eng.Add(a, tx.NextIncidentID)
		res.IDs[i] = a.ID
		fresh = append(fresh, a)
	}
	for _, a := range fresh {
		a.IncidentID = eng.Final(a.IncidentID)
	}
	changes := eng.Changes()
	for i := range changes {
		if err := tx.UpsertIncident(&changes[i].Incident); err != nil {
			return fmt.Errorf("write incident %s: %w", changes[i].Incident.Number, err)
		}
	}
	if len(fresh) > 0 {
		if err := tx.InsertAlerts(fresh); err != nil {
			return fmt.Errorf("write %d alerts: %w", len(fresh), err)
		}
	}
	for _, mv := range eng.Merges() {
		if err := tx.MoveAlerts(mv[0], eng.Final(mv[1])); err != nil {
			return fmt.Errorf("merge %s into %s: %w", model.IncidentNumber(mv[0]), model.IncidentNumber(mv[1]), err)
		}
	}
	grew, err := addEntities(tx, eng, fresh)
	if err != nil {
		return err
	}
	at := p.clk.Now().UTC()
	for i := range changes {
		c := &changes[i]
		inc := &c.Incident
		kind := EventUpdated
		var tl []model.TimelineEvent
		add := func(k, text string, data any) {
			ev := model.TimelineEvent{IncidentID: inc.ID, At: at, Actor: model.SystemActor, Kind: k, Text: text}
			if data != nil {
				ev.Data, _ = json.Marshal(data)
			}
			tl = append(tl, ev)
		}
		if c.Opened {
			kind = EventOpened
			add("opened", "Opened: "+inc.Title, map[string]any{"severity": inc.Severity, "category": inc.Category})
			if err := auditAt(tx, at, model.SystemActor, "incident.open", inc.Number, map[string]any{
				"title": inc.Title, "severity": inc.Severity, "category": inc.Category, "kind": inc.Kind}); err != nil {
				return err
			}
		}
		for _, from := range c.Absorbed {
			if kind == EventUpdated {
				kind = EventMerged
			}
			add("merged", model.IncidentNumber(from)+" merged into this incident", map[string]any{"from": model.IncidentNumber(from)})
		}
		if inc.Status == model.StatusMerged {
			into := model.IncidentNumber(inc.MergedInto)
			add("merged", "Merged into "+into, map[string]any{"into": into})
			if err := auditAt(tx, at, model.SystemActor, "incident.merge", inc.Number, map[string]any{"into": into}); err != nil {
				return err
			}
			if kind != EventOpened {
				kind = EventMerged
			}
		}
		if c.SeverityRaised() {
			add("severity", fmt.Sprintf("Severity raised from %s to %s", c.PrevSeverity, inc.Severity),
				map[string]any{"from": c.PrevSeverity, "to": inc.Severity})
		}
		if c.BecameNotifiable() {
			if kind != EventOpened {
				kind = EventNotifiable
			}
			add("notifiable", p.notifyReason(inc), nil)
		}
		for j := range tl {
			if err := tx.AppendTimeline(&tl[j]); err != nil {
				return fmt.Errorf("write timeline of %s: %w", inc.Number, err)
			}
		}
		_, gained := slices.BinarySearch(grew, inc.ID)
		countOnly := kind == EventUpdated && !gained && inc.Severity == c.PrevSeverity &&
			inc.Status == c.PrevStatus && inc.Notifiable == c.PrevNotifiable
		*events = append(*events, Event{IncidentID: inc.ID, Kind: kind, Notifiable: inc.Notifiable, CountOnly: countOnly,
			Status: inc.Status, Severity: inc.Severity})
	}
	return nil
}

func (p *Pipeline) notifyReason(inc *model.Incident) string {
	cfg := p.eng.Config()
	if inc.Severity >= cfg.NotifySeverity {
		return fmt.Sprintf("Notifiable: severity %s reached the threshold %s", inc.Severity, cfg.NotifySeverity)
	}
	if inc.AlertCount >= cfg.NotifyCount {
		return fmt.Sprintf("Notifiable: %d alerts reached the threshold of %d", inc.AlertCount, cfg.NotifyCount)
	}
	return "Notifiable: merged with a notifiable incident"
}

// addEntities records the entities of the new alerts on their incidents, one call per
// incident, leaving out those the incident already holds (the engine remembers them),
// and returns the incidents that gained one, in id order. Community IDs stay on the alerts only:
// they name flows, not parties.
func addEntities(tx store.Tx, eng *Engine, alerts []*model.Alert) ([]int64, error) {
	var (
		per   map[int64][]model.Entity // made at the first new entity: usually there is none
		order []int64
	)
	for _, a := range alerts {
		cur, ok := per[a.IncidentID]
		next := eng.Unrecorded(a.IncidentID, a.Entities, cur)
		if len(next) == len(cur) {
			continue
		}
		if !ok {
			order = append(order, a.IncidentID)
		}
		if per == nil {
			per = map[int64][]model.Entity{}
		}
		per[a.IncidentID] = next
	}
	slices.Sort(order)
	for _, id := range order {
		if err := tx.AddIncidentEntities(id, per[id]); err != nil {
			return nil, fmt.Errorf("write entities of %s: %w", model.IncidentNumber(id), err)
		}
	}
	return order, nil
}

func auditAt(tx store.Tx, at time.Time, actor, action, subject string, detail any) error {
	e := &model.AuditEntry{At: at, Actor: actor, Action: action, Subject: subject}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit %s %s: %w", action, subject, err)
		}
		e.Detail = b
	}
	if err := tx.AppendAudit(e); err != nil {
		return fmt.Errorf("audit %s %s: %w", action, subject, err)
	}
	return nil
}

// SetStatus moves an incident to status to on behalf of actor, with an optional note,
// recording it in the timeline and the audit log. A refused move returns a
// *TransitionError (errors.Is ErrTransition); an unknown incident an error wrapping
// store.ErrNotFound. Resolved and false-positive incidents stop absorbing alerts.
func (p *Pipeline) SetStatus(ctx context.Context, incidentID int64, to model.Status, actor, note string) (*model.Incident, error) {
	if _, err := model.ParseStatus(string(to)); err != nil {
		return nil, fmt.Errorf("set status of %s: %w", model.IncidentNumber(incidentID), err)
	}
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return nil, fmt.Errorf("set status of %s: the actor is required (who made the change)", model.IncidentNumber(incidentID))
	}
	var (
		mark  Mark
		found bool
		terr  error
		ev    Event
	)
	op := func(tx store.Tx) error {
		mark = p.begin(tx)
		found, terr = false, nil
		before, ok := p.eng.Incident(incidentID)
		if !ok {
			return nil
		}
		found = true
		now := p.clk.Now().UTC()
		if _, _, err := p.eng.SetStatus(incidentID, to, now); err != nil {
			terr = &TransitionError{IncidentID: incidentID, From: before.Status, To: to, Reason: err}
			return nil
		}
		changes := p.eng.Changes()
		for i := range changes {
			c := &changes[i]
			if c.Incident.ID != incidentID {
				continue
			}
			inc := &c.Incident
			if err := tx.UpsertIncident(inc); err != nil {
				p.eng.Rollback(mark)
				return fmt.Errorf("write incident %s: %w", inc.Number, err)
			}
			text := fmt.Sprintf("Status %s → %s by %s", before.Status, to, actor)
			if note != "" {
				text += ": " + note
			}
			data, _ := json.Marshal(map[string]any{"from": before.Status, "to": to, "note": note})
			if err := tx.AppendTimeline(&model.TimelineEvent{IncidentID: incidentID, At: now, Actor: actor,
				Kind: "status", Text: text, Data: data}); err != nil {
				p.eng.Rollback(mark)
				return fmt.Errorf("write timeline of %s: %w", inc.Number, err)
			}
			if err := auditAt(tx, now, actor, "incident.status", inc.Number,
				map[string]any{"from": before.Status, "to": to, "note": note}); err != nil {
				p.eng.Rollback(mark)
				return err
			}
			ev = Event{IncidentID: incidentID, Kind: EventStatus, Notifiable: inc.Notifiable, Status: inc.Status, Severity: inc.Severity}
		}
		return nil
	}
	if err := p.st.Submit(ctx, op); err != nil {
		return nil, fmt.Errorf("set status of %s: %w", model.IncidentNumber(incidentID), err)
	}
	p.markCommitted(mark)
	if terr != nil {
		return nil, terr
	}
	if !found {
		inc, err := p.st.Incident(ctx, incidentID)
		if err != nil {
			return nil, fmt.Errorf("set status of %s: %w", model.IncidentNumber(incidentID), err)
		}
		if err := inc.Status.CheckTransition(to); err != nil {
			return nil, &TransitionError{IncidentID: incidentID, From: inc.Status, To: to, Reason: err}
		}
		return nil, fmt.Errorf("set status of %s: the incident is %s in the store but not loaded; restart warroom to reload it", inc.Number, inc.Status)
	}
	p.publish([]Event{ev})
	inc, err := p.st.Incident(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("read %s back: %w", model.IncidentNumber(incidentID), err)
	}
	return inc, nil
}

// Stats returns the engine's sizes and counters, read on the writer.
func (p *Pipeline) Stats(ctx context.Context) (EngineStats, error) {
	var s EngineStats
	err := p.st.Submit(ctx, func(store.Tx) error {
		s = p.eng.Stats()
		return nil
	})
	if err != nil {
		return EngineStats{}, fmt.Errorf("read correlation stats: %w", err)
	}
	return s, nil
}

// Subscribe returns a channel of incident events and a function that ends the
// subscription. Events are sent after their change is committed, without blocking
// ingest: when the channel's buffer is full, events are dropped. They are a hint
// to look, never the record: a consumer that must not miss a change (the chat layer)
// reads incidents from the durable store and uses events only to wake up early.
func (p *Pipeline) Subscribe() (<-chan Event, func()) { return p.subscribe(true) }

// SubscribeHints is Subscribe for a consumer that polls the store anyway and takes
// events only to look sooner (a drill waiting for its incident): what it misses is
// not counted in Dropped, so that it does not make the chat layer reconcile.
func (p *Pipeline) SubscribeHints() (<-chan Event, func()) { return p.subscribe(false) }

func (p *Pipeline) subscribe(counted bool) (<-chan Event, func()) {
	ch := make(chan Event, 1024)
	p.mu.Lock()
	p.subs[ch] = counted
	p.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.subs, ch)
			close(ch)
			p.mu.Unlock()
		})
	}
}

// Dropped counts events dropped because a subscriber's buffer was full (subscribers
// of SubscribeHints left out).
func (p *Pipeline) Dropped() int64 { return p.dropped.Load() }

func (p *Pipeline) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch, counted := range p.subs {
		for _, ev := range evs {
			select {
			case ch <- ev:
			default:
				if counted {
					p.dropped.Add(1)
				}
			}
		}
	}
}
