package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// ProposeRequest is a request for an action on an incident.
type ProposeRequest struct {
	Kind      string        // block_ip, unblock_ip, isolate_host, release_host, webhook
	Target    string        // an address, a CIDR or a host; canonicalised ("203.0.113.7" → "203.0.113.7/32")
	Connector string        // empty: the edl connector if it can, else the first (by name) that can
	TTL       time.Duration // 0: Options.DefaultTTL for containments
	// Policy is the approval policy; nil means DefaultPolicy().
	Policy *model.ApprovalPolicy
	// Playbook and PlaybookAction name the playbook action the proposal comes from.
	Playbook, PlaybookAction string
	// Auto runs the action at once, pending human review (Keep / Release). Only
	// System may ask for it.
	Auto bool
	// DryRun records what would change without changing anything.
	DryRun bool
	// AllowInternal lets the action target internal addresses (a playbook action that
	// says allow_internal).
	AllowInternal bool
	Note          string
}

// record writes one transition of a to the incident's timeline and the audit log.
func (e *Engine) record(tx store.Tx, a *model.Action, by Actor, now time.Time, event, auditAction, text string, extra map[string]any) error {
	data := map[string]any{"event": event, "action_id": a.ID, "kind": a.Kind, "target": a.Target,
		"connector": a.Connector, "state": a.State}
	for k, v := range extra {
		data[k] = v
	}
	tl, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("record action %d: %w", a.ID, err)
	}
	if err := tx.AppendTimeline(&model.TimelineEvent{IncidentID: a.IncidentID, At: now, Actor: by.Name, Kind: "action",
		Text: text, Data: tl}); err != nil {
		return fmt.Errorf("record action %d in the timeline: %w", a.ID, err)
	}
	data["actor"], data["role"] = by.Name, by.Role
	if a.Playbook != "" {
		data["playbook"], data["playbook_action"] = a.Playbook, a.PlaybookAction
	}
	delete(data, "event")
	detail, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("record action %d: %w", a.ID, err)
	}
	if err := tx.AppendAudit(&model.AuditEntry{At: now, Actor: by.Name, Action: auditAction,
		Subject: model.IncidentNumber(a.IncidentID), Detail: detail}); err != nil {
		return fmt.Errorf("record action %d in the audit log: %w", a.ID, err)
	}
	return nil
}

// recordRefusal writes a refusal of op on a (an unsaved proposal has ID 0).
func (e *Engine) recordRefusal(tx store.Tx, a *model.Action, by Actor, now time.Time, op string, r *Refusal) error {
	return e.record(tx, a, by, now, "refused", "action.refused",
		fmt.Sprintf("%s of %s refused by %s: %s", op, describe(a), r.Rule, r.Msg),
		map[string]any{"op": op, "rule": r.Rule, "reason": r.Msg})
}

// refuse records r in its own transaction and returns it.
func (e *Engine) refuse(ctx context.Context, a *model.Action, by Actor, op string, r *Refusal) error {
	err := e.st.Submit(ctx, func(tx store.Tx) error { return e.recordRefusal(tx, a, by, e.now(), op, r) })
	if err != nil {
		return fmt.Errorf("record the refusal of %s: %w", describe(a), err)
	}
	e.publish(Event{Kind: "refused", IncidentID: a.IncidentID, ActionID: a.ID, Refusal: r})
	return r
}

// pickConnector returns the connector for kind k: the named one, or the edl
// connector when it can, else the first by name that can.
func (e *Engine) pickConnector(name string, k connectors.ActionKind) (string, *Refusal) {
	if name != "" {
		c, ok := e.conns[name]
		if !ok {
			return name, &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("connector %q is not configured; configured: %s", name, strings.Join(e.Connectors(), ", "))}
		}
		if !connectors.Supports(c, k) {
			return name, &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("connector %q cannot %s", name, k)}
		}
		return name, nil
	}
	if c, ok := e.conns["edl"]; ok && connectors.Supports(c, k) {
		return "edl", nil
	}
	for _, n := range e.Connectors() {
		if connectors.Supports(e.conns[n], k) {
			return n, nil
		}
	}
	return "", &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("no configured connector can %s; add one under connectors in the configuration", k)}
}

