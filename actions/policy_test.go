package actions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/triage/model"
)

func TestRolesAreCheckedOnEveryCall(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()

	_, err := r.eng.Propose(ctx, r.inc, ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", Connector: "fw"}, vic)
	ref := wantRefusal(t, err, RuleRole, false)
	if ref.Msg != "vic has role viewer; proposing an action needs responder or above" {
		t.Errorf("message %q", ref.Msg)
	}
	e, d := r.lastAudit()
	if e.Action != "action.refused" || e.Actor != "vic" || d["rule"] != "role" || d["target"] != "203.0.113.7/32" || e.Subject != model.IncidentNumber(r.inc) {
		t.Errorf("refusal audit %+v %v", e, d)
	}
	if list, _ := r.eng.List(ctx, r.inc); len(list) != 0 {
		t.Fatalf("a refused proposal was stored: %+v", list)
	}

	a := r.propose(block("203.0.113.7"), alice)
	if a.State != model.ActionProposed || a.RequestedBy != "alice" || a.Target != "203.0.113.7/32" || a.TTL != time.Hour {
		t.Fatalf("proposed %+v", a)
	}
	_, err = r.eng.Approve(ctx, a.ID, alice)
	ref = wantRefusal(t, err, RuleRole, false)
	if ref.Msg != "alice has role responder; approving this action needs approver or admin" {
		t.Errorf("message %q", ref.Msg)
	}
	_, err = r.eng.Execute(ctx, a.ID, vic)
	wantRefusal(t, err, RuleRole, false)
	_, err = r.eng.Reject(ctx, a.ID, vic, "no")
	wantRefusal(t, err, RuleRole, false)
	// Executing before approval is a state error, not a connector call.
	_, err = r.eng.Execute(ctx, a.ID, alice)
	var se *StateError
	if !errors.As(err, &se) || !errors.Is(err, ErrState) || err.Error() != "action 1 is proposed: it cannot be executed" {
		t.Fatalf("execute before approval: %v", err)
	}
	if ex, _, _ := r.fw.counts(); ex != 0 {
		t.Fatalf("%d connector calls before approval", ex)
	}

	got, err := r.eng.Approve(ctx, a.ID, bob)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.ActionSucceeded || len(got.Approvals) != 1 || got.Approvals[0].By != "bob" || got.Approvals[0].Role != RoleApprover {
		t.Fatalf("after bob's approval: %+v", got)
	}
	_, err = r.eng.Revert(ctx, a.ID, vic)
	wantRefusal(t, err, RuleRole, false)
	if got, err := r.eng.Revert(ctx, a.ID, alice); err != nil || got.State != model.ActionReverted {
		t.Fatalf("revert by a responder: %+v %v", got, err)
	}
}

func TestAdminApprovesWhereApproverIsNamed(t *testing.T) {
	r := newRig(t)
	p := model.ApprovalPolicy{Approvers: 1, Roles: []string{RoleApprover}}
	a := r.propose(ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", TTL: time.Hour, Policy: &p}, alice)
	if got, err := r.eng.Approve(context.Background(), a.ID, dave); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("an admin approving where approver is allowed: %+v %v", got, err)
	}
}

func TestTwoPersonRule(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.propose(block("203.0.113.7"), bob) // an approver requests
	_, err := r.eng.Approve(ctx, a.ID, bob)
	ref := wantRefusal(t, err, RuleTwoPerson, false)
	if ref.Msg != "bob requested this action; under the two-person rule someone else must approve it" {
		t.Errorf("message %q", ref.Msg)
	}
	e, d := r.lastAudit()
	if e.Action != "action.refused" || d["rule"] != "two_person" || d["op"] != "approval" || d["action_id"] != float64(a.ID) {
		t.Errorf("audit %+v %v", e, d)
	}
	if got := r.get(a.ID); got.State != model.ActionProposed || len(got.Approvals) != 0 {
		t.Fatalf("after the refused self-approval: %+v", got)
	}
	got, err := r.eng.Approve(ctx, a.ID, carol)
	if err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("carol's approval: %+v %v", got, err)
	}

	// Without the rule, the requester may approve their own.
	p := model.ApprovalPolicy{Approvers: 1, Roles: []string{RoleApprover, RoleAdmin}}
	b := r.propose(ProposeRequest{Kind: "block_ip", Target: "203.0.113.8", TTL: time.Hour, Policy: &p}, bob)
	if got, err := r.eng.Approve(ctx, b.ID, bob); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("self-approval without the two-person rule: %+v %v", got, err)
	}
}

