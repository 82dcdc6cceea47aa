package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/store/storetest"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// planRig has the built-in playbooks and fake connectors named edl and edr.
type planRig struct {
	*rig
	edl, edr *fakeConn
}

func newPlanRig(t *testing.T, extra ...rigOpt) *planRig {
	t.Helper()
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	p := &planRig{edl: newFake("edl"), edr: newFake("edr")}
	opts := append([]rigOpt{func(o *Options) {
		o.Playbooks = set
		o.Connectors = map[string]connectors.Connector{"edl": p.edl, "edr": p.edr}
		o.Retry = nil
	}}, extra...)
	p.rig = newRig(t, opts...)
	return p
}

// addAlerts writes alerts into the rig's incident and sets its category and entities.
func (p *planRig) addAlerts(cat model.Category, sev model.Severity, alerts ...*model.Alert) {
	p.t.Helper()
	err := p.st.Submit(context.Background(), func(tx store.Tx) error {
		var ents []model.Entity
		for _, a := range alerts {
			a.ID = tx.NextAlertID()
			a.IncidentID = p.inc
			a.Category, a.Severity = cat, sev
			a.Source, a.Format = "suricata", "suricata"
			a.ReceivedAt = a.EventTime
			a.Fingerprint = fmt.Sprint("fp-", a.ID)
			ents = append(ents, a.Entities...)
		}
		if err := tx.InsertAlerts(alerts); err != nil {
			return err
		}
		inc := &model.Incident{ID: p.inc, Number: model.IncidentNumber(p.inc), Title: "test", Kind: model.KindNormal,
			Status: model.StatusOpen, Severity: sev, Category: cat, Notifiable: true, AlertCount: len(alerts),
			OpenedAt: tStart, UpdatedAt: tStart, FirstSeen: tStart, LastSeen: tStart}
		if err := tx.UpsertIncident(inc); err != nil {
			return err
		}
		return tx.AddIncidentEntities(p.inc, ents)
	})
	if err != nil {
		p.t.Fatal(err)
	}
}

func sshAlert(i int, src, dst string) *model.Alert {
	return &model.Alert{Rule: "ET SCAN Potential SSH Scan", Title: "ET SCAN Potential SSH Scan",
		EventTime: tStart.Add(time.Duration(i) * 4 * time.Second),
		Entities: []model.Entity{{Kind: model.EntityIP, Value: src, Role: model.RoleSrc},
			{Kind: model.EntityIP, Value: dst, Role: model.RoleDst}}}
}

