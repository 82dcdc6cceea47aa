package actions

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

var tStart = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// fakeConn is a counting connector whose calls can fail on demand. It keeps what is
// in place, so Verify reads its own state back.
type fakeConn struct {
	name  string
	kinds []connectors.ActionKind

	mu       sync.Mutex
	executes int
	verifies int
	reverts  int
	present  map[string]bool
	execErrs []error // returned by the next Execute calls, in order (nil: succeed)
	revErrs  []error
	notThere bool // Verify reports the change absent

	// block, when set, holds the first Execute until it is closed; entered is closed
	// when that first call arrives.
	block   chan struct{}
	entered chan struct{}
}

func newFake(name string) *fakeConn {
	return &fakeConn{name: name, present: map[string]bool{}, kinds: []connectors.ActionKind{connectors.BlockIP,
		connectors.UnblockIP, connectors.IsolateHost, connectors.ReleaseHost, connectors.Webhook}}
}

var _ connectors.Connector = (*fakeConn)(nil)

func (f *fakeConn) Name() string                          { return f.name }
func (f *fakeConn) Capabilities() []connectors.ActionKind { return f.kinds }

func (f *fakeConn) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	f.mu.Lock()
	f.executes++
	first := f.executes == 1
	var err error
	if len(f.execErrs) > 0 {
		err, f.execErrs = f.execErrs[0], f.execErrs[1:]
	}
	if err == nil {
		f.present[req.Target.String()] = true
	}
	block, entered := f.block, f.entered
	f.mu.Unlock()
	if first && block != nil {
		close(entered)
		<-block
	}
	if err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{Changed: true, Detail: "applied " + string(req.Kind) + " " + req.Target.String()}, nil
}

func (f *fakeConn) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verifies++
	in := f.present[req.Target.String()] && !f.notThere
	d := req.Target.String() + " is in place"
	if !in {
		d = req.Target.String() + " is absent"
	}
	return connectors.Verification{InPlace: in, Observed: true, Detail: d}, nil
}

func (f *fakeConn) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reverts++
	if len(f.revErrs) > 0 {
		err := f.revErrs[0]
		f.revErrs = f.revErrs[1:]
		if err != nil {
			return connectors.Result{}, err
		}
	}
	was := f.present[req.Target.String()]
	delete(f.present, req.Target.String())
	return connectors.Result{Changed: was, Detail: "removed " + req.Target.String()}, nil
}

func (f *fakeConn) Preview(ctx context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{"fake " + string(req.Kind) + " " + req.Target.String() + " for " + connectors.FormatDuration(req.TTL)}}, nil
}

func (f *fakeConn) Ready(context.Context) connectors.Readiness {
	return connectors.Readiness{Reachable: connectors.Passed, Authenticated: connectors.Passed, Permitted: connectors.Passed}
}

func (f *fakeConn) counts() (ex, ver, rev int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.executes, f.verifies, f.reverts
}

func (f *fakeConn) has(target string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.present[target]
}

// rig is an engine on a real SQLite file with one incident and a fake connector
// named "fw".
type rig struct {
	t    *testing.T
	path string
	st   *store.SQLite
	clk  *clock.Fake
	fw   *fakeConn
	eng  *Engine
	inc  int64
}

type rigOpt func(*Options)

func withGuard(t *testing.T, cfg connectors.GuardConfig) rigOpt {
	return func(o *Options) {
		g, err := connectors.NewGuard(cfg, o.Clock)
		if err != nil {
			t.Fatal(err)
		}
		o.Guard = g
	}
}

// noWait retries at once: tests never sleep.
func noWait(attempts int) connectors.Policy {
	return connectors.Policy{Attempts: attempts, Wait: func(context.Context, time.Duration) error { return nil }}
}

func openStore(t *testing.T, path string, clk clock.Clock) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path, store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newRig(t *testing.T, opts ...rigOpt) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "warroom.db"), clk: clock.NewFake(tStart), fw: newFake("fw")}
	r.st = openStore(t, r.path, r.clk)
	r.inc = putIncident(t, r.st, model.StatusOpen)
	r.eng = r.engine(opts...)
	return r
}

func (r *rig) engine(opts ...rigOpt) *Engine {
	r.t.Helper()
	o := Options{Store: r.st, Connectors: map[string]connectors.Connector{"fw": r.fw}, Clock: r.clk,
		Retry: map[string]connectors.Policy{"fw": noWait(3)}}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(context.Background(), o)
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

func putIncident(t *testing.T, st *store.SQLite, status model.Status) int64 {
	t.Helper()
	var id int64
	err := st.Submit(context.Background(), func(tx store.Tx) error {
		id = tx.NextIncidentID()
		return tx.UpsertIncident(&model.Incident{ID: id, Number: model.IncidentNumber(id), Title: "test", Kind: model.KindNormal,
			Status: status, Severity: model.SeverityHigh, Category: model.CategoryBruteforce, Notifiable: true,
			OpenedAt: tStart, UpdatedAt: tStart, FirstSeen: tStart, LastSeen: tStart})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	alice = Actor{Name: "alice", Role: RoleResponder}
	bob   = Actor{Name: "bob", Role: RoleApprover}
	carol = Actor{Name: "carol", Role: RoleApprover}
	dave  = Actor{Name: "dave", Role: RoleAdmin}
	vic   = Actor{Name: "vic", Role: RoleViewer}
)

func (r *rig) propose(req ProposeRequest, by Actor) *model.Action {
	r.t.Helper()
	if req.Connector == "" {
		req.Connector = "fw"
	}
	a, err := r.eng.Propose(context.Background(), r.inc, req, by)
	if err != nil {
		r.t.Fatalf("propose %+v: %v", req, err)
	}
	return a
}

func block(target string) ProposeRequest {
	return ProposeRequest{Kind: "block_ip", Target: target, TTL: time.Hour}
}

func (r *rig) get(id int64) *model.Action {
	r.t.Helper()
	a, err := r.st.Action(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// audit returns the audit entries whose action starts with "action.", in order.
func (r *rig) audit() []model.AuditEntry {
	r.t.Helper()
	all, err := r.st.Audit(context.Background(), 0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []model.AuditEntry
	for _, e := range all {
		if len(e.Action) > 7 && e.Action[:7] == "action." {
			out = append(out, e)
		}
	}
	return out
}

func (r *rig) lastAudit() (model.AuditEntry, map[string]any) {
	r.t.Helper()
	a := r.audit()
	if len(a) == 0 {
		r.t.Fatal("no action audit entries")
	}
	e := a[len(a)-1]
	var d map[string]any
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		r.t.Fatal(err)
	}
	return e, d
}

func wantRefusal(t *testing.T, err error, rule string, guardrail bool) *Refusal {
	t.Helper()
	var ref *Refusal
	if !errors.As(err, &ref) {
		t.Fatalf("error %v; want a refusal by %s", err, rule)
	}
	if ref.Rule != rule || ref.Guardrail() != guardrail || !errors.Is(err, ErrRefused) {
		t.Fatalf("refusal %q (guardrail %v); want rule %s (guardrail %v)", ref.Error(), ref.Guardrail(), rule, guardrail)
	}
	return ref
}