func TestTwoApproversMustBeDistinctAndApprovalsExpire(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	p := model.ApprovalPolicy{Approvers: 2, Roles: []string{RoleApprover, RoleAdmin}, TwoPerson: true, Expires: time.Hour}
	a := r.propose(ProposeRequest{Kind: "block_ip", Target: "203.0.113.9", TTL: time.Hour, Policy: &p}, alice)

	got, err := r.eng.Approve(ctx, a.ID, bob)
	if err != nil || got.State != model.ActionProposed || len(got.Approvals) != 1 {
		t.Fatalf("first of two approvals: %+v %v", got, err)
	}
	if e, d := r.lastAudit(); e.Action != "action.approval" || d["approvals"] != 1.0 || d["needed"] != 2.0 {
		t.Errorf("partial approval audit %+v %v", e, d)
	}
	_, err = r.eng.Approve(ctx, a.ID, bob)
	ref := wantRefusal(t, err, RuleTwoPerson, false)
	if ref.Msg != "bob already approved this action; the next approval must come from someone else" {
		t.Errorf("message %q", ref.Msg)
	}

	// Bob's approval expires: carol's is then the only one that counts.
	r.clk.Advance(61 * time.Minute)
	got, err = r.eng.Approve(ctx, a.ID, carol)
	if err != nil || got.State != model.ActionProposed {
		t.Fatalf("after bob's approval expired, carol's alone must not approve: %+v %v", got, err)
	}
	if e, d := r.lastAudit(); e.Action != "action.approval" || d["approvals"] != 1.0 || d["expired_approvals"] != 1.0 {
		t.Errorf("audit after expiry %+v %v", e, d)
	}
	// Bob may approve again now that his first approval no longer counts.
	got, err = r.eng.Approve(ctx, a.ID, bob)
	if err != nil || got.State != model.ActionSucceeded || len(got.Approvals) != 3 {
		t.Fatalf("second valid approval: %+v %v", got, err)
	}
	if ex, _, _ := r.fw.counts(); ex != 1 {
		t.Fatalf("%d connector calls, want 1", ex)
	}
}

func TestNoApproverRunsOnProposal(t *testing.T) {
	r := newRig(t)
	p := model.ApprovalPolicy{Approvers: 0}
	a := r.propose(ProposeRequest{Kind: "webhook", Target: "core-r1", Policy: &p}, alice)
	if a.State != model.ActionSucceeded || a.ExpiresAt != nil || !a.Verified {
		t.Fatalf("an action needing no approver: %+v", a)
	}
	var kinds []string
	for _, e := range r.audit() {
		kinds = append(kinds, e.Action)
	}
	if want := "action.proposed action.approved action.running action.succeeded"; strings.Join(kinds, " ") != want {
		t.Fatalf("audit %v, want %s", kinds, want)
	}
}