func TestPlanProposesThePlaybookActionsOnce(t *testing.T) {
	p := newPlanRig(t)
	ctx := context.Background()
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium,
		sshAlert(0, "203.0.113.45", "172.16.5.10"), sshAlert(1, "203.0.113.45", "172.16.5.11"))
	evs, stop := p.eng.Subscribe()
	defer stop()
	got, err := p.eng.Plan(ctx, p.inc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Playbook != "ssh-rdp-bruteforce" || len(got.Actions) != 1 || len(got.Refused) != 0 {
		t.Fatalf("plan: %+v", got)
	}
	a := got.Actions[0]
	if a.Kind != "block_ip" || a.Target != "203.0.113.45/32" || a.Connector != "edl" || a.TTL != 24*time.Hour ||
		a.State != model.ActionProposed || a.RequestedBy != "warroom" || a.Playbook != "ssh-rdp-bruteforce" ||
		a.PlaybookAction != "block-attacker" || !a.Policy.TwoPerson || a.Policy.Approvers != 1 || a.Policy.Expires != time.Hour {
		t.Fatalf("proposed %+v", a)
	}
	if ev := <-evs; ev.Kind != "planned" || ev.Playbook != "ssh-rdp-bruteforce" || ev.IncidentID != p.inc {
		t.Fatalf("first event %+v", ev)
	}
	inc, err := p.st.Incident(ctx, p.inc)
	if err != nil || inc.Playbook != "ssh-rdp-bruteforce" {
		t.Fatalf("incident playbook: %+v %v", inc, err)
	}
	tl, _ := p.st.Timeline(ctx, p.inc)
	if len(tl) == 0 || tl[0].Kind != "playbook" || !strings.HasPrefix(tl[0].Text, "Playbook ssh-rdp-bruteforce matched: SSH / RDP brute force from outside") {
		t.Fatalf("timeline %+v", tl)
	}
	// Planning again proposes nothing new and does not repeat the playbook line.
	again, err := p.eng.Plan(ctx, p.inc)
	if err != nil || len(again.Actions) != 0 {
		t.Fatalf("second plan: %+v %v", again, err)
	}
	tl2, _ := p.st.Timeline(ctx, p.inc)
	if len(tl2) != len(tl) {
		t.Fatalf("a second plan added %d timeline events", len(tl2)-len(tl))
	}
	// A new attacker joins: only it is proposed.
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(2, "198.51.100.7", "172.16.5.10"))
	third, err := p.eng.Plan(ctx, p.inc)
	if err != nil || len(third.Actions) != 1 || third.Actions[0].Target != "198.51.100.7/32" {
		t.Fatalf("plan after a new source: %+v %v", third, err)
	}
	// Its two-person rule holds against the requester warroom like anyone: alice may
	// not approve (role), bob may.
	if _, err := p.eng.Approve(ctx, a.ID, alice); !IsPeopleRefusal(err) {
		t.Fatalf("alice approving: %v", err)
	}
	if got, err := p.eng.Approve(ctx, a.ID, bob); err != nil || got.State != model.ActionSucceeded || !p.edl.has("203.0.113.45/32") {
		t.Fatalf("bob approving: %+v %v", got, err)
	}
}

func c2Alert(i int, every time.Duration) *model.Alert {
	return &model.Alert{Rule: "ET MALWARE Cobalt Strike Beacon", Title: "Cobalt Strike beacon",
		EventTime: tStart.Add(time.Duration(i) * every),
		Entities: []model.Entity{{Kind: model.EntityIP, Value: "10.1.2.3", Role: model.RoleSrc},
			{Kind: model.EntityHost, Value: "ws-042", Role: model.RoleSrc},
			{Kind: model.EntityIP, Value: "198.51.100.99", Role: model.RoleDst}}}
}

