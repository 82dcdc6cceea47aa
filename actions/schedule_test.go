package actions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/edl"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// runEngine starts Run and returns a channel fed by AfterSweep and a stop function
// that waits for Run to return.
func runEngine(t *testing.T, build func(func(*Options)) *Engine) (*Engine, <-chan int, func()) {
	t.Helper()
	swept := make(chan int, 16)
	e := build(func(o *Options) { o.AfterSweep = func(n int) { swept <- n } })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return e, swept, stop
}

func TestTTLSchedulerRollsBackAtExpiry(t *testing.T) {
	r := newRig(t)
	e, swept, _ := runEngine(t, func(f func(*Options)) *Engine { return r.engine(f) })
	if n := <-swept; n != 0 {
		t.Fatalf("first pass expired %d", n)
	}
	r.eng = e
	a := r.approvedAction("203.0.113.7")
	if _, err := e.Execute(context.Background(), a.ID, alice); err != nil {
		t.Fatal(err)
	}
	if n := <-swept; n != 0 { // woken by the success: nothing is due yet
		t.Fatalf("expired %d before the TTL", n)
	}
	r.clk.Advance(59 * time.Minute)
	e.Wake()
	if n := <-swept; n != 0 || !r.fw.has("203.0.113.7/32") {
		t.Fatalf("expired %d a minute before the TTL", n)
	}
	r.clk.Advance(time.Minute)
	e.Wake()
	if n := <-swept; n != 1 {
		t.Fatalf("expired %d at the TTL, want 1", n)
	}
	got := r.get(a.ID)
	if got.State != model.ActionExpired || got.RevertedAt == nil || !got.RevertedAt.Equal(tStart.Add(time.Hour)) || r.fw.has("203.0.113.7/32") {
		t.Fatalf("after expiry: %+v", got)
	}
	if ev, d := r.lastAudit(); ev.Action != "action.expired" || ev.Actor != "warroom" || d["target"] != "203.0.113.7/32" {
		t.Fatalf("audit %+v %v", ev, d)
	}
}

func TestFailedRollbackIsRetried(t *testing.T) {
	r := newRig(t)
	e, swept, _ := runEngine(t, func(f func(*Options)) *Engine {
		return r.engine(f, func(o *Options) { o.Retry = map[string]connectors.Policy{"fw": noWait(1)} })
	})
	<-swept
	r.eng = e
	a := r.approvedAction("203.0.113.7")
	if _, err := e.Execute(context.Background(), a.ID, alice); err != nil {
		t.Fatal(err)
	}
	<-swept
	r.fw.revErrs = []error{connectors.Permanent(io.ErrUnexpectedEOF)}
	r.clk.Advance(time.Hour)
	e.Wake()
	if n := <-swept; n != 0 {
		t.Fatalf("expired %d although the rollback failed", n)
	}
	if got := r.get(a.ID); got.State != model.ActionSucceeded || !strings.Contains(got.Error, "rollback failed") {
		t.Fatalf("after a failed rollback: %+v", got)
	}
	r.clk.Advance(30 * time.Second) // before RevertRetry (1m): held back
	e.Wake()
	if n := <-swept; n != 0 {
		t.Fatalf("retried before RevertRetry")
	}
	r.clk.Advance(30 * time.Second)
	e.Wake()
	if n := <-swept; n != 1 {
		t.Fatalf("the retry expired %d, want 1", n)
	}
	if _, _, rev := r.fw.counts(); rev != 2 {
		t.Fatalf("%d rollback calls, want 2", rev)
	}
}

// edlRig is an engine whose only connector is a real EDL persisted in the store.
type edlRig struct {
	path string
	clk  *clock.Fake
	st   *store.SQLite
	list *edl.EDL
	eng  *Engine
	stop func()
	// swept is fed by the scheduler after each pass.
	swept <-chan int
}