// TestGuardrails is the guardrail part of the policy table: each refusal names its
// rule, is a guardrail (422), and is recorded.
func TestGuardrails(t *testing.T) {
	cfg := connectors.GuardConfig{Gateways: []string{"192.0.2.1"}, ProtectedHosts: []string{"dc01"}}
	for _, tc := range []struct {
		name string
		req  ProposeRequest
		rule string
		msg  string
	}{
		{"rfc1918", ProposeRequest{Kind: "block_ip", Target: "10.1.2.3"}, "never_block", "10.1.2.3 is inside 10.0.0.0/8 (rfc1918)"},
		{"gateway", ProposeRequest{Kind: "block_ip", Target: "192.0.2.1"}, "never_block", "192.0.2.1 is inside 192.0.2.1/32 (gateway)"},
		{"covers a gateway", ProposeRequest{Kind: "block_ip", Target: "192.0.2.0/31"}, "never_block", "192.0.2.0/31 covers 192.0.2.1 (gateway)"},
		{"protected host", ProposeRequest{Kind: "isolate_host", Target: "dc01"}, "protected_hosts", "dc01 is a protected host"},
		{"prefix breadth v4", ProposeRequest{Kind: "block_ip", Target: "203.0.113.0/24"}, "max_breadth", "203.0.113.0/24 is broader than /32, the broadest IPv4 prefix allowed"},
		{"prefix breadth v6", ProposeRequest{Kind: "block_ip", Target: "2001:db8::/64"}, "max_breadth", "2001:db8::/64 is broader than /128, the broadest IPv6 prefix allowed"},
		{"ttl too short", ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", TTL: 30 * time.Second}, "ttl", "ttl 30s is shorter than the minimum 1m"},
		{"ttl too long", ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", TTL: 1000 * time.Hour}, "ttl", "ttl 1000h is longer than the maximum 720h"},
		{"unknown connector", ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", Connector: "palo"}, "connector", `connector "palo" is not configured; configured: fw`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, withGuard(t, cfg))
			if tc.req.Connector == "" {
				tc.req.Connector = "fw"
			}
			_, err := r.eng.Propose(context.Background(), r.inc, tc.req, alice)
			ref := wantRefusal(t, err, tc.rule, true)
			if ref.Msg != tc.msg {
				t.Errorf("message\n got %q\nwant %q", ref.Msg, tc.msg)
			}
			e, d := r.lastAudit()
			if e.Action != "action.refused" || d["rule"] != tc.rule || d["reason"] != tc.msg || d["actor"] != "alice" {
				t.Errorf("audit %+v %v", e, d)
			}
			tl, _ := r.st.Timeline(context.Background(), r.inc)
			if len(tl) == 0 || !strings.Contains(tl[len(tl)-1].Text, "refused by "+tc.rule) {
				t.Errorf("timeline %+v", tl)
			}
		})
	}
}

func TestInternalTargetsNeedAllowInternal(t *testing.T) {
	r := newRig(t)
	p := model.ApprovalPolicy{Approvers: 0}
	a, err := r.eng.Propose(context.Background(), r.inc, ProposeRequest{Kind: "isolate_host", Target: "10.1.2.3",
		Connector: "fw", TTL: time.Hour, Policy: &p, AllowInternal: true, Playbook: "lateral-movement", PlaybookAction: "isolate"}, System)
	if err != nil || a.State != model.ActionSucceeded {
		t.Fatalf("an internal target with allow_internal: %+v %v", a, err)
	}
}

func TestRateLimitAtExecution(t *testing.T) {
	r := newRig(t, withGuard(t, connectors.GuardConfig{RateLimit: connectors.RateLimit{Actions: 1, Per: time.Hour, Burst: 1}}))
	ctx := context.Background()
	a := r.propose(block("203.0.113.7"), alice)
	b := r.propose(block("203.0.113.8"), alice)
	if got, err := r.eng.Approve(ctx, a.ID, bob); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("first action: %+v %v", got, err)
	}
	_, err := r.eng.Approve(ctx, b.ID, bob)
	ref := wantRefusal(t, err, "rate_limit", true)
	if ref.Msg != `connector "fw" allows 1 actions per 1h (burst 1); next in 1h` || ref.RetryAfter != time.Hour {
		t.Errorf("refusal %q retry after %s", ref.Msg, ref.RetryAfter)
	}
	if got := r.get(b.ID); got.State != model.ActionApproved {
		t.Fatalf("a rate-limited action must stay approved for a later execute, is %s", got.State)
	}
	if e, d := r.lastAudit(); e.Action != "action.refused" || d["rule"] != "rate_limit" || d["op"] != "execution" {
		t.Errorf("audit %+v %v", e, d)
	}
	r.clk.Advance(time.Hour)
	if got, err := r.eng.Execute(ctx, b.ID, alice); err != nil || got.State != model.ActionSucceeded {
		t.Fatalf("after the hour: %+v %v", got, err)
	}
}

// TestGuardrailsCheckedAgainAtExecution: a target that became protected after its
// proposal is refused when it would run.
func TestGuardrailsCheckedAgainAtExecution(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.propose(block("198.51.100.20"), alice)
	r.eng = r.engine(withGuard(t, connectors.GuardConfig{NeverBlock: []string{"198.51.100.0/24"}}))
	_, err := r.eng.Approve(ctx, a.ID, bob)
	wantRefusal(t, err, "never_block", true)
	if got := r.get(a.ID); got.State != model.ActionApproved {
		t.Fatalf("state %s, want approved", got.State)
	}
	if ex, _, _ := r.fw.counts(); ex != 0 {
		t.Fatalf("%d connector calls for a refused action", ex)
	}
}

