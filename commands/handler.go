package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Pipeline moves incidents through their statuses (triage.Pipeline).
type Pipeline interface {
	SetStatus(ctx context.Context, incidentID int64, to model.Status, actor, note string) (*model.Incident, error)
}

// Actions is the response engine as the handlers use it (actions.Engine).
type Actions interface {
	Propose(ctx context.Context, incidentID int64, req actions.ProposeRequest, by actions.Actor) (*model.Action, error)
	Approve(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
	Reject(ctx context.Context, id int64, by actions.Actor, reason string) (*model.Action, error)
	Execute(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
	Revert(ctx context.Context, id int64, by actions.Actor) (*model.Action, error)
	List(ctx context.Context, incidentID int64) ([]*model.Action, error)
	Get(ctx context.Context, id int64) (*model.Action, error)
}

var _ Actions = (*actions.Engine)(nil)

// Store is what the handlers read and write.
type Store interface {
	store.Writer
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	Incidents(ctx context.Context, f store.IncidentFilter) ([]*model.Incident, string, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
	ChatButtonByToken(ctx context.Context, token string) (*store.ChatButton, error)
}

// Options configure a Handler.
type Options struct {
	Pipeline Pipeline
	Store    Store
	// Actions is the response engine; without one, containment answers that none is
	// configured.
	Actions Actions
	Roles   *bot.Roles
	Clock   clock.Clock
	Log     *slog.Logger
	// Drills starts gap drills; nil answers that drills are not enabled.
	Drills Drills
}

// Drills starts gap drills (the drill runner).
type Drills interface {
	// StartDrill starts a run of scenario on behalf of by and returns the run id.
	StartDrill(ctx context.Context, scenario, by string) (string, error)
	// DrillScenarios lists the scenario names.
	DrillScenarios() []string
}

// Handler answers chat commands and button clicks for every platform. Each one is
// checked against the user's role; a refusal is answered to the user alone and
// written to the audit log.
type Handler struct {
	o Options
}

var _ bot.Handler = (*Handler)(nil)

// New returns a handler.
func New(o Options) (*Handler, error) {
	if o.Pipeline == nil || o.Store == nil || o.Roles == nil || o.Clock == nil || o.Log == nil {
		return nil, errors.New("commands: Pipeline, Store, Roles, Clock and Log are required")
	}
	return &Handler{o: o}, nil
}

// The roles commands and clicks need.
var needs = map[Name]config.Role{
	Status: config.RoleViewer, Timeline: config.RoleViewer,
	Ack: config.RoleResponder, Assign: config.RoleResponder, Note: config.RoleResponder,
	Resolve: config.RoleResponder, FalsePositive: config.RoleResponder,
	Block: config.RoleResponder, Unblock: config.RoleResponder, Isolate: config.RoleResponder, Release: config.RoleResponder,
	Drill: config.RoleResponder,
}

// request is one interaction being handled.
type request struct {
	in    bot.Interaction
	role  config.Role
	actor string
}

func (r *request) by() actions.Actor { return actions.Actor{Name: r.actor, Role: string(r.role)} }

func private(format string, args ...any) bot.Reply {
	return bot.Reply{Text: fmt.Sprintf(format, args...), Private: true}
}

func public(changed int64, format string, args ...any) bot.Reply {
	return bot.Reply{Text: fmt.Sprintf(format, args...), Changed: []int64{changed}}
}

// Handle implements bot.Handler.
func (h *Handler) Handle(ctx context.Context, in bot.Interaction) bot.Reply {
	r := &request{in: in, role: h.o.Roles.Of(in.Platform, in.User), actor: in.User.Actor(in.Platform)}
	switch in.Kind {
	case bot.Click:
		return h.click(ctx, r)
	case bot.Command:
		return h.command(ctx, r)
	}
	return private("unknown interaction %q", in.Kind)
}

// refuse answers privately and records the refusal in the audit log.
func (h *Handler) refuse(ctx context.Context, r *request, incidentID int64, what string, need config.Role) bot.Reply {
	role := string(r.role)
	if role == "" {
		role = "no role"
	}
	subject := ""
	if incidentID > 0 {
		subject = model.IncidentNumber(incidentID)
	}
	detail, _ := json.Marshal(map[string]any{"platform": r.in.Platform, "user": r.in.User.ID, "what": what,
		"role": string(r.role), "needs": string(need)})
	err := h.o.Store.Submit(ctx, func(tx store.Tx) error {
		return tx.AppendAudit(&model.AuditEntry{At: h.o.Clock.Now().UTC(), Actor: r.actor, Action: "chat.refused",
			Subject: subject, Detail: detail})
	})
	if err != nil {
		h.o.Log.Error("chat: could not record a refusal in the audit log", "actor", r.actor, "err", err)
	}
	rep := private("Not allowed: you have %s; %s needs %s or above.", role, what, need)
	rep.Refused = true
	return rep
}

func (h *Handler) allowed(r *request, need config.Role) bool { return r.role.Allows(need) }

func (h *Handler) command(ctx context.Context, r *request) bot.Reply {
	cmd, err := Parse(r.in.Text, r.in.IncidentID != 0)
	if err != nil {
		return private("%v", err)
	}
	if cmd.Name == Help {
		return private("%s", Usage())
	}
	id := cmd.Incident
	if id == 0 {
		id = r.in.IncidentID
	}
	if need := needs[cmd.Name]; !h.allowed(r, need) {
		return h.refuse(ctx, r, id, "/warroom "+string(cmd.Name), need)
	}
	if cmd.Name == Status {
		return h.status(ctx)
	}
	if cmd.Name == Drill {
		return h.drill(ctx, r, cmd)
	}
	inc, err := h.o.Store.Incident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return private("%s does not exist.", model.IncidentNumber(id))
	}
	if err != nil {
		return h.failed(err)
	}
	switch cmd.Name {
	case Ack:
		return h.setStatus(ctx, r, inc, model.StatusAcknowledged, "")
	case Resolve:
		return h.setStatus(ctx, r, inc, model.StatusResolved, cmd.Text)
	case FalsePositive:
		return h.setStatus(ctx, r, inc, model.StatusFalsePositive, cmd.Text)
	case Timeline:
		return h.timeline(ctx, inc)
	case Note:
		return h.note(ctx, r, inc, cmd.Text)
	case Assign:
		return h.assign(ctx, r, inc, cmd.User)
	case Block, Unblock:
		kind := "block_ip"
		if cmd.Name == Unblock {
			kind = "unblock_ip"
		}
		return h.propose(ctx, r, inc, actions.ProposeRequest{Kind: kind, Target: cmd.Target.String(), TTL: cmd.TTL})
	case Isolate, Release:
		kind := "isolate_host"
		if cmd.Name == Release {
			kind = "release_host"
		}
		return h.propose(ctx, r, inc, actions.ProposeRequest{Kind: kind, Target: cmd.Host})
	}
	return private("%s is not handled here.", cmd.Name)
}

func (h *Handler) failed(err error) bot.Reply {
	h.o.Log.Error("chat: command failed", "err", err)
	return private("Something went wrong on warroom's side; try again in a moment. (%s)", bot.Truncate(err.Error(), 200))
}

func (h *Handler) setStatus(ctx context.Context, r *request, inc *model.Incident, to model.Status, note string) bot.Reply {
	_, err := h.o.Pipeline.SetStatus(ctx, inc.ID, to, r.actor, note)
	var te *triage.TransitionError
	if errors.As(err, &te) {
		return private("%s: %v", inc.Number, te.Reason)
	}
	if err != nil {
		return h.failed(err)
	}
	who := r.in.User.Display()
	var text string
	switch to {
	case model.StatusAcknowledged:
		text = fmt.Sprintf("%s acknowledged %s.", who, inc.Number)
	case model.StatusResolved:
		text = fmt.Sprintf("%s resolved %s.", who, inc.Number)
	case model.StatusFalsePositive:
		text = fmt.Sprintf("%s closed %s as a false positive.", who, inc.Number)
	}
	if note != "" {
		text = strings.TrimSuffix(text, ".") + ": " + note
	}
	return public(inc.ID, "%s", text)
}

func (h *Handler) status(ctx context.Context) bot.Reply {
	var all []*model.Incident
	for _, st := range []model.Status{model.StatusOpen, model.StatusAcknowledged, model.StatusContained} {
		list, _, err := h.o.Store.Incidents(ctx, store.IncidentFilter{Status: st, Limit: 50})
		if err != nil {
			return h.failed(err)
		}
		for _, inc := range list {
			if inc.Notifiable {
				all = append(all, inc)
			}
		}
	}
	if len(all) == 0 {
		return private("No open incidents.")
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Severity != all[j].Severity {
			return all[i].Severity > all[j].Severity
		}
		return all[i].ID > all[j].ID
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d open incidents:\n", len(all))
	for i, inc := range all {
		if i == 20 {
			fmt.Fprintf(&b, "… and %d more\n", len(all)-20)
			break
		}
		fmt.Fprintf(&b, "%s  %-8s %-12s %s (%d alerts)\n", inc.Number, inc.Severity, inc.Status, bot.CleanText(inc.Title), inc.AlertCount)
	}
	return private("%s", strings.TrimRight(b.String(), "\n"))
}

func (h *Handler) timeline(ctx context.Context, inc *model.Incident) bot.Reply {
	evs, err := h.o.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return h.failed(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Timeline of %s:\n", inc.Number)
	start := max(0, len(evs)-25)
	if start > 0 {
		fmt.Fprintf(&b, "(%d earlier events left out)\n", start)
	}
	for _, ev := range evs[start:] {
		fmt.Fprintf(&b, "%s  %s  %s\n", ev.At.UTC().Format("2006-01-02 15:04:05"), ev.Actor, bot.CleanText(ev.Text))
	}
	return private("%s", strings.TrimRight(b.String(), "\n"))
}

// record appends a timeline event and an audit entry about an incident in one
// transaction.
func (h *Handler) record(ctx context.Context, r *request, inc *model.Incident, kind, text, audit string, data map[string]any, extra func(store.Tx) error) error {
	now := h.o.Clock.Now().UTC()
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return h.o.Store.Submit(ctx, func(tx store.Tx) error {
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		if err := tx.AppendTimeline(&model.TimelineEvent{IncidentID: inc.ID, At: now, Actor: r.actor, Kind: kind, Text: text, Data: raw}); err != nil {
			return err
		}
		return tx.AppendAudit(&model.AuditEntry{At: now, Actor: r.actor, Action: audit, Subject: inc.Number, Detail: raw})
	})
}

func (h *Handler) note(ctx context.Context, r *request, inc *model.Incident, text string) bot.Reply {
	text = bot.Truncate(bot.CleanText(text), 2000)
	if err := h.record(ctx, r, inc, "note", text, "incident.note", map[string]any{"platform": r.in.Platform}, nil); err != nil {
		return h.failed(err)
	}
	return public(inc.ID, "%s: %s", r.in.User.Display(), text)
}

func (h *Handler) assign(ctx context.Context, r *request, inc *model.Incident, user string) bot.Reply {
	user = bot.CleanText(user)
	if !inc.Status.Live() {
		return private("%s is %s; it needs no commander any more.", inc.Number, inc.Status)
	}
	now := h.o.Clock.Now().UTC()
	err := h.record(ctx, r, inc, "commander", fmt.Sprintf("%s made %s the incident commander", r.actor, user), "incident.commander",
		map[string]any{"commander": user, "platform": r.in.Platform}, func(tx store.Tx) error {
			return tx.SetIncidentCommander(inc.ID, user, r.actor, now)
		})
	if err != nil {
		return h.failed(err)
	}
	return public(inc.ID, "%s made %s the incident commander of %s.", r.in.User.Display(), user, inc.Number)
}

// actionText is "Block 203.0.113.45/32 (24h)".
func actionText(a *model.Action) string { return bot.ActionLabel(a.Kind, a.Target, a.TTL) }

// outcome describes where an action stands after a change.
func outcome(a *model.Action) string {
	switch a.State {
	case model.ActionProposed:
		return bot.ApprovalState(a, "")
	case model.ActionApproved:
		return "approved; it runs shortly"
	case model.ActionRunning:
		return "running"
	case model.ActionSucceeded:
		if a.Verified {
			return "it succeeded and is verified"
		}
		return "it succeeded"
	case model.ActionFailed:
		return "it failed: " + bot.Truncate(a.Error, 200)
	}
	return string(a.State)
}

// engineError answers an error of the actions engine: refusals and wrong states go
// to the user alone (the engine has recorded refusals itself).
func (h *Handler) engineError(err error) bot.Reply {
	var ref *actions.Refusal
	if errors.As(err, &ref) {
		rep := private("Refused (%s): %s", ref.Rule, ref.Msg)
		rep.Refused = true
		return rep
	}
	var fe *actions.Failed
	if errors.As(err, &fe) && fe.Action != nil {
		return public(fe.Action.IncidentID, "%s failed: %s. Use the Retry button to try again.", actionText(fe.Action), bot.Truncate(fe.Action.Error, 200))
	}
	if errors.Is(err, actions.ErrState) || errors.Is(err, actions.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
		return private("%v", err)
	}
	return h.failed(err)
}

func (h *Handler) propose(ctx context.Context, r *request, inc *model.Incident, req actions.ProposeRequest) bot.Reply {
	if h.o.Actions == nil {
		return private("No response engine is configured, so warroom cannot run actions here.")
	}
	a, err := h.o.Actions.Propose(ctx, inc.ID, req, r.by())
	if err != nil {
		return h.engineError(err)
	}
	if a.RequestedBy != r.actor && a.State == model.ActionProposed {
		// The same change was already proposed (by a playbook or someone else).
		return h.requestApproval(ctx, r, inc, a)
	}
	return public(inc.ID, "%s requests: %s — %s.", r.in.User.Display(), actionText(a), outcome(a))
}

// requestApproval records that r asks for a proposed action (made by a playbook or
// someone else) to be approved: the first person behind it, whom the two-person rule
// keeps from approving it too.
func (h *Handler) requestApproval(ctx context.Context, r *request, inc *model.Incident, a *model.Action) bot.Reply {
	tl, err := h.o.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return h.failed(err)
	}
	if by, ok := bot.ChatRequests(tl)[a.ID]; ok {
		return private("%s is already requested by %s; it is waiting for a second approver.", actionText(a), by)
	}
	err = h.record(ctx, r, inc, bot.RequestKind, fmt.Sprintf("%s requests approval of %s", r.actor, actionText(a)), "chat.request",
		map[string]any{"action_id": a.ID, "kind": a.Kind, "target": a.Target, "platform": r.in.Platform}, nil)
	if err != nil {
		return h.failed(err)
	}
	return public(inc.ID, "%s requests: %s — waiting for a second approver.", r.in.User.Display(), actionText(a))
}

func (h *Handler) click(ctx context.Context, r *request) bot.Reply {
	btn, err := h.o.Store.ChatButtonByToken(ctx, r.in.ActionID)
	if errors.Is(err, store.ErrNotFound) {
		return private("This button is unknown or has expired.")
	}
	if err != nil {
		return h.failed(err)
	}
	if r.in.IncidentID != 0 && r.in.IncidentID != btn.IncidentID {
		return private("This button belongs to another incident's room.")
	}
	if !h.allowed(r, config.RoleResponder) {
		return h.refuse(ctx, r, btn.IncidentID, buttonWhat(btn.Verb), config.RoleResponder)
	}
	inc, err := h.o.Store.Incident(ctx, btn.IncidentID)
	if err != nil {
		return h.failed(err)
	}
	switch btn.Verb {
	case bot.VerbAck:
		return h.setStatus(ctx, r, inc, model.StatusAcknowledged, "")
	case bot.VerbResolve:
		return h.setStatus(ctx, r, inc, model.StatusResolved, "")
	case bot.VerbFalsePositive:
		return h.setStatus(ctx, r, inc, model.StatusFalsePositive, "")
	case bot.VerbPropose:
		var p bot.Proposal
		if err := json.Unmarshal(btn.Data, &p); err != nil {
			return h.failed(fmt.Errorf("button data: %w", err))
		}
		return h.propose(ctx, r, inc, actions.ProposeRequest{Kind: p.Kind, Target: p.Target, Connector: p.Connector, TTL: p.TTL,
			Playbook: p.Playbook, PlaybookAction: p.PlaybookAction,
			Policy: &model.ApprovalPolicy{Approvers: p.Approvers, Roles: p.Roles, TwoPerson: p.TwoPerson, Expires: p.Expires}})
	}
	if h.o.Actions == nil {
		return private("No response engine is configured, so warroom cannot run actions here.")
	}
	id, err := strconv.ParseInt(btn.Subject, 10, 64)
	if err != nil {
		return h.failed(fmt.Errorf("button subject %q: %w", btn.Subject, err))
	}
	a, err := h.o.Actions.Get(ctx, id)
	if err != nil {
		return h.engineError(err)
	}
	who := r.in.User.Display()
	switch btn.Verb {
	case bot.VerbApprove:
		return h.approve(ctx, r, inc, a)
	case bot.VerbReject:
		a, err = h.o.Actions.Reject(ctx, id, r.by(), "rejected in chat")
		if err != nil {
			return h.engineError(err)
		}
		return public(inc.ID, "%s rejected %s.", who, actionText(a))
	case bot.VerbRevert:
		a, err = h.o.Actions.Revert(ctx, id, r.by())
		if err != nil {
			return h.engineError(err)
		}
		return public(inc.ID, "%s undid %s.", who, actionText(a))
	case bot.VerbRetry:
		a, err = h.o.Actions.Execute(ctx, id, r.by())
		if err != nil {
			return h.engineError(err)
		}
		return public(inc.ID, "%s retried %s — %s.", who, actionText(a), outcome(a))
	}
	return private("This button does nothing any more.")
}

// approve is the click on a proposed action: an approver approves it; a responder
// asks for it (the first person behind a playbook's proposal), and the room then
// waits for a second person to approve.
func (h *Handler) approve(ctx context.Context, r *request, inc *model.Incident, a *model.Action) bot.Reply {
	if a.State != model.ActionProposed && !(a.State == model.ActionSucceeded && a.PendingReview) {
		return private("%s is already %s.", actionText(a), a.State)
	}
	tl, err := h.o.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return h.failed(err)
	}
	requester, requested := bot.ChatRequests(tl)[a.ID]
	if !mayApprove(r.role, a.Policy) {
		if requested || a.RequestedBy == r.actor {
			return h.refuse(ctx, r, inc.ID, "approving "+actionText(a), config.RoleApprover)
		}
		return h.requestApproval(ctx, r, inc, a)
	}
	if requested && requester == r.actor && a.Policy.TwoPerson {
		rep := private("You requested %s; under the two-person rule someone else must approve it.", actionText(a))
		rep.Refused = true
		h.auditTwoPerson(ctx, r, inc, a)
		return rep
	}
	out, err := h.o.Actions.Approve(ctx, a.ID, r.by())
	if err != nil {
		return h.engineError(err)
	}
	if out.PendingReview || (a.State == model.ActionSucceeded && out.State == model.ActionSucceeded) {
		return public(inc.ID, "%s kept %s.", r.in.User.Display(), actionText(out))
	}
	return public(inc.ID, "%s approved %s — %s.", r.in.User.Display(), actionText(out), outcome(out))
}

func (h *Handler) auditTwoPerson(ctx context.Context, r *request, inc *model.Incident, a *model.Action) {
	detail, _ := json.Marshal(map[string]any{"platform": r.in.Platform, "user": r.in.User.ID, "action_id": a.ID, "rule": "two_person"})
	err := h.o.Store.Submit(ctx, func(tx store.Tx) error {
		return tx.AppendAudit(&model.AuditEntry{At: h.o.Clock.Now().UTC(), Actor: r.actor, Action: "chat.refused",
			Subject: inc.Number, Detail: detail})
	})
	if err != nil {
		h.o.Log.Error("chat: could not record a refusal in the audit log", "actor", r.actor, "err", err)
	}
}

// mayApprove reports whether role is one of those the policy lets approve.
func mayApprove(role config.Role, p model.ApprovalPolicy) bool {
	roles := p.Roles
	if len(roles) == 0 {
		roles = []string{string(config.RoleApprover), string(config.RoleAdmin)}
	}
	for _, need := range roles {
		if role.Allows(config.Role(need)) {
			return true
		}
	}
	return false
}

func buttonWhat(verb string) string {
	switch verb {
	case bot.VerbAck:
		return "acknowledging"
	case bot.VerbResolve:
		return "resolving"
	case bot.VerbFalsePositive:
		return "closing as a false positive"
	case bot.VerbPropose:
		return "requesting an action"
	case bot.VerbApprove:
		return "approving an action"
	case bot.VerbReject:
		return "rejecting an action"
	case bot.VerbRevert:
		return "undoing an action"
	case bot.VerbRetry:
		return "retrying an action"
	}
	return "this button"
}

// drill starts a gap drill or lists the scenarios.
func (h *Handler) drill(ctx context.Context, r *request, cmd Command) bot.Reply {
	if h.o.Drills == nil || h.o.Drills.DrillScenarios() == nil {
		return private("Drills are not enabled here; set drills.enabled: true in the configuration.")
	}
	if cmd.Text == "list" {
		return private("Drill scenarios: %s", strings.Join(h.o.Drills.DrillScenarios(), ", "))
	}
	id, err := h.o.Drills.StartDrill(ctx, cmd.Scenario, r.actor)
	if err != nil {
		return private("The drill did not start: %s", bot.Truncate(err.Error(), 300))
	}
	return private("Drill %s (%s) started by %s: its alerts arrive over the next minutes and open a drill- room. Actions there run in dry-run.",
		id, cmd.Scenario, r.actor)
}