func startEDL(t *testing.T, path string, clk *clock.Fake) *edlRig {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path, store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	r := &edlRig{path: path, clk: clk, st: st}
	cfg, err := edl.ParseConfig([]byte("list: warroom-block\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.list, err = edl.New(cfg, connectors.Env{Name: "edl", Clock: clk}, EDLState(st))
	if err != nil {
		t.Fatal(err)
	}
	r.eng, r.swept, r.stop = runEngine(t, func(f func(*Options)) *Engine {
		o := Options{Store: st, Clock: clk, Connectors: map[string]connectors.Connector{"edl": r.list}}
		f(&o)
		e, err := New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	return r
}

func (r *edlRig) close(t *testing.T) {
	t.Helper()
	r.stop()
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
}

func (r *edlRig) served(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	edl.Mux(r.list).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/edl/warroom-block.txt", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /edl/warroom-block.txt: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestTTLRollbackAfterRestart: a block survives a restart (the EDL and the schedule are
// in the store); when warroom was down past the TTL, the block is rolled back as soon
// as it starts again.
func TestTTLRollbackAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	clk := clock.NewFake(tStart)
	r := startEDL(t, path, clk)
	<-r.swept
	inc := putIncident(t, r.st, model.StatusOpen)
	ctx := context.Background()
	a, err := r.eng.Propose(ctx, inc, ProposeRequest{Kind: "block_ip", Target: "203.0.113.45", TTL: 24 * time.Hour}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if a.Connector != "edl" || a.Diff != "add 203.0.113.45/32 to EDL warroom-block, timeout 24h" {
		t.Fatalf("proposal: %+v", a)
	}
	if a, err = r.eng.Approve(ctx, a.ID, bob); err != nil || a.State != model.ActionSucceeded || !a.Verified {
		t.Fatalf("approve: %+v %v", a, err)
	}
	<-r.swept
	if got := r.served(t); got != "203.0.113.45\n" {
		t.Fatalf("served %q", got)
	}
	r.close(t)

	// A restart an hour later: the list is still served, nothing is due.
	clk.Advance(time.Hour)
	r = startEDL(t, path, clk)
	if n := <-r.swept; n != 0 {
		t.Fatalf("expired %d after an hour", n)
	}
	if got := r.served(t); got != "203.0.113.45\n" {
		t.Fatalf("after a restart the list serves %q", got)
	}
	r.close(t)

	// Down past the TTL: the first pass after the start rolls it back.
	clk.Advance(24 * time.Hour)
	r = startEDL(t, path, clk)
	if n := <-r.swept; n != 1 {
		t.Fatalf("the start expired %d overdue actions, want 1", n)
	}
	got, err := r.st.Action(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.ActionExpired || got.RevertedAt == nil || !got.RevertedAt.Equal(tStart.Add(25*time.Hour)) {
		t.Fatalf("after the restart: %+v", got)
	}
	if body := r.served(t); body != "" {
		t.Fatalf("the EDL still lists %q", body)
	}
	stored, err := r.st.EDLEntries(ctx, "warroom-block")
	if err != nil || len(stored) != 0 {
		t.Fatalf("stored entries after the rollback: %+v %v", stored, err)
	}
	r.close(t)
}

func TestInterruptedActionIsMarkedFailedAtStart(t *testing.T) {
	r := newRig(t)
	a := r.approvedAction("203.0.113.7")
	if err := r.st.Submit(context.Background(), func(tx store.Tx) error {
		cur, err := tx.Action(a.ID)
		if err != nil {
			return err
		}
		cur.State = model.ActionRunning
		return tx.PutAction(cur)
	}); err != nil {
		t.Fatal(err)
	}
	_, swept, _ := runEngine(t, func(f func(*Options)) *Engine { return r.engine(f) })
	<-swept
	got := r.get(a.ID)
	if got.State != model.ActionFailed || !strings.Contains(got.Error, "interrupted") {
		t.Fatalf("after the start: %+v", got)
	}
	if got, err := r.eng.Execute(context.Background(), a.ID, alice); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("retry of the interrupted action: %+v %v", got, err)
	}
}

// fakeEvents stands in for the triage pipeline's subscription.
type fakeEvents struct{ ch chan triage.Event }

func (f *fakeEvents) Subscribe() (<-chan triage.Event, func()) { return f.ch, func() {} }

var _ IncidentEvents = (*fakeEvents)(nil)

// TestDryRunConnectorRecordsWithoutChanging: a connector in dry_run mode (drills) runs
// the whole life cycle while the served list stays empty.
func TestDryRunConnectorRecordsWithoutChanging(t *testing.T) {
	clk := clock.NewFake(tStart)
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"), clk)
	cfg, err := edl.ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := edl.New(cfg, connectors.Env{Name: "edl", Clock: clk, DryRun: true}, EDLState(st))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Options{Store: st, Clock: clk, Connectors: map[string]connectors.Connector{"edl": list}})
	if err != nil {
		t.Fatal(err)
	}
	inc := putIncident(t, st, model.StatusOpen)
	ctx := context.Background()
	a, err := e.Propose(ctx, inc, ProposeRequest{Kind: "block_ip", Target: "203.0.113.7"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Approve(ctx, a.ID, bob)
	if err != nil || got.State != model.ActionSucceeded || !strings.HasPrefix(got.Result, "dry run: would add 203.0.113.7/32") || !got.Verified {
		t.Fatalf("dry-run connector: %+v %v", got, err)
	}
	if _, _, d := lastDetail(t, st); d["dry_run"] != true {
		t.Errorf("the success is not marked dry run: %v", d)
	}
	if entries, _ := list.Entries(ctx); len(entries) != 0 {
		t.Fatalf("a dry-run connector listed %+v", entries)
	}
	if got, err := e.Revert(ctx, a.ID, alice); err != nil || got.State != model.ActionReverted {
		t.Fatalf("revert: %+v %v", got, err)
	}
}

func lastDetail(t *testing.T, st *store.SQLite) (string, string, map[string]any) {
	t.Helper()
	all, err := st.Audit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Action == "action.succeeded" {
			var d map[string]any
			if err := json.Unmarshal(all[i].Detail, &d); err != nil {
				t.Fatal(err)
			}
			return all[i].Action, all[i].Actor, d
		}
	}
	t.Fatal("no action.succeeded entry")
	return "", "", nil
}
