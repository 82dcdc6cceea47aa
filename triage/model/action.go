package model

import (
	"fmt"
	"time"
)

// ActionState is where an action is in its life cycle:
//
//	proposed → approved → running → succeeded | failed
//	succeeded → reverted (by hand) | expired (its TTL ended and it was rolled back)
//	proposed → rejected; failed → running (retry)
type ActionState string

// Action states.
const (
	ActionProposed  ActionState = "proposed"
	ActionApproved  ActionState = "approved"
	ActionRunning   ActionState = "running"
	ActionSucceeded ActionState = "succeeded"
	ActionFailed    ActionState = "failed"
	ActionReverted  ActionState = "reverted"
	ActionExpired   ActionState = "expired"
	ActionRejected  ActionState = "rejected"
)

// ActionStates lists every state, in life-cycle order.
var ActionStates = []ActionState{ActionProposed, ActionApproved, ActionRunning, ActionSucceeded, ActionFailed,
	ActionReverted, ActionExpired, ActionRejected}

var actionMoves = map[ActionState][]ActionState{
	ActionProposed:  {ActionApproved, ActionRejected},
	ActionApproved:  {ActionRunning, ActionRejected},
	ActionRunning:   {ActionSucceeded, ActionFailed},
	ActionFailed:    {ActionRunning, ActionRejected},
	ActionSucceeded: {ActionReverted, ActionExpired},
}

// CheckMove says whether an action may move from s to t, and why not.
func (s ActionState) CheckMove(t ActionState) error {
	for _, ok := range actionMoves[s] {
		if ok == t {
			return nil
		}
	}
	return fmt.Errorf("action is %s: it cannot become %s", s, t)
}

// Final reports whether no further move is possible.
func (s ActionState) Final() bool { return len(actionMoves[s]) == 0 }

// ApprovalPolicy says who must agree before an action runs.
type ApprovalPolicy struct {
	Approvers int           `json:"approvers"`  // 0, 1 or 2
	Roles     []string      `json:"roles"`      // roles allowed to approve
	TwoPerson bool          `json:"two_person"` // an approver may not be the requester
	Expires   time.Duration `json:"expires"`    // approvals older than this no longer count; 0 = never
}

// Approval is one person's agreement.
type Approval struct {
	By   string    `json:"by"`
	Role string    `json:"role"`
	At   time.Time `json:"at"`
}

// Action is one containment or feedback step on an incident, run through a connector.
type Action struct {
	ID             int64         `json:"id"`
	IncidentID     int64         `json:"incident_id"`
	Playbook       string        `json:"playbook,omitempty"`        // playbook id, empty for ad-hoc
	PlaybookAction string        `json:"playbook_action,omitempty"` // action id inside the playbook
	Kind           string        `json:"kind"`                      // block_ip, unblock_ip, isolate_host, release_host, webhook
	Target         string        `json:"target"`                    // exact: 203.0.113.7/32 or a host
	Connector      string        `json:"connector"`
	TTL            time.Duration `json:"ttl"`
	Auto           bool          `json:"auto"`    // ran without approval, pending human review
	DryRun         bool          `json:"dry_run"` // records what would change, changes nothing
	// AllowInternal lets the action target internal (RFC 1918 / ULA) addresses; only a
	// playbook action that says so sets it.
	AllowInternal bool `json:"allow_internal,omitempty"`
	// PendingReview marks an auto action that ran without approval: the room offers
	// Keep (an approval under Policy) and Release (a revert).
	PendingReview  bool           `json:"pending_review,omitempty"`
	Note           string         `json:"note,omitempty"` // the requester's reason, for ad-hoc actions
	Policy         ApprovalPolicy `json:"policy"`
	State          ActionState    `json:"state"`
	RequestedBy    string         `json:"requested_by"`
	RequestedAt    time.Time      `json:"requested_at"`
	Approvals      []Approval     `json:"approvals"`
	IdempotencyKey string         `json:"idempotency_key"`
	Diff           string         `json:"diff"` // what the action changes, as the connector previews it
	Result         string         `json:"result,omitempty"`
	Error          string         `json:"error,omitempty"`
	Attempts       int            `json:"attempts"`
	Verified       bool           `json:"verified"`
	Verification   string         `json:"verification,omitempty"`
	ExecutedAt     *time.Time     `json:"executed_at"`
	ExpiresAt      *time.Time     `json:"expires_at"` // when the TTL ends and the change is rolled back
	RevertedAt     *time.Time     `json:"reverted_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}
