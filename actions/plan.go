package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Planned is what Plan did for an incident.
type Planned struct {
	// Playbook is the matched playbook's id; empty when none matched.
	Playbook string
	// Actions are the actions this call proposed (automatic ones already executed).
	Actions []*model.Action
	// Refused are the proposals the policy or the guardrails refused (recorded in the
	// timeline and the audit log too). A proposal refused by an earlier plan of the
	// incident is listed without being proposed, or recorded, again.
	Refused []error
}

// refusedPlan is a playbook proposal refused while planning a live incident: by a
// rule that stays true while the configuration stays (no such connector, a
// guardrail), or by the rate limit until its RetryAfter.
type refusedPlan struct {
	key   uint64 // planKey
	until int64  // unix nanoseconds; 0 for as long as the incident is live
	rule  string
}

// maxRefusedIncidents bounds the incidents whose refused proposals are remembered;
// past it the memory starts over (each refusal is then recorded once more).
const maxRefusedIncidents = 16384

var planSeed = maphash.MakeSeed()

func planKey(pr playbooks.Proposal, target string) uint64 {
	var h maphash.Hash
	h.SetSeed(planSeed)
	for _, s := range []string{pr.Playbook, pr.ActionID, pr.Kind, target, pr.Connector} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// refusedBefore returns the rule that refused the proposal in an earlier plan of the
// incident, if that refusal still stands. The caller holds planMu.
func (e *Engine) refusedBefore(incidentID int64, key uint64) (string, bool) {
	now := e.clk.Now().UnixNano()
	for _, r := range e.refused[incidentID] {
		if r.key == key && (r.until == 0 || now < r.until) {
			return r.rule, true
		}
	}
	return "", false
}

// rememberRefusal keeps a refusal for the incident's next plans. The caller holds
// planMu.
func (e *Engine) rememberRefusal(incidentID int64, key uint64, ref *Refusal) {
	r := refusedPlan{key: key, rule: ref.Rule}
	if ref.Rule == RuleRateLimit {
		r.until = e.clk.Now().Add(max(ref.RetryAfter, time.Second)).UnixNano()
	}
	if e.refused == nil || len(e.refused) >= maxRefusedIncidents {
		e.refused = map[int64][]refusedPlan{}
	}
	list := slices.DeleteFunc(e.refused[incidentID], func(x refusedPlan) bool { return x.key == key })
	e.refused[incidentID] = append(list, r)
}

// Plan matches the playbook for an incident — read with up to Options.MaxPlanAlerts
// of its newest alerts — records it on the incident and its timeline when it changes,
// and proposes the playbook's actions with their exact targets, skipping the ones
// already proposed (same playbook action and target). Automatic actions are executed
// at once by System and wait for human review (Keep / Release). Incidents that are
// no longer live are left alone.
func (e *Engine) Plan(ctx context.Context, incidentID int64) (*Planned, error) {
	if e.set == nil {
		return &Planned{}, nil
	}
	e.planMu.Lock()
	defer e.planMu.Unlock()
	inc, err := e.st.Incident(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if !inc.Status.Live() {
		delete(e.refused, incidentID)
		return &Planned{}, nil
	}
	alerts, _, err := e.st.Alerts(ctx, store.AlertFilter{IncidentID: incidentID, Limit: e.opts.MaxPlanAlerts, NoRaw: true})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", inc.Number, err)
	}
	p, ok := e.set.Match(inc, alerts)
	if !ok {
		return &Planned{}, nil
	}
	out := &Planned{Playbook: p.ID}
	if inc.Playbook != p.ID {
		if err := e.recordPlaybook(ctx, inc, p); err != nil {
			return nil, err
		}
		e.publish(Event{Kind: "planned", IncidentID: inc.ID, Playbook: p.ID})
	}
	existing, err := e.st.Actions(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", inc.Number, err)
	}
	have := map[string]bool{}
	for _, a := range existing {
		have[a.Playbook+"\x00"+a.PlaybookAction+"\x00"+a.Target] = true
	}
	for _, pr := range p.Propose(inc, alerts) {
		target := pr.Target
		if t, err := connectors.ParseTarget(pr.Target); err == nil {
			target = t.String()
		}
		if have[pr.Playbook+"\x00"+pr.ActionID+"\x00"+target] {
			continue
		}
		key := planKey(pr, target)
		if rule, ok := e.refusedBefore(incidentID, key); ok {
			out.Refused = append(out.Refused, &Refusal{Rule: rule,
				Msg: fmt.Sprintf("%s %s was refused by an earlier plan of %s; its timeline says why", pr.Kind, target, inc.Number)})
			continue
		}
		policy := model.ApprovalPolicy{Approvers: pr.Approval.Approvers, Roles: pr.Approval.Roles,
			TwoPerson: pr.Approval.TwoPerson, Expires: pr.Approval.Expires}
		req := ProposeRequest{Kind: pr.Kind, Target: pr.Target, Connector: pr.Connector, TTL: pr.TTL, Policy: &policy,
			Playbook: pr.Playbook, PlaybookAction: pr.ActionID, Auto: pr.Auto, AllowInternal: allowInternal(p, pr.ActionID)}
		a, err := e.Propose(ctx, incidentID, req, System)
		var failed *Failed
		switch {
		case errors.Is(err, ErrRefused):
			if ref := (*Refusal)(nil); errors.As(err, &ref) {
				e.rememberRefusal(incidentID, key, ref)
			}
			out.Refused = append(out.Refused, err)
			continue
		case errors.As(err, &failed):
			out.Actions = append(out.Actions, failed.Action) // recorded as failed, with a retry
			continue
		case err != nil:
			return out, fmt.Errorf("plan %s: %w", inc.Number, err)
		}
		out.Actions = append(out.Actions, a)
	}
	return out, nil
}

func allowInternal(p *playbooks.Playbook, actionID string) bool {
	for _, a := range p.Actions {
		if a.ID == actionID {
			return a.AllowInternal
		}
	}
	return false
}

// recordPlaybook writes the matched playbook on the incident, its timeline and the
// audit log.
func (e *Engine) recordPlaybook(ctx context.Context, inc *model.Incident, p *playbooks.Playbook) error {
	data, err := json.Marshal(map[string]any{"playbook": p.ID, "title": p.Title, "previous": inc.Playbook, "checklist": p.Checklist})
	if err != nil {
		return fmt.Errorf("plan %s: %w", inc.Number, err)
	}
	detail, err := json.Marshal(map[string]any{"playbook": p.ID, "previous": inc.Playbook, "actor": System.Name})
	if err != nil {
		return fmt.Errorf("plan %s: %w", inc.Number, err)
	}
	now := e.now()
	text := fmt.Sprintf("Playbook %s matched: %s (%d checklist steps, %d actions)", p.ID, p.Title, len(p.Checklist), len(p.Actions))
	err = e.st.Submit(ctx, func(tx store.Tx) error {
		if err := tx.SetIncidentPlaybook(inc.ID, p.ID); err != nil {
			return err
		}
		if err := tx.AppendTimeline(&model.TimelineEvent{IncidentID: inc.ID, At: now, Actor: System.Name, Kind: "playbook",
			Text: text, Data: data}); err != nil {
			return err
		}
		return tx.AppendAudit(&model.AuditEntry{At: now, Actor: System.Name, Action: "incident.playbook",
			Subject: inc.Number, Detail: detail})
	})
	if err != nil {
		return fmt.Errorf("record the playbook of %s: %w", inc.Number, err)
	}
	return nil
}