// Propose records a proposed action on an incident. The requester needs the responder
// role; the target, TTL and connector pass the guardrails or the proposal is refused
// (a *Refusal naming the rule, recorded in the timeline and audit log). An action
// with the same kind, target and connector already standing on the incident is
// returned instead of a new one. An action whose policy needs no approver, or an
// automatic one, is approved at once and executed before Propose returns.
func (e *Engine) Propose(ctx context.Context, incidentID int64, req ProposeRequest, by Actor) (*model.Action, error) {
	a, fresh, err := e.propose(ctx, incidentID, req, by)
	if err != nil || !fresh || a.State != model.ActionApproved {
		return a, err
	}
	runner := by
	if a.Auto {
		runner = System
	}
	return e.Execute(ctx, a.ID, runner)
}

func (e *Engine) propose(ctx context.Context, incidentID int64, req ProposeRequest, by Actor) (*model.Action, bool, error) {
	inc, err := e.st.Incident(ctx, incidentID)
	if err != nil {
		return nil, false, err
	}
	kind := connectors.ActionKind(strings.TrimSpace(req.Kind))
	if !kind.Valid() {
		return nil, false, invalid("kind %q is unknown; use one of block_ip, unblock_ip, isolate_host, release_host, webhook", req.Kind)
	}
	if req.TTL < 0 {
		return nil, false, invalid("ttl %s is negative", req.TTL)
	}
	var target connectors.Target
	if strings.TrimSpace(req.Target) != "" || kind != connectors.Webhook {
		if target, err = connectors.ParseTarget(req.Target); err != nil {
			return nil, false, invalid("%v", err)
		}
	}
	if kind.NeedsIP() && !target.IsIP() {
		return nil, false, invalid("%s needs an IP address or CIDR target, got %q", kind, req.Target)
	}
	policy := DefaultPolicy()
	if req.Policy != nil {
		policy = *req.Policy
		policy.Roles = append([]string(nil), policy.Roles...)
	}
	if policy.Approvers < 0 || policy.Approvers > 2 {
		return nil, false, invalid("policy approvers %d: want 0, 1 or 2", policy.Approvers)
	}
	ttl := req.TTL
	if ttl == 0 && kind.Containment() {
		ttl = e.opts.DefaultTTL
	}
	if kind == connectors.UnblockIP || kind == connectors.ReleaseHost {
		ttl = 0 // a removal does not expire
	}
	now := e.now()
	a := &model.Action{
		IncidentID: inc.ID, Playbook: req.Playbook, PlaybookAction: req.PlaybookAction, Kind: string(kind),
		Target: target.String(), TTL: ttl, Auto: req.Auto, DryRun: req.DryRun, AllowInternal: req.AllowInternal,
		Note: strings.TrimSpace(req.Note), Policy: policy, State: model.ActionProposed, RequestedBy: by.Name,
		RequestedAt: now, Approvals: []model.Approval{}, UpdatedAt: now,
	}
	var cref *Refusal
	a.Connector, cref = e.pickConnector(req.Connector, kind)
	if inc.Kind == model.KindDrill && !slices.Contains(e.opts.DrillSandbox, a.Connector) {
		a.DryRun = true // a drill never changes a live enforcement point
	}
	ref := needRole(by, RoleResponder, "proposing an action")
	if ref == nil && req.Auto && by != System {
		ref = &Refusal{Rule: RuleRole, Msg: "only a playbook runs an action automatically; propose it for approval instead"}
	}
	if ref == nil {
		ref = cref
	}
	if ref == nil && !inc.Status.Live() {
		return nil, false, fmt.Errorf("%w: %s is %s; actions are proposed on open, acknowledged or contained incidents only", ErrState, inc.Number, inc.Status)
	}
	var creq connectors.Request
	if ref == nil {
		if creq, err = requestOf(a); err != nil {
			return nil, false, err
		}
		if err := e.guard.Check(creq, connectors.Scope{Connector: a.Connector, AllowInternal: a.AllowInternal}); err != nil {
			r, ok := refusalFrom(err)
			if !ok {
				return nil, false, invalid("%v", err)
			}
			ref = r
		}
	}
	if ref != nil {
		return nil, false, e.refuse(ctx, a, by, "proposal", ref)
	}
	diff, err := e.conns[a.Connector].Preview(ctx, creq)
	if err != nil {
		return nil, false, fmt.Errorf("preview %s: %w", describe(a), err)
	}
	a.Diff = diff.String()

	var (
		out   *model.Action
		fresh bool
	)
	err = e.st.Submit(ctx, func(tx store.Tx) error {
		out, fresh = nil, false
		existing, err := tx.IncidentActions(a.IncidentID)
		if err != nil {
			return err
		}
		gen := 0
		for _, x := range existing {
			if x.Kind != a.Kind || x.Target != a.Target || x.Connector != a.Connector {
				continue
			}
			if live(x.State) {
				out = x // already standing: the same change is not proposed twice
				return nil
			}
			gen++
		}
		cp := *a
		cp.IdempotencyKey = idempotencyKey(&cp, gen)
		autoApprove := cp.Auto || cp.Policy.Approvers == 0
		if err := tx.PutAction(&cp); err != nil {
			return err
		}
		text := fmt.Sprintf("%s proposed by %s: %s", describe(&cp), by.Name, cp.Diff)
		if cp.Playbook != "" {
			text = fmt.Sprintf("%s proposed by playbook %s (%s): %s", describe(&cp), cp.Playbook, cp.PlaybookAction, cp.Diff)
		}
		if err := e.record(tx, &cp, by, now, "proposed", "action.proposed", text,
			map[string]any{"diff": cp.Diff, "ttl": connectors.FormatDuration(cp.TTL), "auto": cp.Auto, "dry_run": cp.DryRun,
				"approvers": cp.Policy.Approvers, "two_person": cp.Policy.TwoPerson, "note": cp.Note}); err != nil {
			return err
		}
		if autoApprove {
			cp.State = model.ActionApproved
			reason := "its policy needs no approver"
			if cp.Auto {
				cp.PendingReview = true
				reason = "the playbook runs it automatically, pending review (Keep / Release)"
			}
			if err := tx.PutAction(&cp); err != nil {
				return err
			}
			if err := e.record(tx, &cp, by, now, "approved", "action.approved",
				fmt.Sprintf("%s approved on proposal: %s", describe(&cp), reason), map[string]any{"auto": cp.Auto}); err != nil {
				return err
			}
		}
		out, fresh = &cp, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("propose %s: %w", describe(a), err)
	}
	if fresh {
		e.publish(Event{Kind: "proposed", IncidentID: out.IncidentID, ActionID: out.ID, Action: out})
		if out.State == model.ActionApproved {
			e.publish(Event{Kind: "approved", IncidentID: out.IncidentID, ActionID: out.ID, Action: out})
		}
	}
	return out, fresh, nil
}

// Approve records by's approval. The approver needs one of the roles the action's
// policy names, may not be the requester under the two-person rule, and counts once;
// approvals older than the policy's expiry no longer count. When the approvals that
// count reach the policy's number, the action is approved and executed before Approve
// returns. On an automatic action pending review, an approval is the Keep decision.
func (e *Engine) Approve(ctx context.Context, id int64, by Actor) (*model.Action, error) {
	var (
		out, running *model.Action
		ref          *Refusal
		serr         error
		approved     bool
		kind         string
		st           start
		admitted     bool
	)
	err := e.st.Submit(ctx, func(tx store.Tx) error {
		out, running, ref, serr, approved, kind, st = nil, nil, nil, nil, false, "", start{}
		cur, err := tx.Action(id)
		if err != nil {
			return err
		}
		now := e.now()
		keep := cur.State == model.ActionSucceeded && cur.PendingReview
		if cur.State != model.ActionProposed && !keep {
			serr = &StateError{ActionID: id, State: cur.State, Op: "approve"}
			return nil
		}
		if ref = checkApproval(cur, by, now); ref != nil {
			return e.recordRefusal(tx, cur, by, now, "approval", ref)
		}
		valid := validApprovals(cur, now)
		expired := len(cur.Approvals) - len(valid)
		cur.Approvals = append(cur.Approvals, model.Approval{By: by.Name, Role: by.Role, At: now})
		count, need := len(valid)+1, needed(cur)
		cur.UpdatedAt = now
		extra := map[string]any{"approvals": count, "needed": need, "expired_approvals": expired}
		switch {
		case count < need:
			kind = "approval"
			if err := tx.PutAction(cur); err != nil {
				return err
			}
			out = cur
			return e.record(tx, cur, by, now, kind, "action.approval",
				fmt.Sprintf("%s: approval %d of %d by %s", describe(cur), count, need, by.Name), extra)
		case keep:
			kind = "kept"
			cur.PendingReview = false
			extra["review"] = "keep"
			if err := tx.PutAction(cur); err != nil {
				return err
			}
			out = cur
			return e.record(tx, cur, by, now, kind, "action.approved",
				fmt.Sprintf("%s kept by %s after review", describe(cur), by.Name), extra)
		default:
			kind, approved = "approved", true
			cur.State = model.ActionApproved
			if err := tx.PutAction(cur); err != nil {
				return err
			}
			if err := e.record(tx, cur, by, now, kind, "action.approved",
				fmt.Sprintf("%s approved by %s (%d of %d)", describe(cur), by.Name, count, need), extra); err != nil {
				return err
			}
			// Executed at once, in the same transaction: one commit between the click
			// and the connector call.
			approvedCopy := *cur
			out = &approvedCopy
			st, err = e.startTx(tx, cur, by, now, &admitted)
			running = cur
			return err
		}
	})
	if err != nil {
		return nil, fmt.Errorf("approve action %d: %w", id, err)
	}
	if serr != nil {
		return nil, serr
	}
	if ref != nil {
		a, _ := e.st.Action(ctx, id)
		if a != nil {
			e.publish(Event{Kind: "refused", IncidentID: a.IncidentID, ActionID: id, Action: a, Refusal: ref})
		}
		return nil, ref
	}
	e.publish(Event{Kind: kind, IncidentID: out.IncidentID, ActionID: id, Action: out})
	if approved {
		return e.afterStart(ctx, running, by, st)
	}
	return out, nil
}

// Reject turns a proposed, approved or failed action down. The requester may withdraw
// their own; anyone else needs a role the action's policy allows to approve.
func (e *Engine) Reject(ctx context.Context, id int64, by Actor, reason string) (*model.Action, error) {
	reason = strings.TrimSpace(reason)
	var (
		out  *model.Action
		ref  *Refusal
		serr error
	)
	err := e.st.Submit(ctx, func(tx store.Tx) error {
		out, ref, serr = nil, nil, nil
		cur, err := tx.Action(id)
		if err != nil {
			return err
		}
		now := e.now()
		if err := cur.State.CheckMove(model.ActionRejected); err != nil {
			serr = &StateError{ActionID: id, State: cur.State, Op: "reject"}
			return nil
		}
		if by.Name != cur.RequestedBy || !allows(by.Role, RoleResponder) {
			if ref = mayApprove(by, cur.Policy); ref != nil {
				ref.Msg = strings.Replace(ref.Msg, "approving", "rejecting", 1)
				return e.recordRefusal(tx, cur, by, now, "rejection", ref)
			}
		}
		cur.State, cur.UpdatedAt = model.ActionRejected, now
		if err := tx.PutAction(cur); err != nil {
			return err
		}
		out = cur
		text := fmt.Sprintf("%s rejected by %s", describe(cur), by.Name)
		if reason != "" {
			text += ": " + reason
		}
		return e.record(tx, cur, by, now, "rejected", "action.rejected", text, map[string]any{"reason": reason})
	})
	if err != nil {
		return nil, fmt.Errorf("reject action %d: %w", id, err)
	}
	if serr != nil {
		return nil, serr
	}
	if ref != nil {
		return nil, ref
	}
	e.publish(Event{Kind: "rejected", IncidentID: out.IncidentID, ActionID: id, Action: out})
	return out, nil
}

// Execute runs an approved action, or retries a failed one, through its connector,
// then verifies it. The move to running is a compare-and-set in the store, so
// concurrent calls make one connector call: the others get the action as it stands
// (running or succeeded) without error. The guardrails are checked again, and the
// connector's rate limit applies, before the call. The connector call outlives ctx
// (up to Options.CallTimeout) so a dropped request cannot leave a half-done change
// unrecorded.
func (e *Engine) Execute(ctx context.Context, id int64, by Actor) (*model.Action, error) {
	var (
		cur      *model.Action
		st       start
		admitted bool
	)
	err := e.st.Submit(ctx, func(tx store.Tx) error {
		cur, st = nil, start{}
		a, err := tx.Action(id)
		if err != nil {
			return err
		}
		cur = a
		st, err = e.startTx(tx, a, by, e.now(), &admitted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("execute action %d: %w", id, err)
	}
	return e.afterStart(ctx, cur, by, st)
}

// start is what startTx decided.
type start struct {
	started bool     // the action moved to running: make the connector call
	ref     *Refusal // refused (recorded)
	serr    error    // the action's state does not allow it
}

// startTx moves a, read in tx, to running when the caller's role, its state and the
// guardrails (with the connector's rate limit) allow: the compare-and-set that makes
// concurrent executes run one connector call. A running or succeeded action is left
// alone (a repeat is a no-op). admitted keeps a rate-limit token taken by an earlier
// run of the same op, which the writer repeats when another op of its batch fails.
func (e *Engine) startTx(tx store.Tx, a *model.Action, by Actor, now time.Time, admitted *bool) (start, error) {
	if ref := needRole(by, RoleResponder, "executing an action"); ref != nil {
		return start{ref: ref}, e.recordRefusal(tx, a, by, now, "execution", ref)
	}
	switch a.State {
	case model.ActionRunning, model.ActionSucceeded:
		return start{}, nil
	case model.ActionApproved, model.ActionFailed:
	default:
		return start{serr: &StateError{ActionID: a.ID, State: a.State, Op: "execute"}}, nil
	}
	if _, ok := e.conns[a.Connector]; !ok {
		ref := &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("connector %q is not configured", a.Connector)}
		return start{ref: ref}, e.recordRefusal(tx, a, by, now, "execution", ref)
	}
	req, err := requestOf(a)
	if err != nil {
		return start{}, err
	}
	if !*admitted {
		if err := e.guard.Admit(req, connectors.Scope{Connector: a.Connector, AllowInternal: a.AllowInternal}); err != nil {
			ref, ok := refusalFrom(err)
			if !ok {
				ref = &Refusal{Rule: RuleConnector, Msg: err.Error()}
			}
			return start{ref: ref}, e.recordRefusal(tx, a, by, now, "execution", ref)
		}
		*admitted = true
	}
	retry := a.State == model.ActionFailed
	a.State, a.Error, a.UpdatedAt = model.ActionRunning, "", now
	a.Attempts++
	if err := tx.PutAction(a); err != nil {
		return start{}, err
	}
	text := fmt.Sprintf("%s running, started by %s", describe(a), by.Name)
	if retry {
		text = fmt.Sprintf("%s retried by %s (attempt %d)", describe(a), by.Name, a.Attempts)
	}
	return start{started: true}, e.record(tx, a, by, now, "running", "action.running", text,
		map[string]any{"attempt": a.Attempts, "dry_run": a.DryRun})
}

// afterStart acts on startTx's decision once its transaction committed.
func (e *Engine) afterStart(ctx context.Context, a *model.Action, by Actor, st start) (*model.Action, error) {
	switch {
	case st.serr != nil:
		return nil, st.serr
	case st.ref != nil:
		e.publish(Event{Kind: "refused", IncidentID: a.IncidentID, ActionID: a.ID, Action: a, Refusal: st.ref})
		return nil, st.ref
	case !st.started:
		return a, nil
	}
	e.publish(Event{Kind: "running", IncidentID: a.IncidentID, ActionID: a.ID, Action: a})
	return e.run(ctx, a, by)
}

// run makes the connector call of an action just moved to running, verifies it and
// records the outcome.
func (e *Engine) run(ctx context.Context, a *model.Action, by Actor) (*model.Action, error) {
	req, err := requestOf(a)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.CallTimeout)
	defer cancel()
	var (
		res  connectors.Result
		v    connectors.Verification
		verr error
	)
	if a.DryRun {
		d, perr := e.conns[a.Connector].Preview(cctx, req)
		if perr != nil {
			err = perr
		} else {
			res = e.sim.Execute(req, d)
			v = e.sim.Verify(req)
		}
	} else {
		c := e.conns[a.Connector]
		res, err = c.Execute(cctx, req)
		if err == nil {
			v, verr = c.Verify(cctx, req)
		}
	}
	var out *model.Action
	var kind string
	err2 := e.st.Submit(context.WithoutCancel(ctx), func(tx store.Tx) error {
		out, kind = nil, ""
		cur, err2 := tx.Action(a.ID)
		if err2 != nil {
			return err2
		}
		now := e.now()
		cur.UpdatedAt = now
		switch {
		case err != nil:
			kind = "failed"
			cur.State, cur.Error, cur.Result = model.ActionFailed, err.Error(), ""
		case verr == nil && !v.InPlace:
			kind = "failed"
			cur.State, cur.Result = model.ActionFailed, res.Detail
			cur.Verified, cur.Verification = false, v.Detail
			cur.Error = "verification failed: the change is not in place: " + v.Detail
		default:
			kind = "succeeded"
			cur.State, cur.Result, cur.Error = model.ActionSucceeded, res.Detail, ""
			if verr != nil {
				cur.Verified, cur.Verification = false, "could not verify: "+verr.Error()
			} else {
				cur.Verified, cur.Verification = true, v.Detail
			}
			at := now
			cur.ExecutedAt = &at
			if expiring(cur) {
				exp := now.Add(cur.TTL)
				cur.ExpiresAt = &exp
			}
		}
		if err := tx.PutAction(cur); err != nil {
			return err
		}
		out = cur
		if kind == "failed" {
			return e.record(tx, cur, by, now, "failed", "action.failed",
				fmt.Sprintf("%s failed: %s", describe(cur), cur.Error),
				map[string]any{"error": cur.Error, "retryable": connectors.Retryable(err), "attempt": cur.Attempts})
		}
		extra := map[string]any{"result": cur.Result, "verified": cur.Verified, "verification": cur.Verification,
			"changed": res.Changed, "dry_run": cur.DryRun || res.DryRun}
		if cur.ExpiresAt != nil {
			extra["expires_at"] = cur.ExpiresAt.Format(time.RFC3339)
		}
		text := fmt.Sprintf("%s succeeded: %s; verification: %s", describe(cur), cur.Result, cur.Verification)
		return e.record(tx, cur, by, now, "succeeded", "action.succeeded", text, extra)
	})
	if err2 != nil {
		return nil, fmt.Errorf("record the outcome of action %d (the connector call %s; the action stays running until the next start marks it failed): %w",
			a.ID, outcome(err), err2)
	}
	e.publish(Event{Kind: kind, IncidentID: out.IncidentID, ActionID: out.ID, Action: out})
	if out.ExpiresAt != nil {
		e.Wake()
	}
	if kind == "succeeded" {
		e.markContained(ctx, out, by)
	}
	if kind == "failed" {
		return out, &Failed{Action: out, Err: err}
	}
	return out, nil
}

// markContained moves the incident to contained after a verified containment that
// changed something real (not a dry run; on a drill incident, whose actions all run
// dry, the dry run counts). An incident already contained, resolved or closed stays
// as it is.
func (e *Engine) markContained(ctx context.Context, a *model.Action, by Actor) {
	if e.opts.Incidents == nil || !a.Verified || !connectors.ActionKind(a.Kind).Containment() {
		return
	}
	if a.DryRun {
		// A drill's dry-run containment counts: the drill rehearses the response.
		if inc, err := e.st.Incident(ctx, a.IncidentID); err != nil || inc.Kind != model.KindDrill {
			return
		}
	}
	note := fmt.Sprintf("%s succeeded and is verified (action %d)", describe(a), a.ID)
	_, err := e.opts.Incidents.SetStatus(context.WithoutCancel(ctx), a.IncidentID, model.StatusContained, by.Name, note)
	if err != nil && !errors.Is(err, triage.ErrTransition) {
		e.log.Warn("could not mark the incident contained", "incident", a.IncidentID, "action", a.ID, "error", err)
	}
}

func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "succeeded"
}