func TestAutoActionRunsPendingReviewThenKeepOrRelease(t *testing.T) {
	p := newPlanRig(t)
	ctx := context.Background()
	var alerts []*model.Alert
	for i := range 5 {
		alerts = append(alerts, c2Alert(i, time.Minute))
	}
	p.addAlerts(model.CategoryC2, model.SeverityHigh, alerts...)
	got, err := p.eng.Plan(ctx, p.inc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Playbook != "c2-beaconing" || len(got.Actions) != 2 {
		t.Fatalf("plan: %+v", got)
	}
	iso, blk := got.Actions[0], got.Actions[1]
	if iso.Kind != "isolate_host" || iso.Target != "ws-042" || !iso.Auto || !iso.PendingReview ||
		iso.State != model.ActionSucceeded || iso.RequestedBy != "warroom" || !p.edr.has("ws-042") {
		t.Fatalf("automatic isolation: %+v", iso)
	}
	if blk.Kind != "block_ip" || blk.Target != "198.51.100.99/32" || blk.State != model.ActionProposed || blk.Auto {
		t.Fatalf("C2 block: %+v", blk)
	}
	// Keep: an approval under the action's policy clears the review.
	if _, err := p.eng.Approve(ctx, iso.ID, alice); !IsPeopleRefusal(err) {
		t.Fatalf("a responder keeping: %v", err)
	}
	kept, err := p.eng.Approve(ctx, iso.ID, bob)
	if err != nil || kept.PendingReview || kept.State != model.ActionSucceeded {
		t.Fatalf("keep: %+v %v", kept, err)
	}
	if ev, d := p.lastAudit(); ev.Action != "action.approved" || d["review"] != "keep" {
		t.Fatalf("keep audit %+v %v", ev, d)
	}
	if ex, _, _ := p.edr.counts(); ex != 1 {
		t.Fatalf("keep ran the connector again: %d calls", ex)
	}
	// Release is a revert.
	rel, err := p.eng.Revert(ctx, iso.ID, alice)
	if err != nil || rel.State != model.ActionReverted || p.edr.has("ws-042") {
		t.Fatalf("release: %+v %v", rel, err)
	}
}

func TestIrregularBeaconWaitsForApproval(t *testing.T) {
	p := newPlanRig(t)
	var alerts []*model.Alert
	for i, d := range []time.Duration{0, time.Minute, 10 * time.Minute, 11 * time.Minute, 40 * time.Minute} {
		a := c2Alert(i, 0)
		a.EventTime = tStart.Add(d)
		alerts = append(alerts, a)
	}
	p.addAlerts(model.CategoryC2, model.SeverityHigh, alerts...)
	got, err := p.eng.Plan(context.Background(), p.inc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Actions[0].Auto || got.Actions[0].State != model.ActionProposed {
		t.Fatalf("irregular beacon: %+v", got.Actions[0])
	}
	if ex, _, _ := p.edr.counts(); ex != 0 {
		t.Fatal("an irregular beacon was isolated automatically")
	}
}

func TestPlanRecordsRefusedProposals(t *testing.T) {
	// Without an edl connector the block cannot be proposed: the refusal is recorded.
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(o *Options) { o.Playbooks = set })
	p := &planRig{rig: r}
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(0, "203.0.113.45", "172.16.5.10"))
	got, err := r.eng.Plan(context.Background(), r.inc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Refused) != 1 || !strings.Contains(got.Refused[0].Error(), `refused by connector: connector "edl" is not configured`) {
		t.Fatalf("plan: %+v", got)
	}
	if ev, d := r.lastAudit(); ev.Action != "action.refused" || d["rule"] != "connector" || d["target"] != "203.0.113.45/32" {
		t.Fatalf("audit %+v %v", ev, d)
	}
	// Planned again (new alerts): the refusal is listed, not recorded a second time.
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(1, "203.0.113.45", "172.16.5.10"))
	again, err := r.eng.Plan(context.Background(), r.inc)
	if err != nil {
		t.Fatal(err)
	}
	var ref *Refusal
	if len(again.Refused) != 1 || !errors.As(again.Refused[0], &ref) || ref.Rule != RuleConnector || !errors.Is(again.Refused[0], ErrRefused) {
		t.Fatalf("second plan: %+v", again)
	}
	refusals := 0
	for _, e := range r.audit() {
		if e.Action == "action.refused" {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("%d refusals in the audit log after two plans, want 1", refusals)
	}
	tl, err := r.st.Timeline(context.Background(), r.inc)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(fmt.Sprint(tl), "refused by connector"); n != 1 {
		t.Errorf("%d refusals in the timeline after two plans, want 1", n)
	}
}

