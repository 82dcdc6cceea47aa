package actions

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/triage/model"
)

// Actor is who asks for a change: an API token's identity or a chat user, with a role
// (viewer < responder < approver < admin, as config.Role orders them).
type Actor struct {
	Name string
	Role string
}

// System is warroom itself: it proposes playbook actions and runs automatic ones and
// the TTL rollbacks.
var System = Actor{Name: model.SystemActor, Role: string(config.RoleAdmin)}

// Roles, from least to most allowed (config.Role).
const (
	RoleViewer    = string(config.RoleViewer)
	RoleResponder = string(config.RoleResponder)
	RoleApprover  = string(config.RoleApprover)
	RoleAdmin     = string(config.RoleAdmin)
)

// allows reports whether role have includes role need.
func allows(have, need string) bool { return config.Role(have).Allows(config.Role(need)) }

// DefaultPolicy is the approval policy of ad-hoc actions: one approver with the
// approver or admin role, who may not be the requester, within an hour.
func DefaultPolicy() model.ApprovalPolicy {
	return model.ApprovalPolicy{Approvers: 1, Roles: []string{RoleApprover, RoleAdmin}, TwoPerson: true, Expires: time.Hour}
}

// ErrRefused is matched (errors.Is) by every *Refusal.
var ErrRefused = errors.New("refused")

// Refusal rules that are not guardrails.
const (
	RuleRole              = "role"               // the actor's role does not allow the call
	RuleTwoPerson         = "two_person"         // the requester may not approve their own action
	RuleDistinctApprovers = "distinct_approvers" // one person counts once
	RuleConnector         = "connector"          // no configured connector can run the action
	RuleRateLimit         = "rate_limit"         // the guardrails' rate limit; retry after RetryAfter
)

// Refusal is a policy's or a guardrail's "no", naming the rule. The API answers 403
// for the people rules (Guardrail() false) and 422 for guardrails; chat shows Msg to
// the person who clicked.
type Refusal struct {
	Rule       string        // role, two_person, distinct_approvers, connector, never_block, protected_hosts, max_breadth, ttl, rate_limit
	Msg        string        // what refused and why, for humans
	RetryAfter time.Duration // rate_limit: when a token is next available
}

// Error renders "refused by <rule>: <msg>".
func (r *Refusal) Error() string { return "refused by " + r.Rule + ": " + r.Msg }

// Is matches ErrRefused.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// Guardrail reports whether a guardrail (never_block, protected_hosts, max_breadth,
// ttl, rate_limit) or the connector check refused, rather than a rule about people.
func (r *Refusal) Guardrail() bool {
	switch r.Rule {
	case RuleRole, RuleTwoPerson, RuleDistinctApprovers:
		return false
	}
	return true
}

// refusalFrom turns a guardrail refusal of package connectors into a *Refusal.
func refusalFrom(err error) (*Refusal, bool) {
	var cr *connectors.Refusal
	if errors.As(err, &cr) {
		return &Refusal{Rule: cr.Rule, Msg: cr.Reason, RetryAfter: cr.RetryAfter}, true
	}
	return nil, false
}

// ErrState is matched (errors.Is) by *StateError.
var ErrState = errors.New("wrong action state")

// StateError says an action is not in a state that allows the call.
type StateError struct {
	ActionID int64
	State    model.ActionState
	Op       string // approve, reject, execute, revert
}

func (e *StateError) Error() string {
	return fmt.Sprintf("action %d is %s: it cannot be %s", e.ActionID, e.State, pastTense(e.Op))
}

// Is matches ErrState.
func (e *StateError) Is(target error) bool { return target == ErrState }

func pastTense(op string) string {
	switch op {
	case "approve":
		return "approved"
	case "reject":
		return "rejected"
	case "execute":
		return "executed"
	case "revert":
		return "reverted"
	}
	return op + "ed"
}

// ErrInvalid is wrapped by errors about malformed requests: an unknown kind, a target
// that is not an address or host, a negative TTL.
var ErrInvalid = errors.New("invalid action")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// needRole refuses unless by's role includes need.
func needRole(by Actor, need, what string) *Refusal {
	if allows(by.Role, need) {
		return nil
	}
	return &Refusal{Rule: RuleRole, Msg: fmt.Sprintf("%s has role %s; %s needs %s or above", by.Name, roleName(by.Role), what, need)}
}

func roleName(r string) string {
	if r == "" {
		return "(none)"
	}
	return r
}

// mayApprove refuses unless one of the policy's roles is included in by's role.
func mayApprove(by Actor, p model.ApprovalPolicy) *Refusal {
	roles := p.Roles
	if len(roles) == 0 {
		roles = DefaultPolicy().Roles
	}
	for _, r := range roles {
		if allows(by.Role, r) {
			return nil
		}
	}
	return &Refusal{Rule: RuleRole, Msg: fmt.Sprintf("%s has role %s; approving this action needs %s", by.Name, roleName(by.Role), strings.Join(roles, " or "))}
}

// validApprovals returns the approvals that still count at now: those younger than
// the policy's expiry.
func validApprovals(a *model.Action, now time.Time) []model.Approval {
	var out []model.Approval
	for _, ap := range a.Approvals {
		if a.Policy.Expires > 0 && now.Sub(ap.At) > a.Policy.Expires {
			continue
		}
		out = append(out, ap)
	}
	return out
}

// needed is how many approvals make the action approved (an auto action's Keep needs
// at least one).
func needed(a *model.Action) int {
	if a.PendingReview && a.Policy.Approvers < 1 {
		return 1
	}
	return a.Policy.Approvers
}

// checkApproval applies the people rules to by approving a at now.
func checkApproval(a *model.Action, by Actor, now time.Time) *Refusal {
	if r := mayApprove(by, a.Policy); r != nil {
		return r
	}
	if a.Policy.TwoPerson && by.Name == a.RequestedBy {
		return &Refusal{Rule: RuleTwoPerson, Msg: fmt.Sprintf("%s requested this action; under the two-person rule someone else must approve it", by.Name)}
	}
	for _, ap := range validApprovals(a, now) {
		if ap.By == by.Name {
			rule := RuleDistinctApprovers
			if a.Policy.TwoPerson {
				rule = RuleTwoPerson
			}
			return &Refusal{Rule: rule, Msg: fmt.Sprintf("%s already approved this action; the next approval must come from someone else", by.Name)}
		}
	}
	return nil
}