// Failed is returned by Execute (and the calls that execute: Propose, Approve) when
// the connector call or its verification failed. The action is recorded as failed,
// with its error, and can be retried with Execute.
type Failed struct {
	Action *model.Action
	Err    error // the connector's error; nil when verification found the change absent
}

func (f *Failed) Error() string {
	return fmt.Sprintf("action %d failed: %s", f.Action.ID, f.Action.Error)
}

func (f *Failed) Unwrap() error { return f.Err }

// Revert rolls back a succeeded action through its connector (for an automatic
// action pending review: the Release decision). It needs the responder role.
// Reverting an action already reverted or expired returns it unchanged.
func (e *Engine) Revert(ctx context.Context, id int64, by Actor) (*model.Action, error) {
	return e.undo(ctx, id, by, model.ActionReverted)
}

// undo rolls back a succeeded action and records it as reverted (by a person) or
// expired (by the scheduler).
func (e *Engine) undo(ctx context.Context, id int64, by Actor, to model.ActionState) (*model.Action, error) {
	unlock := e.lockUndo(id)
	defer unlock()
	a, err := e.st.Action(ctx, id)
	if err != nil {
		return nil, err
	}
	if r := needRole(by, RoleResponder, "reverting an action"); r != nil {
		return nil, e.refuse(ctx, a, by, "revert", r)
	}
	switch a.State {
	case model.ActionReverted, model.ActionExpired:
		return a, nil
	case model.ActionSucceeded:
	default:
		return nil, &StateError{ActionID: id, State: a.State, Op: "revert"}
	}
	c, ok := e.conns[a.Connector]
	if !ok && !a.DryRun {
		return nil, e.refuse(ctx, a, by, "revert", &Refusal{Rule: RuleConnector, Msg: fmt.Sprintf("connector %q is not configured; it cannot roll the action back", a.Connector)})
	}
	req, err := requestOf(a)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.CallTimeout)
	defer cancel()
	var res connectors.Result
	var cerr error
	if a.DryRun {
		res = e.sim.Revert(req, connectors.Diff{Changes: []string{"undo: " + a.Diff}})
	} else {
		res, cerr = c.Revert(cctx, req)
	}
	var (
		out  *model.Action
		kind string
	)
	err = e.st.Submit(context.WithoutCancel(ctx), func(tx store.Tx) error {
		out, kind = nil, ""
		cur, err := tx.Action(id)
		if err != nil {
			return err
		}
		if cur.State != model.ActionSucceeded {
			out = cur
			return nil
		}
		now := e.now()
		cur.UpdatedAt = now
		if cerr != nil {
			kind = "revert_failed"
			cur.Error = "rollback failed: " + cerr.Error()
			if err := tx.PutAction(cur); err != nil {
				return err
			}
			out = cur
			return e.record(tx, cur, by, now, kind, "action.revert_failed",
				fmt.Sprintf("%s: rollback by %s failed: %s", describe(cur), by.Name, cerr.Error()),
				map[string]any{"error": cerr.Error(), "retryable": connectors.Retryable(cerr)})
		}
		cur.State, cur.Error, cur.PendingReview = to, "", false
		at := now
		cur.RevertedAt = &at
		cur.Result = res.Detail
		if err := tx.PutAction(cur); err != nil {
			return err
		}
		out = cur
		kind = string(to)
		text := fmt.Sprintf("%s reverted by %s: %s", describe(cur), by.Name, res.Detail)
		if to == model.ActionExpired {
			text = fmt.Sprintf("%s expired after %s and was rolled back: %s", describe(cur), connectors.FormatDuration(cur.TTL), res.Detail)
		}
		return e.record(tx, cur, by, now, kind, "action."+kind, text, map[string]any{"result": res.Detail, "changed": res.Changed})
	})
	if err != nil {
		return nil, fmt.Errorf("record the rollback of action %d: %w", id, err)
	}
	if kind != "" {
		e.publish(Event{Kind: kind, IncidentID: out.IncidentID, ActionID: id, Action: out})
	}
	if cerr != nil {
		return out, fmt.Errorf("roll back action %d: %w", id, cerr)
	}
	return out, nil
}

// lockUndo serialises rollbacks of one action, so concurrent reverts make one
// connector call.
func (e *Engine) lockUndo(id int64) func() {
	e.mu.Lock()
	l := e.undoLocks[id]
	if l == nil {
		l = &keyLock{}
		e.undoLocks[id] = l
	}
	l.refs++
	e.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		e.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(e.undoLocks, id)
		}
		e.mu.Unlock()
	}
}

// IsPeopleRefusal reports whether err is a refusal by a rule about people (role,
// two-person, distinct approvers) rather than a guardrail.
func IsPeopleRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r) && !r.Guardrail()
}