// A rate-limit refusal stands until its RetryAfter; the others while the incident is
// live; a plan of an incident that is over forgets them.
func TestPlanRemembersRefusalsOnlyWhileTheyStand(t *testing.T) {
	r := newPlanRig(t).rig
	stable, limited := uint64(1), uint64(2)
	r.eng.planMu.Lock()
	r.eng.rememberRefusal(r.inc, stable, &Refusal{Rule: "never_block"})
	r.eng.rememberRefusal(r.inc, limited, &Refusal{Rule: RuleRateLimit, RetryAfter: time.Minute})
	r.eng.planMu.Unlock()
	check := func(key uint64, want bool) {
		t.Helper()
		r.eng.planMu.Lock()
		defer r.eng.planMu.Unlock()
		if _, got := r.eng.refusedBefore(r.inc, key); got != want {
			t.Errorf("refusal %d stands: %v, want %v", key, got, want)
		}
	}
	check(stable, true)
	check(limited, true)
	r.clk.Advance(time.Minute)
	check(stable, true)
	check(limited, false)
	inc, err := r.st.Incident(context.Background(), r.inc)
	if err != nil {
		t.Fatal(err)
	}
	inc.Status = model.StatusResolved
	if err := r.st.Submit(context.Background(), func(tx store.Tx) error { return tx.UpsertIncident(inc) }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.eng.Plan(context.Background(), r.inc); err != nil {
		t.Fatal(err)
	}
	check(stable, false)
}

func TestRunPlansNotifiableIncidents(t *testing.T) {
	events := &fakeEvents{ch: make(chan triage.Event, 8)}
	p := newPlanRig(t)
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(0, "203.0.113.45", "172.16.5.10"))
	quiet := putIncident(t, p.st, model.StatusOpen)
	var (
		evs  <-chan Event
		stop func()
	)
	e, _, _ := runEngine(t, func(f func(*Options)) *Engine {
		e := p.engine(func(o *Options) {
			set, _ := playbooks.LoadBuiltin()
			o.Playbooks, o.Events = set, events
			o.Connectors = map[string]connectors.Connector{"edl": p.edl, "edr": p.edr}
		}, f)
		evs, stop = e.Subscribe() // before Run: the start's own plan is seen too
		return e
	})
	defer stop()
	// The start plans the live notifiable incident; events then bring new ones.
	events.ch <- triage.Event{IncidentID: quiet, Kind: triage.EventUpdated, Notifiable: false}
	second := putIncident(t, p.st, model.StatusOpen)
	p.inc = second
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(0, "198.51.100.7", "172.16.5.10"))
	events.ch <- triage.Event{IncidentID: second, Kind: triage.EventNotifiable, Notifiable: true}
	planned := map[int64]bool{}
	for len(planned) < 2 {
		ev := <-evs
		if ev.Kind == "proposed" {
			planned[ev.IncidentID] = true
		}
	}
	if planned[quiet] {
		t.Fatal("a quiet incident was planned")
	}
	list, err := e.List(context.Background(), second)
	if err != nil || len(list) != 1 || list[0].Target != "198.51.100.7/32" {
		t.Fatalf("actions of the second incident: %+v %v", list, err)
	}
}

func TestRunPlansAnIncidentAgainAfterTheInterval(t *testing.T) {
	events := &fakeEvents{ch: make(chan triage.Event, 8)}
	p := newPlanRig(t)
	e, _, _ := runEngine(t, func(f func(*Options)) *Engine {
		return p.engine(func(o *Options) {
			set, _ := playbooks.LoadBuiltin()
			o.Playbooks, o.Events, o.PlanInterval = set, events, 10*time.Millisecond
			o.Connectors = map[string]connectors.Connector{"edl": p.edl, "edr": p.edr}
		}, f)
	})
	evs, stop := e.Subscribe()
	defer stop()
	awaitProposal := func(target string) {
		t.Helper()
		for ev := range evs {
			if ev.Kind == "proposed" && ev.Action.Target == target {
				return
			}
		}
	}
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(0, "203.0.113.45", "172.16.5.10"))
	events.ch <- triage.Event{IncidentID: p.inc, Kind: triage.EventNotifiable, Notifiable: true}
	awaitProposal("203.0.113.45/32")
	// A second change right after the first plan waits for the interval to pass on
	// the engine's clock.
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(1, "203.0.113.45", "172.16.5.10"),
		sshAlert(2, "198.51.100.7", "172.16.5.10"))
	events.ch <- triage.Event{IncidentID: p.inc, Kind: triage.EventUpdated, Notifiable: true}
	p.clk.Advance(10 * time.Millisecond)
	awaitProposal("198.51.100.7/32")
}