func TestProposalValidation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  ProposeRequest
		want string
	}{
		{ProposeRequest{Kind: "nuke", Target: "203.0.113.7"}, `invalid action: kind "nuke" is unknown; use one of block_ip, unblock_ip, isolate_host, release_host, webhook`},
		{ProposeRequest{Kind: "block_ip", Target: "203.0.113.7/24"}, `invalid action: target "203.0.113.7/24" has host bits set; did you mean 203.0.113.0/24?`},
		{ProposeRequest{Kind: "block_ip", Target: "db-1"}, `invalid action: block_ip needs an IP address or CIDR target, got "db-1"`},
		{ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", TTL: -time.Hour}, `invalid action: ttl -1h0m0s is negative`},
	} {
		_, err := r.eng.Propose(ctx, r.inc, tc.req, alice)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: error %v, want %q", tc.req, err, tc.want)
		}
	}
	if _, err := r.eng.Propose(ctx, 999, block("203.0.113.7"), alice); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown incident: %v", err)
	}
	closed := putIncident(t, r.st, model.StatusResolved)
	if _, err := r.eng.Propose(ctx, closed, block("203.0.113.7"), alice); !errors.Is(err, ErrState) {
		t.Errorf("proposal on a resolved incident: %v, want ErrState", err)
	}
}

func TestDefaultTTLAndConnector(t *testing.T) {
	r := newRig(t)
	a, err := r.eng.Propose(context.Background(), r.inc, ProposeRequest{Kind: "block_ip", Target: "2001:db8::7"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if a.TTL != 24*time.Hour || a.Connector != "fw" || a.Target != "2001:db8::7/128" || a.Diff != "fake block_ip 2001:db8::7/128 for 24h" {
		t.Fatalf("defaults: %+v", a)
	}
	if a.Policy.Approvers != 1 || !a.Policy.TwoPerson || a.Policy.Expires != time.Hour {
		t.Fatalf("default policy: %+v", a.Policy)
	}
}

func TestDuplicateProposalReturnsTheStandingAction(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.propose(block("203.0.113.7"), alice)
	b := r.propose(block("203.0.113.7/32"), carol)
	if b.ID != a.ID || b.RequestedBy != "alice" {
		t.Fatalf("second proposal of the same block: %+v, want action %d", b, a.ID)
	}
	if _, err := r.eng.Reject(ctx, a.ID, alice, "withdrawn"); err != nil {
		t.Fatalf("the requester withdrawing: %v", err)
	}
	c := r.propose(block("203.0.113.7"), carol)
	if c.ID == a.ID || c.IdempotencyKey == a.IdempotencyKey {
		t.Fatalf("after a rejection a new action with a new key is due: %+v vs %+v", c, a)
	}
	if _, err := r.eng.Reject(ctx, c.ID, alice, ""); !IsPeopleRefusal(err) {
		t.Fatalf("a responder rejecting someone else's action: %v", err)
	}
	if got, err := r.eng.Reject(ctx, c.ID, bob, "false positive"); err != nil || got.State != model.ActionRejected {
		t.Fatalf("an approver rejecting: %+v %v", got, err)
	}
	if _, err := r.eng.Approve(ctx, c.ID, dave); !errors.Is(err, ErrState) {
		t.Fatalf("approving a rejected action: %v", err)
	}
}

func TestOnlyPlaybooksRunActionsAutomatically(t *testing.T) {
	r := newRig(t)
	_, err := r.eng.Propose(context.Background(), r.inc, ProposeRequest{Kind: "block_ip", Target: "203.0.113.7",
		Connector: "fw", Auto: true}, dave)
	ref := wantRefusal(t, err, RuleRole, false)
	if ref.Msg != "only a playbook runs an action automatically; propose it for approval instead" {
		t.Errorf("message %q", ref.Msg)
	}
	if ex, _, _ := r.fw.counts(); ex != 0 {
		t.Fatal("the connector ran")
	}
}
