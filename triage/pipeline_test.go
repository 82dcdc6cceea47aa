package triage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t testing.TB, path string) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newPipeline(t testing.TB, st store.Store, cfg Config, clk clock.Clock) *Pipeline {
	t.Helper()
	p, err := NewPipeline(context.Background(), st, cfg, clk, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// feed ingests alerts one request per alert at their delivery times, retrying a
// request that fails as a client does on 503; it returns how many requests failed.
func feed(t testing.TB, p *Pipeline, clk *clock.Fake, alerts []*model.Alert, at []time.Time) int {
	t.Helper()
	failed := 0
	for i, a := range alerts {
		clk.Set(at[i])
		for try := 0; ; try++ {
			res, err := p.Ingest(context.Background(), []*model.Alert{a})
			if err == nil {
				if len(res.IDs) != 1 || res.IDs[0] != a.ID {
					t.Fatalf("alert %d: ids %v, alert id %d", i, res.IDs, a.ID)
				}
				break
			}
			if try > 3 {
				t.Fatalf("alert %d: %v", i, err)
			}
			failed++
		}
	}
	return failed
}

// stored reads each alert's incident back from the store, and which incidents are
// notifiable.
func stored(t testing.TB, st store.Store, alerts []*model.Alert) ([]int64, map[int64]bool) {
	t.Helper()
	ctx := context.Background()
	incs := make([]int64, len(alerts))
	for i, a := range alerts {
		got, err := st.Alert(ctx, a.ID)
		if err != nil {
			t.Fatalf("alert %d (id %d): %v", i, a.ID, err)
		}
		incs[i] = got.IncidentID
	}
	notifiable := map[int64]bool{}
	for cursor := ""; ; {
		page, next, err := st.Incidents(ctx, store.IncidentFilter{Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range page {
			if inc.Status.Live() {
				notifiable[inc.ID] = inc.Notifiable
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return incs, notifiable
}

// partition renumbers a grouping by first appearance, so two groupings compare equal
// when they group alike whatever the ids.
func partition(incs []int64) []int {
	seen := map[int64]int{}
	out := make([]int, len(incs))
	for i, id := range incs {
		if _, ok := seen[id]; !ok {
			seen[id] = len(seen)
		}
		out[i] = seen[id]
	}
	return out
}

func TestPipelineF1(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    func(t *testing.T) *stream
	}{
		{"scenario seed 1", func(t *testing.T) *stream { return corpus(t, 1, scenario.Options{}) }},
		{"scenario seed 2", func(t *testing.T) *stream { return corpus(t, 2, scenario.Options{}) }},
		{"dev corpus", func(t *testing.T) *stream { return devStream(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
			clk := clock.NewFake(s.at[0])
			p := newPipeline(t, st, DefaultConfig(), clk)
			feed(t, p, clk, s.alerts, s.at)
			incs, notifiable := stored(t, st, s.alerts)
			checkGrouping(s.labels, incs, notifiable).check(t, tc.name, len(s.campaigns))
			if n, err := st.VerifyAudit(context.Background()); err != nil || n == 0 {
				t.Fatalf("audit chain: %d entries, %v", n, err)
			}
		})
	}
}

func TestPipelineRestartMidStream(t *testing.T) {
	t.Parallel()
	s := corpus(t, 4, scenario.Options{})
	cut := len(s.alerts) * 2 / 5

	whole := cloneAlerts(s.alerts)
	stA := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	clkA := clock.NewFake(s.at[0])
	feed(t, newPipeline(t, stA, DefaultConfig(), clkA), clkA, whole, s.at)
	incA, _ := stored(t, stA, whole)

	path := filepath.Join(t.TempDir(), "b.db")
	split := cloneAlerts(s.alerts)
	stB := openStore(t, path)
	clkB := clock.NewFake(s.at[0])
	feed(t, newPipeline(t, stB, DefaultConfig(), clkB), clkB, split[:cut], s.at[:cut])
	if err := stB.Close(); err != nil {
		t.Fatal(err)
	}
	stB = openStore(t, path)
	pB := newPipeline(t, stB, DefaultConfig(), clkB)
	if st, err := pB.Stats(context.Background()); err != nil || st.LiveIncidents == 0 || st.IndexKeys == 0 {
		t.Fatalf("restored engine: %+v, %v", st, err)
	}
	feed(t, pB, clkB, split[cut:], s.at[cut:])
	incB, _ := stored(t, stB, split)

	for i := range incA {
		if incA[i] != incB[i] {
			t.Fatalf("alert %d (%s, %s): incident %d after a restart, %d without", i, s.labels[i], split[i].Rule, incB[i], incA[i])
		}
	}
}

// flakyStore fails chosen Submits, either inside the op (an insert fails) or after the
// op succeeded (as when another op of the batch fails and the transaction rolls back).
type flakyStore struct {
	store.Store
	n     atomic.Int64
	every int64
	after bool
}

type failingTx struct{ store.Tx }

var errInjected = errors.New("injected failure")

func (failingTx) InsertAlerts([]*model.Alert) error { return errInjected }

func (f *flakyStore) Submit(ctx context.Context, op store.Op) error {
	if f.n.Add(1)%f.every != 0 {
		return f.Store.Submit(ctx, op)
	}
	return f.Store.Submit(ctx, func(tx store.Tx) error {
		if !f.after {
			return op(failingTx{tx})
		}
		if err := op(tx); err != nil {
			return err
		}
		return errInjected
	})
}

func TestPipelineFailedOpsLeaveNoPhantomState(t *testing.T) {
	t.Parallel()
	s := corpus(t, 6, scenario.Options{})
	clean := cloneAlerts(s.alerts)
	stC := openStore(t, filepath.Join(t.TempDir(), "clean.db"))
	clkC := clock.NewFake(s.at[0])
	feed(t, newPipeline(t, stC, DefaultConfig(), clkC), clkC, clean, s.at)
	want, _ := stored(t, stC, clean)

	for _, after := range []bool{false, true} {
		name := "insert fails"
		if after {
			name = "transaction rolls back after the op"
		}
		t.Run(name, func(t *testing.T) {
			alerts := cloneAlerts(s.alerts)
			real := openStore(t, filepath.Join(t.TempDir(), "flaky.db"))
			st := &flakyStore{Store: real, every: 7, after: after}
			clk := clock.NewFake(s.at[0])
			p := newPipeline(t, st, DefaultConfig(), clk)

			// A failed op changes nothing, in memory or on disk.
			before := dump(p.eng)
			st.n.Store(st.every - 1)
			if _, err := p.Ingest(context.Background(), cloneAlerts(alerts[:50])); !errors.Is(err, errInjected) {
				t.Fatalf("Ingest = %v, want the injected failure", err)
			}
			if after := dump(p.eng); after != before {
				t.Fatalf("engine changed by a failed op:\n%s", diffLines(before, after))
			}
			if page, _, err := real.Alerts(context.Background(), store.AlertFilter{}); err != nil || len(page) != 0 {
				t.Fatalf("store holds %d alerts after a failed op (%v)", len(page), err)
			}

			st.n.Store(0)
			if failed := feed(t, p, clk, alerts, s.at); failed == 0 {
				t.Fatal("no op failed")
			}
			got, _ := stored(t, real, alerts)
			if !slices.Equal(partition(got), partition(want)) {
				t.Fatal("grouping with failed and retried ops differs from a clean run")
			}
			if n, err := real.VerifyAudit(context.Background()); err != nil {
				t.Fatalf("audit chain after %d entries: %v", n, err)
			}
		})
	}
}

func TestPipelineDuplicates(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	clk := clock.NewFake(t0)
	p := newPipeline(t, st, DefaultConfig(), clk)
	ctx := context.Background()
	a := mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.1"))
	b := mk(t0, model.SeverityMedium, model.CategoryScan, "scan", src("198.51.100.1"), dst("172.16.9.2"))
	again := *a
	res, err := p.Ingest(ctx, []*model.Alert{a, b, &again})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != 1 || res.IDs[2] != res.IDs[0] || res.IDs[1] == res.IDs[0] {
		t.Fatalf("in one request: %+v", res)
	}
	later := *a
	res2, err := p.Ingest(ctx, []*model.Alert{&later})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Duplicates != 1 || res2.IDs[0] != res.IDs[0] {
		t.Fatalf("redelivered: %+v, want id %d", res2, res.IDs[0])
	}
	page, _, err := st.Alerts(ctx, store.AlertFilter{})
	if err != nil || len(page) != 2 {
		t.Fatalf("%d alerts stored (%v), want 2", len(page), err)
	}
	inc, err := st.Incident(ctx, page[0].IncidentID)
	if err != nil || inc.AlertCount != 2 {
		t.Fatalf("incident %+v (%v): want 2 alerts", inc, err)
	}
}

func TestPipelineIncidentRecords(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	clk := clock.NewFake(t0)
	p := newPipeline(t, st, DefaultConfig(), clk)
	ctx := context.Background()
	events, cancel := p.Subscribe()
	defer cancel()

	// 60 brute-force alerts against 3 hosts: one incident, a few timeline lines.
	var batch []*model.Alert
	for i := range 60 {
		batch = append(batch, mk(t0.Add(time.Duration(i)*time.Second), model.SeverityMedium, model.CategoryBruteforce,
			"ET SCAN Potential SSH Scan", src("203.0.113.7"), dst(fmt.Sprintf("172.16.5.%d", 10+i%3))))
	}
	res, err := p.Ingest(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Alert(ctx, res.IDs[0])
	if err != nil {
		t.Fatal(err)
	}
	id := got.IncidentID
	inc, err := st.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Title != "SSH brute force from 203.0.113.7 against 3 hosts" || inc.AlertCount != 60 || !inc.Notifiable ||
		inc.Number != model.IncidentNumber(id) || inc.Status != model.StatusOpen {
		t.Fatalf("incident: %+v", inc)
	}
	if len(inc.Entities) != 4 {
		t.Fatalf("entities %v, want the attacker and 3 hosts", inc.Entities)
	}
	ev := <-events
	if ev.IncidentID != id || ev.Kind != EventOpened || !ev.Notifiable {
		t.Fatalf("event %+v", ev)
	}

	// A low-severity incident, then an alert that links it in: a merge.
	low, err := p.Ingest(ctx, []*model.Alert{mk(t0.Add(time.Minute), model.SeverityLow, model.CategoryPolicy, "curl", src("172.16.5.10"), dst("104.16.132.229"))})
	if err != nil {
		t.Fatal(err)
	}
	lowAlert, _ := st.Alert(ctx, low.IDs[0])
	if lowAlert.IncidentID != id {
		t.Fatalf("the victim's own alert went to %d, want %d", lowAlert.IncidentID, id)
	}
	other, err := p.Ingest(ctx, []*model.Alert{mk(t0.Add(2*time.Minute), model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.7.33"), dst("93.184.216.34"))})
	if err != nil {
		t.Fatal(err)
	}
	oa, _ := st.Alert(ctx, other.IDs[0])
	link, err := p.Ingest(ctx, []*model.Alert{mk(t0.Add(3*time.Minute), model.SeverityHigh, model.CategoryC2, "beacon", src("172.16.5.11"), dst("93.184.216.34"))})
	if err != nil {
		t.Fatal(err)
	}
	la, _ := st.Alert(ctx, link.IDs[0])
	merged, err := st.Incident(ctx, oa.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if la.IncidentID != id || merged.Status != model.StatusMerged || merged.MergedInto != id {
		t.Fatalf("link alert in %d; other incident %s into %d; want both in %d", la.IncidentID, merged.Status, merged.MergedInto, id)
	}
	if moved, _ := st.Alert(ctx, oa.ID); moved.IncidentID != id {
		t.Fatalf("merged incident's alert still in %d", moved.IncidentID)
	}
	inc, _ = st.Incident(ctx, id)
	if inc.Severity != model.SeverityHigh || inc.AlertCount != 63 {
		t.Fatalf("after the merge: severity %s, %d alerts", inc.Severity, inc.AlertCount)
	}

	tl, err := st.Timeline(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"opened", "notifiable", "merged", "severity"}; !slices.Equal(kinds, want) {
		t.Fatalf("timeline %v, want %v (not one line per alert)", kinds, want)
	}

	// Status: forward only, with actor and note, in timeline and audit.
	if _, err := p.SetStatus(ctx, id, model.StatusAcknowledged, "alice", "looking"); err != nil {
		t.Fatal(err)
	}
	_, err = p.SetStatus(ctx, id, model.StatusOpen, "alice", "")
	var te *TransitionError
	if !errors.As(err, &te) || !errors.Is(err, ErrTransition) || te.From != model.StatusAcknowledged {
		t.Fatalf("moving back: %v, want a *TransitionError from acknowledged", err)
	}
	if _, err := p.SetStatus(ctx, 9999, model.StatusResolved, "alice", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown incident: %v, want store.ErrNotFound", err)
	}
	if _, err := p.SetStatus(ctx, oa.IncidentID, model.StatusResolved, "alice", ""); !errors.As(err, &te) {
		t.Fatalf("resolving a merged incident: %v, want a *TransitionError", err)
	}
	res3, err := p.SetStatus(ctx, id, model.StatusResolved, "bob", "blocked at the edge")
	if err != nil {
		t.Fatal(err)
	}
	if res3.Status != model.StatusResolved || res3.ResolvedAt == nil || res3.AcknowledgedAt == nil {
		t.Fatalf("resolved incident: %+v", res3)
	}
	tl, _ = st.Timeline(ctx, id)
	last := tl[len(tl)-1]
	if last.Kind != "status" || last.Actor != "bob" || last.Text != "Status acknowledged → resolved by bob: blocked at the edge" {
		t.Fatalf("timeline line %+v", last)
	}
	audit, err := st.Audit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action+" "+a.Actor)
	}
	for _, want := range []string{"incident.open warroom", "incident.merge warroom", "incident.status alice", "incident.status bob"} {
		if !slices.Contains(actions, want) {
			t.Fatalf("audit %v lacks %q", actions, want)
		}
	}
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}

	// A resolved incident absorbs nothing, before or after a restart.
	after, err := p.Ingest(ctx, []*model.Alert{mk(t0.Add(4*time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ET SCAN Potential SSH Scan", src("203.0.113.7"), dst("172.16.5.10"))})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := st.Alert(ctx, after.IDs[0]); a.IncidentID == id {
		t.Fatal("a resolved incident absorbed an alert")
	}
	p2 := newPipeline(t, st, DefaultConfig(), clk)
	again, err := p2.Ingest(ctx, []*model.Alert{mk(t0.Add(5*time.Minute), model.SeverityMedium, model.CategoryBruteforce, "ET SCAN Potential SSH Scan", src("203.0.113.7"), dst("172.16.5.12"))})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := st.Alert(ctx, after.IDs[0])
	if a2, _ := st.Alert(ctx, again.IDs[0]); a2.IncidentID != a1.IncidentID {
		t.Fatalf("after a restart the alert went to %d, want the open incident %d", a2.IncidentID, a1.IncidentID)
	}
}

func TestSubscribeEndsCleanly(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	p := newPipeline(t, st, DefaultConfig(), clock.NewFake(t0))
	ch, cancel := p.Subscribe()
	cancel()
	cancel()
	if _, open := <-ch; open {
		t.Fatal("channel open after cancel")
	}
	if _, err := p.Ingest(context.Background(), []*model.Alert{mk(t0, model.SeverityHigh, model.CategoryC2, "c2", src("10.0.0.1"), dst("192.0.2.1"))}); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineConcurrentIngest(t *testing.T) {
	t.Parallel()
	s := corpus(t, 8, scenario.Options{})
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	clk := clock.NewFake(s.at[len(s.at)-1])
	p := newPipeline(t, st, DefaultConfig(), clk)
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w * 5; i < len(s.alerts); i += workers * 5 {
				res, err := p.Ingest(context.Background(), s.alerts[i:min(i+5, len(s.alerts))])
				if err != nil {
					errs <- err
					return
				}
				for k, id := range res.IDs {
					if id != s.alerts[i+k].ID {
						errs <- fmt.Errorf("alert %d: answered id %d, stored as %d", i+k, id, s.alerts[i+k].ID)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	incs, _ := stored(t, st, s.alerts)
	count := map[int64]int{}
	for _, id := range incs {
		if id == 0 {
			t.Fatal("an alert has no incident")
		}
		count[id]++
	}
	for id, n := range count {
		inc, err := st.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if inc.AlertCount != n || !inc.Status.Live() || inc.Title == "" {
			t.Fatalf("incident %d: %d alerts stored, count %d, status %s, title %q", id, n, inc.AlertCount, inc.Status, inc.Title)
		}
	}
	// Campaigns still group, whatever the arrival order across connections.
	for l, g := range checkGrouping(s.labels, incs, nil).perCampaign {
		if strings.Count(g, ":") != 1 {
			t.Errorf("campaign %s spread over %s", l, g)
		}
	}
}

// countingStore counts the entity rows ops hand to the store.
type countingStore struct {
	store.Store
	rows atomic.Int64
}

type countingTx struct {
	store.Tx
	rows *atomic.Int64
}

func (c countingTx) AddIncidentEntities(id int64, ents []model.Entity) error {
	c.rows.Add(int64(len(ents)))
	return c.Tx.AddIncidentEntities(id, ents)
}

func (c *countingStore) Submit(ctx context.Context, op store.Op) error {
	return c.Store.Submit(ctx, func(tx store.Tx) error { return op(countingTx{tx, &c.rows}) })
}

func TestPipelineWritesEachEntityOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	st := &countingStore{Store: openStore(t, path)}
	clk := clock.NewFake(t0)
	ctx := context.Background()
	alert := func(i int) *model.Alert {
		return mk(t0.Add(time.Duration(i)*time.Second), model.SeverityMedium, model.CategoryBruteforce, "ssh",
			src("203.0.113.7"), dst("172.16.5.10"), model.Entity{Kind: model.EntityCommunityID, Value: fmt.Sprint("1:flow", i), Role: model.RoleObserver})
	}
	p := newPipeline(t, st, DefaultConfig(), clk)
	if _, err := p.Ingest(ctx, []*model.Alert{alert(0), alert(1)}); err != nil {
		t.Fatal(err)
	}
	if n := st.rows.Load(); n != 2 {
		t.Fatalf("%d entity rows for two alerts about the same two parties, want 2", n)
	}
	if _, err := p.Ingest(ctx, []*model.Alert{alert(2)}); err != nil {
		t.Fatal(err)
	}
	p2 := newPipeline(t, st, DefaultConfig(), clk) // restarted
	if _, err := p2.Ingest(ctx, []*model.Alert{alert(3)}); err != nil {
		t.Fatal(err)
	}
	if n := st.rows.Load(); n != 2 {
		t.Fatalf("%d entity rows after more alerts and a restart, want still 2", n)
	}
}

// TestEventsTellCountOnlyUpdates: an update that only adds alerts like the incident's
// own is marked CountOnly; a new entity or a severity rise is not. Every event carries
// the incident's status and severity after it.
func TestEventsTellCountOnlyUpdates(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	p := newPipeline(t, st, DefaultConfig(), clock.NewFake(t0.Add(time.Hour)))
	events, cancel := p.Subscribe()
	defer cancel()
	n := 0
	step := func(sev model.Severity, victim string, want Event) {
		t.Helper()
		n++
		a := mk(t0.Add(time.Duration(n)*time.Second), sev, model.CategoryBruteforce, "ET SCAN Potential SSH Scan", src("203.0.113.7"), dst(victim))
		if _, err := p.Ingest(ctx, []*model.Alert{a}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			want.IncidentID = ev.IncidentID
			if ev != want {
				t.Errorf("alert %d: event %+v, want %+v", n, ev, want)
			}
		default:
			t.Fatalf("alert %d: no event", n)
		}
	}
	open, med, high := model.StatusOpen, model.SeverityMedium, model.SeverityHigh
	step(model.SeverityMedium, "172.16.5.10", Event{Kind: EventOpened, Notifiable: true, Status: open, Severity: med})
	step(model.SeverityMedium, "172.16.5.10", Event{Kind: EventUpdated, Notifiable: true, CountOnly: true, Status: open, Severity: med})
	step(model.SeverityMedium, "172.16.5.11", Event{Kind: EventUpdated, Notifiable: true, Status: open, Severity: med})
	step(model.SeverityHigh, "172.16.5.11", Event{Kind: EventUpdated, Notifiable: true, Status: open, Severity: high})
	step(model.SeverityMedium, "172.16.5.10", Event{Kind: EventUpdated, Notifiable: true, CountOnly: true, Status: open, Severity: high})

	// A status change carries the new status.
	inc, err := p.SetStatus(ctx, 1, model.StatusAcknowledged, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if want := (Event{IncidentID: inc.ID, Kind: EventStatus, Notifiable: true, Status: model.StatusAcknowledged, Severity: high}); ev != want {
			t.Errorf("status change: event %+v, want %+v", ev, want)
		}
	default:
		t.Fatal("status change: no event")
	}
}

// TestHintSubscribersDoNotCountAsDropped: a SubscribeHints subscriber that falls
// behind loses events without counting them; a Subscribe subscriber's losses count.
func TestHintSubscribersDoNotCountAsDropped(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"))
	p := newPipeline(t, st, DefaultConfig(), clock.NewFake(t0.Add(time.Hour)))
	burst := func(first int) {
		t.Helper()
		var alerts []*model.Alert
		for i := first; i < first+1100; i++ { // 1,100 new incidents: more than a subscription holds
			alerts = append(alerts, mk(t0, model.SeverityHigh, model.CategoryScan, "scan",
				src(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)), dst(fmt.Sprintf("10.9.%d.%d", i/250, i%250+1))))
		}
		if _, err := p.Ingest(ctx, alerts); err != nil {
			t.Fatal(err)
		}
	}
	_, stopHints := p.SubscribeHints()
	defer stopHints()
	burst(0)
	if n := p.Dropped(); n != 0 {
		t.Fatalf("Dropped = %d after a hints subscriber fell behind, want 0", n)
	}
	_, stop := p.Subscribe()
	defer stop()
	burst(2000)
	if n := p.Dropped(); n != 1100-1024 {
		t.Fatalf("Dropped = %d after a subscriber fell behind by 1,100 events, want %d", n, 1100-1024)
	}
}