// TestRunPlansEveryIncidentOfABurst: more new incidents than the event subscription
// holds arrive while a plan is stuck; none of their events is dropped and each
// incident gets its proposal.
func TestRunPlansEveryIncidentOfABurst(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(tStart)
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"), clk)
	pipe, err := triage.NewPipeline(ctx, st, triage.DefaultConfig(), clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	gate := storetest.NewGated(st)
	const batches, per = 15, 100 // 1,500 incidents: more than the subscription's 1,024
	e, _, _ := runEngine(t, func(f func(*Options)) *Engine {
		o := Options{Store: gate, Clock: clk, Playbooks: set, Events: pipe,
			Connectors: map[string]connectors.Connector{"edl": newFake("edl")}}
		f(&o)
		e, err := New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	evs, stop := e.Subscribe()
	defer stop()
	proposed := make(chan int64, batches*per)
	go func() {
		for ev := range evs {
			if ev.Kind == "proposed" {
				proposed <- ev.IncidentID
			}
		}
	}()
	burst := func(first int) {
		t.Helper()
		var alerts []*model.Alert
		for i := first; i < first+per; i++ {
			a := sshAlert(i, fmt.Sprintf("198.18.%d.%d", i/200, i%200+1), fmt.Sprintf("10.9.%d.%d", i/200, i%200+1))
			a.Source, a.Format, a.Severity, a.Category = "s", "generic", model.SeverityHigh, model.CategoryBruteforce
			a.EventTime, a.Fingerprint = tStart, fmt.Sprint("burst", i)
			alerts = append(alerts, a)
		}
		if _, err := pipe.Ingest(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	burst(0)
	select {
	case <-gate.Entered():
	case <-time.After(30 * time.Second):
		t.Fatal("the first incident was not planned")
	}
	for i := 1; i < batches; i++ {
		burst(i * per)
	}
	gate.Open()
	seen := map[int64]bool{}
	deadline := time.After(60 * time.Second)
	for len(seen) < batches*per {
		select {
		case id := <-proposed:
			seen[id] = true
		case <-deadline:
			t.Fatalf("%d of %d incidents planned", len(seen), batches*per)
		}
	}
	if n := pipe.Dropped(); n != 0 {
		t.Errorf("%d events dropped", n)
	}
}

// countingStore counts the reads of alerts, one per plan of a live incident.
type countingStore struct {
	*store.SQLite
	reads atomic.Int64
}

func (c *countingStore) Alerts(ctx context.Context, f store.AlertFilter) ([]*model.Alert, string, error) {
	c.reads.Add(1)
	return c.SQLite.Alerts(ctx, f)
}

// TestPlannerWaitsLongerForRepeats: after a plan, an incident is planned again once
// PlanInterval has passed when something changed, and only after RepeatInterval when
// its events only added alerts like its own.
func TestPlannerWaitsLongerForRepeats(t *testing.T) {
	p := newPlanRig(t)
	p.addAlerts(model.CategoryBruteforce, model.SeverityMedium, sshAlert(0, "203.0.113.45", "172.16.5.10"))
	cs := &countingStore{SQLite: p.st}
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	e := p.engine(func(o *Options) {
		o.Store, o.Playbooks, o.PlanInterval, o.RepeatInterval = cs, set, 5*time.Second, 30*time.Second
	})
	pl := &planner{e: e, last: map[int64]time.Time{}, deferred: map[int64]bool{}}
	ctx := context.Background()
	plans := func(want int64, when string) {
		t.Helper()
		if n := cs.reads.Swap(0); n != want {
			t.Fatalf("%s: %d plans, want %d", when, n, want)
		}
	}
	pl.plan(ctx, map[int64]bool{p.inc: false})
	plans(1, "a new incident")
	p.clk.Advance(6 * time.Second)
	pl.plan(ctx, map[int64]bool{p.inc: true})
	pl.flush(ctx)
	plans(0, "repeats 6s after the plan")
	p.clk.Advance(24 * time.Second)
	pl.flush(ctx)
	plans(1, "30s after the plan")

	p.clk.Advance(time.Second)
	pl.plan(ctx, map[int64]bool{p.inc: true})
	pl.plan(ctx, map[int64]bool{p.inc: false}) // then a change
	pl.flush(ctx)
	plans(0, "a change 1s after the plan")
	p.clk.Advance(4 * time.Second)
	pl.flush(ctx)
	plans(1, "the change, 5s after the plan")
}
