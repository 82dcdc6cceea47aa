package actions

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// approvedAction proposes a block and writes it as approved by bob, without running
// it, so a test can drive Execute itself.
func (r *rig) approvedAction(target string) *model.Action {
	r.t.Helper()
	a := r.propose(block(target), alice)
	err := r.st.Submit(context.Background(), func(tx store.Tx) error {
		cur, err := tx.Action(a.ID)
		if err != nil {
			return err
		}
		cur.State = model.ActionApproved
		cur.Approvals = append(cur.Approvals, model.Approval{By: "bob", Role: RoleApprover, At: r.clk.Now()})
		return tx.PutAction(cur)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return r.get(a.ID)
}

func TestFiftyConcurrentExecutesMakeOneConnectorCall(t *testing.T) {
	r := newRig(t)
	a := r.approvedAction("203.0.113.7")
	r.fw.block, r.fw.entered = make(chan struct{}), make(chan struct{})
	start := make(chan struct{})
	done := make(chan error, 50)
	results := make(chan *model.Action, 50)
	for range 50 {
		go func() {
			<-start
			got, err := r.eng.Execute(context.Background(), a.ID, alice)
			results <- got
			done <- err
		}()
	}
	close(start)
	<-r.fw.entered // the one winner is inside the connector
	for range 49 {
		if err := <-done; err != nil {
			t.Errorf("a repeated execute failed: %v", err)
		}
		if got := <-results; got == nil || got.State != model.ActionRunning {
			t.Errorf("a repeated execute while the call is in flight returned %+v, want the running action", got)
		}
	}
	close(r.fw.block)
	if err := <-done; err != nil {
		t.Fatalf("the executing call: %v", err)
	}
	if got := <-results; got.State != model.ActionSucceeded || got.Attempts != 1 {
		t.Fatalf("the executing call returned %+v", got)
	}
	if ex, _, _ := r.fw.counts(); ex != 1 {
		t.Fatalf("%d connector calls for 50 concurrent executes, want exactly 1", ex)
	}
	// And once done, more executes are still no-ops.
	if got, err := r.eng.Execute(context.Background(), a.ID, alice); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("execute after success: %+v %v", got, err)
	}
	if ex, _, _ := r.fw.counts(); ex != 1 {
		t.Fatalf("%d connector calls, want 1", ex)
	}
	running := 0
	for _, e := range r.audit() {
		if e.Action == "action.running" {
			running++
		}
	}
	if running != 1 {
		t.Fatalf("%d action.running audit entries, want 1", running)
	}
}

func TestRetryClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errs      []error
		calls     int
		state     model.ActionState
		retryable bool
	}{
		{"retryable errors are retried", []error{connectors.Temporary(errors.New("503 from the firewall")), connectors.Temporary(errors.New("timeout"))}, 3, model.ActionSucceeded, false},
		{"permanent errors are not", []error{connectors.Permanent(errors.New("403: the API key may not change address objects"))}, 1, model.ActionFailed, false},
		{"unclassified errors are not", []error{errors.New("something odd")}, 1, model.ActionFailed, false},
		{"retries stop after the attempts", []error{connectors.Temporary(errors.New("e1")), connectors.Temporary(errors.New("e2")), connectors.Temporary(errors.New("e3"))}, 3, model.ActionFailed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.fw.execErrs = tc.errs
			a := r.approvedAction("203.0.113.7")
			got, err := r.eng.Execute(context.Background(), a.ID, alice)
			if ex, _, _ := r.fw.counts(); ex != tc.calls {
				t.Fatalf("%d connector calls, want %d", ex, tc.calls)
			}
			if got == nil || got.State != tc.state {
				t.Fatalf("state %+v (err %v), want %s", got, err, tc.state)
			}
			if tc.state == model.ActionFailed {
				var f *Failed
				if !errors.As(err, &f) || got.Error == "" || !strings.Contains(err.Error(), got.Error) {
					t.Fatalf("failure: %v; action error %q", err, got.Error)
				}
				e, d := r.lastAudit()
				if e.Action != "action.failed" || d["error"] != got.Error || d["retryable"] != tc.retryable {
					t.Errorf("audit %+v %v", e, d)
				}
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFailedActionCanBeRetried(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.fw.execErrs = []error{connectors.Permanent(errors.New("firewall said 409: commit in progress"))}
	a := r.approvedAction("203.0.113.7")
	got, _ := r.eng.Execute(ctx, a.ID, alice)
	if got.State != model.ActionFailed || !strings.Contains(got.Error, "commit in progress") || got.Attempts != 1 {
		t.Fatalf("first attempt: %+v", got)
	}
	if shown := r.get(a.ID); shown.Error != got.Error {
		t.Fatalf("the stored action does not show the error: %+v", shown)
	}
	got, err := r.eng.Execute(ctx, a.ID, alice)
	if err != nil || got.State != model.ActionSucceeded || got.Attempts != 2 || got.Error != "" {
		t.Fatalf("retry: %+v %v", got, err)
	}
	tl, _ := r.st.Timeline(ctx, r.inc)
	found := false
	for _, ev := range tl {
		if strings.Contains(ev.Text, "retried by alice (attempt 2)") {
			found = true
		}
	}
	if !found {
		t.Errorf("no retry in the timeline: %+v", tl)
	}
}

func TestCircuitBreakerOpens(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.eng = r.engine(func(o *Options) {
		o.Retry = map[string]connectors.Policy{"fw": noWait(1)}
		o.Breakers = map[string]connectors.BreakerConfig{"fw": {Failures: 2, Cooldown: time.Minute}}
	})
	down := connectors.Temporary(errors.New("connection refused"))
	r.fw.execErrs = []error{down, down, down, down}
	a := r.approvedAction("203.0.113.7")
	for i := 1; i <= 2; i++ {
		if got, _ := r.eng.Execute(ctx, a.ID, alice); got.State != model.ActionFailed {
			t.Fatalf("attempt %d: %+v", i, got)
		}
	}
	b, _ := r.eng.Breaker("fw")
	if b.State() != connectors.Open {
		t.Fatalf("breaker %s after 2 failures, want open", b.State())
	}
	got, err := r.eng.Execute(ctx, a.ID, alice)
	if !errors.Is(err, connectors.ErrOpen) || !strings.Contains(got.Error, "circuit breaker is open") {
		t.Fatalf("while open: %+v %v", got, err)
	}
	if ex, _, _ := r.fw.counts(); ex != 2 {
		t.Fatalf("%d connector calls, want 2: an open breaker fails fast", ex)
	}
	if rd := r.eng.Ready(ctx)["fw"]; !strings.Contains(rd.Message, "circuit breaker open") {
		t.Errorf("readiness does not show the breaker: %+v", rd)
	}
	// After the cooldown one probe goes through; the connector answers again.
	r.clk.Advance(time.Minute)
	r.fw.execErrs = nil
	if got, err := r.eng.Execute(ctx, a.ID, alice); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("probe after the cooldown: %+v %v", got, err)
	}
	if b.State() != connectors.Closed {
		t.Fatalf("breaker %s after a good probe, want closed", b.State())
	}
}

func TestVerificationIsRecorded(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.approvedAction("203.0.113.7")
	got, err := r.eng.Execute(ctx, a.ID, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verified || got.Verification != "203.0.113.7/32 is in place" || got.Result != "applied block_ip 203.0.113.7/32" {
		t.Fatalf("verification: %+v", got)
	}
	if got.ExecutedAt == nil || !got.ExecutedAt.Equal(tStart) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(tStart.Add(time.Hour)) {
		t.Fatalf("times: executed %v expires %v", got.ExecutedAt, got.ExpiresAt)
	}
	e, d := r.lastAudit()
	if e.Action != "action.succeeded" || d["verified"] != true || d["verification"] != "203.0.113.7/32 is in place" ||
		d["action_id"] != float64(a.ID) || d["kind"] != "block_ip" || d["target"] != "203.0.113.7/32" ||
		d["connector"] != "fw" || d["actor"] != "alice" || e.Subject != model.IncidentNumber(r.inc) {
		t.Fatalf("audit %+v %v", e, d)
	}

	// A change the connector reports absent after executing is a failure.
	r.fw.notThere = true
	b := r.approvedAction("203.0.113.8")
	got, err = r.eng.Execute(ctx, b.ID, alice)
	var f *Failed
	if !errors.As(err, &f) || got.State != model.ActionFailed || got.Verified ||
		got.Error != "verification failed: the change is not in place: 203.0.113.8/32 is absent" {
		t.Fatalf("absent after execute: %+v %v", got, err)
	}
	if n, err := r.st.VerifyAudit(ctx); err != nil || n == 0 {
		t.Fatalf("audit chain: %d %v", n, err)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	p := model.ApprovalPolicy{Approvers: 0}
	a, err := r.eng.Propose(ctx, r.inc, ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", Connector: "fw",
		TTL: time.Hour, Policy: &p, DryRun: true}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != model.ActionSucceeded || !a.DryRun || a.Diff != "fake block_ip 203.0.113.7/32 for 1h" ||
		a.Result != "dry run: would fake block_ip 203.0.113.7/32 for 1h" || !a.Verified {
		t.Fatalf("dry run: %+v", a)
	}
	if ex, _, _ := r.fw.counts(); ex != 0 || r.fw.has("203.0.113.7/32") {
		t.Fatalf("a dry-run action reached the connector")
	}
	got, err := r.eng.Revert(ctx, a.ID, alice)
	if err != nil || got.State != model.ActionReverted {
		t.Fatalf("revert of a dry run: %+v %v", got, err)
	}
	if _, _, rev := r.fw.counts(); rev != 0 {
		t.Fatal("the revert of a dry-run action reached the connector")
	}
}

func TestConcurrentRevertsMakeOneCall(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.approvedAction("203.0.113.7")
	if _, err := r.eng.Execute(ctx, a.ID, alice); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := r.eng.Revert(ctx, a.ID, alice); err != nil || got.State != model.ActionReverted {
				t.Errorf("revert: %+v %v", got, err)
			}
		}()
	}
	wg.Wait()
	if _, _, rev := r.fw.counts(); rev != 1 {
		t.Fatalf("%d revert calls, want 1", rev)
	}
	got := r.get(a.ID)
	if got.RevertedAt == nil || got.State != model.ActionReverted || r.fw.has("203.0.113.7/32") {
		t.Fatalf("after revert: %+v", got)
	}
	if e, d := r.lastAudit(); e.Action != "action.reverted" || d["actor"] != "alice" {
		t.Fatalf("audit %+v %v", e, d)
	}
	if _, err := r.eng.Revert(ctx, r.propose(block("203.0.113.9"), alice).ID, alice); !errors.Is(err, ErrState) {
		t.Fatalf("reverting a proposed action: %v", err)
	}
}

func TestEveryTransitionIsInTheTimelineAndAudit(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.propose(block("203.0.113.7"), alice)
	if _, err := r.eng.Approve(ctx, a.ID, alice); err == nil {
		t.Fatal("alice approved")
	}
	if _, err := r.eng.Approve(ctx, a.ID, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := r.eng.Revert(ctx, a.ID, alice); err != nil {
		t.Fatal(err)
	}
	var audit []string
	for _, e := range r.audit() {
		var d map[string]any
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d["action_id"] != float64(a.ID) || d["target"] != "203.0.113.7/32" || d["connector"] != "fw" || d["kind"] != "block_ip" || d["actor"] != e.Actor {
			t.Errorf("audit detail %s lacks the action's identity", e.Detail)
		}
		audit = append(audit, e.Actor+":"+e.Action)
	}
	want := "alice:action.proposed alice:action.refused bob:action.approved bob:action.running bob:action.succeeded alice:action.reverted"
	if got := strings.Join(audit, " "); got != want {
		t.Fatalf("audit\n got %s\nwant %s", got, want)
	}
	tl, err := r.st.Timeline(ctx, r.inc)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, ev := range tl {
		var d map[string]any
		_ = json.Unmarshal(ev.Data, &d)
		events = append(events, ev.Actor+":"+d["event"].(string))
	}
	if got, want := strings.Join(events, " "), "alice:proposed alice:refused bob:approved bob:running bob:succeeded alice:reverted"; got != want {
		t.Fatalf("timeline\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(tl[0].Text, "block_ip 203.0.113.7/32 via fw (#1) proposed by alice: fake block_ip 203.0.113.7/32 for 1h") {
		t.Errorf("proposal text %q", tl[0].Text)
	}
}

func TestEventsArePublished(t *testing.T) {
	r := newRig(t)
	evs, stop := r.eng.Subscribe()
	defer stop()
	a := r.propose(block("203.0.113.7"), alice)
	if _, err := r.eng.Approve(context.Background(), a.ID, bob); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for range 4 {
		ev := <-evs
		kinds = append(kinds, ev.Kind)
		if ev.ActionID != a.ID || ev.IncidentID != r.inc || ev.Action == nil {
			t.Errorf("event %+v", ev)
		}
	}
	if got := strings.Join(kinds, " "); got != "proposed approved running succeeded" {
		t.Fatalf("events %s", got)
	}
}
