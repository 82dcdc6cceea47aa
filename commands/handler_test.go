package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	"github.com/warroom/warroom/commands"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/edl"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)

// rig is a store on a real file, the pipeline, the actions engine with an EDL, the
// command handler and a bot with a recording platform.
type rig struct {
	t    *testing.T
	clk  *clock.Fake
	st   *store.SQLite
	pipe *triage.Pipeline
	eng  *actions.Engine
	list *edl.EDL
	h    *commands.Handler
	bot  *bot.Bot
	chat *bottest.Fake
	seq  int
}

var users = map[string]config.Role{
	"alice": config.RoleResponder, "carol": config.RoleResponder, "bob": config.RoleApprover,
	"vera": config.RoleViewer, "adam": config.RoleAdmin,
}

func newRig(t *testing.T, roles map[string]config.Role) *rig {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(t0.Add(10 * time.Minute))
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	pipe, err := triage.NewPipeline(ctx, st, triage.DefaultConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	list, err := edl.New(edl.DefaultConfig(), connectors.Env{Name: "edl", Clock: clk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := actions.New(ctx, actions.Options{Store: st, Connectors: map[string]connectors.Connector{"edl": list},
		Playbooks: set, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	var bindings []bot.RoleBinding
	for u, r := range roles {
		bindings = append(bindings, bot.RoleBinding{Platform: "slack", User: u, Role: r})
	}
	rs, err := bot.NewRoles(bindings, "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := commands.New(commands.Options{Pipeline: pipe, Store: st, Actions: eng, Roles: rs, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	fake := bottest.New(t, "slack")
	b, err := bot.New(bot.Options{Store: st, Platforms: []bot.Platform{fake}, Handler: h, Clock: clk, Log: log,
		Playbooks: bot.NewPlaybookSet(set, st)})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, clk: clk, st: st, pipe: pipe, eng: eng, list: list, h: h, bot: b, chat: fake}
}

// incident opens the dev brute force as incident id, with its room and the
// playbook's proposed block.
func (r *rig) incident() int64 {
	r.t.Helper()
	var alerts []*model.Alert
	for i := range 5 {
		r.seq++
		alerts = append(alerts, &model.Alert{Source: "suricata", Format: "suricata", Rule: "ET SCAN Potential SSH Scan",
			Title: "ET SCAN Potential SSH Scan", Severity: model.SeverityMedium, Category: model.CategoryBruteforce,
			EventTime: t0.Add(time.Duration(r.seq) * time.Second),
			Entities: []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
				{Kind: model.EntityIP, Value: fmt.Sprintf("172.16.5.%d", 10+i%2), Role: model.RoleDst}},
			Fingerprint: fmt.Sprintf("fp-%d", r.seq)})
	}
	res, err := r.pipe.Ingest(context.Background(), alerts)
	if err != nil {
		r.t.Fatal(err)
	}
	a, err := r.st.Alert(context.Background(), res.IDs[0])
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.eng.Plan(context.Background(), a.IncidentID); err != nil {
		r.t.Fatal(err)
	}
	r.sync(a.IncidentID)
	return a.IncidentID
}

func (r *rig) sync(id int64) {
	r.t.Helper()
	if _, err := r.bot.Sync(context.Background(), id); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.bot.Outbox().DeliverDue(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// opening is the opening message of the incident's room as it reads now.
func (r *rig) opening(id int64) (*bottest.Room, *bot.Message) {
	r.t.Helper()
	for _, room := range r.chat.Rooms() {
		if room.Spec.IncidentID == id {
			m, ok := room.Message("opening")
			if !ok {
				r.t.Fatalf("room %s has no opening message", room.Name)
			}
			return room, m.Latest()
		}
	}
	r.t.Fatalf("incident %d has no room", id)
	return nil, nil
}

// button returns the action id of the opening message's button whose label starts
// with prefix.
func (r *rig) button(id int64, prefix string) (string, string) {
	r.t.Helper()
	room, m := r.opening(id)
	var labels []string
	for _, b := range m.Buttons {
		if strings.HasPrefix(b.Label, prefix) {
			return room.ID, b.ActionID
		}
		labels = append(labels, b.Label)
	}
	r.t.Fatalf("no button %q among %q", prefix, labels)
	return "", ""
}

func (r *rig) click(user string, id int64, prefix string) bot.Reply {
	r.t.Helper()
	room, tok := r.button(id, prefix)
	rep, err := r.bot.Interact(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Click, ActionID: tok,
		User: bot.User{ID: user, Name: user}, Room: bot.RoomRef{ID: room}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.sync(id)
	return rep
}

func (r *rig) command(user string, id int64, text string) bot.Reply {
	r.t.Helper()
	in := bot.Interaction{Platform: "slack", Kind: bot.Command, Text: text, User: bot.User{ID: user, Name: user}}
	if id != 0 {
		room, _ := r.opening(id)
		in.Room = bot.RoomRef{ID: room.ID}
	}
	rep, err := r.bot.Interact(context.Background(), in)
	if err != nil {
		r.t.Fatal(err)
	}
	if id != 0 {
		r.sync(id)
	}
	return rep
}

// refusals counts the chat.refused audit entries by actor.
func (r *rig) refusals(actor string) int {
	r.t.Helper()
	es, err := r.st.Audit(context.Background(), 0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == "chat.refused" && e.Actor == actor {
			n++
		}
	}
	return n
}

func TestClickToContainWithTwoPeople(t *testing.T) {
	r := newRig(t, users)
	ctx := context.Background()
	id := r.incident()

	// A viewer may look, not act: refused privately and audited.
	rep := r.click("vera", id, "Block 203.0.113.45/32 (24h)")
	if !rep.Private || !rep.Refused || !strings.Contains(rep.Text, "viewer") || r.refusals("slack:vera") != 1 {
		t.Fatalf("viewer click: %+v, %d refusals audited", rep, r.refusals("slack:vera"))
	}

	// alice (responder) asks for the playbook's block.
	rep = r.click("alice", id, "Block 203.0.113.45/32 (24h)")
	if rep.Private || !strings.Contains(rep.Text, "alice requests: Block 203.0.113.45/32 (24h) — waiting for a second approver") {
		t.Fatalf("alice's click: %+v", rep)
	}
	_, m := r.opening(id)
	if !strings.Contains(strings.Join(m.Sections[len(m.Sections)-1].Items, "\n"), "requested by slack:alice; waiting for a second approver") {
		t.Fatalf("opening after the request: %+v", m.Sections)
	}
	// carol (responder) may not approve it: refused, audited.
	if rep := r.click("carol", id, "Approve: Block 203.0.113.45/32"); !rep.Refused || !strings.Contains(rep.Text, "needs approver") ||
		r.refusals("slack:carol") != 1 {
		t.Fatalf("carol's click: %+v", rep)
	}
	// alice cannot approve it herself.
	if rep := r.click("alice", id, "Approve: Block 203.0.113.45/32"); !rep.Refused || r.refusals("slack:alice") != 1 {
		t.Fatalf("alice approving: %+v", rep)
	}
	if e, _ := r.list.Entries(ctx); len(e) != 0 {
		t.Fatalf("blocked before approval: %+v", e)
	}

	// bob (approver) approves: the block runs and is verified.
	rep = r.click("bob", id, "Approve: Block 203.0.113.45/32")
	if rep.Private || !strings.Contains(rep.Text, "bob approved Block 203.0.113.45/32 (24h) — it succeeded and is verified") {
		t.Fatalf("bob's click: %+v", rep)
	}
	entries, err := r.list.Entries(ctx)
	if err != nil || len(entries) != 1 || entries[0].Prefix.String() != "203.0.113.45/32" {
		t.Fatalf("EDL after approval: %+v %v", entries, err)
	}
	acts, _ := r.st.Actions(ctx, id)
	if len(acts) != 1 || acts[0].State != model.ActionSucceeded || len(acts[0].Approvals) != 1 || acts[0].Approvals[0].By != "slack:bob" {
		t.Fatalf("action: %+v", acts[0])
	}
	room, m := r.opening(id)
	if !strings.Contains(strings.Join(m.Sections[len(m.Sections)-1].Items, "\n"), "succeeded, verified") {
		t.Errorf("opening after the block: %+v", m.Sections)
	}
	var announced int
	for _, msg := range room.Messages {
		if strings.Contains(msg.Latest().Text, "Block 203.0.113.45/32 (24h) succeeded") {
			announced++
		}
	}
	if announced != 1 {
		t.Errorf("success announced %d times; messages %v", announced, room.Keys())
	}
	// The undo button rolls it back.
	if rep := r.click("alice", id, "Undo: Block 203.0.113.45/32"); rep.Private || !strings.Contains(rep.Text, "alice undid") {
		t.Fatalf("undo: %+v", rep)
	}
	if e, _ := r.list.Entries(ctx); len(e) != 0 {
		t.Errorf("EDL after undo: %+v", e)
	}
}

func TestTwoPersonRuleHoldsAcrossRoleChanges(t *testing.T) {
	r := newRig(t, users)
	id := r.incident()
	r.click("alice", id, "Block 203.0.113.45/32 (24h)")
	// alice is promoted; she still may not approve what she asked for.
	promoted := map[string]config.Role{"alice": config.RoleApprover}
	rs, _ := bot.NewRoles([]bot.RoleBinding{{Platform: "slack", User: "alice", Role: promoted["alice"]}}, "")
	h, err := commands.New(commands.Options{Pipeline: r.pipe, Store: r.st, Actions: r.eng, Roles: rs, Clock: r.clk, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	room, tok := r.button(id, "Approve: Block 203.0.113.45/32")
	rep := h.Handle(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Click, ActionID: tok, IncidentID: id,
		User: bot.User{ID: "alice"}, Room: bot.RoomRef{ID: room}})
	if !rep.Refused || !strings.Contains(rep.Text, "two-person rule") || r.refusals("slack:alice") != 1 {
		t.Fatalf("requester approving: %+v", rep)
	}
}

func TestApproverClickApprovesAtOnce(t *testing.T) {
	r := newRig(t, users)
	id := r.incident()
	rep := r.click("bob", id, "Block 203.0.113.45/32 (24h)")
	if rep.Private || !strings.Contains(rep.Text, "bob approved") {
		t.Fatalf("approver's first click: %+v", rep)
	}
}

func TestTypedContainment(t *testing.T) {
	r := newRig(t, users)
	ctx := context.Background()
	id := r.incident()

	rep := r.command("alice", id, "block 198.51.100.7 2h")
	if rep.Private || !strings.Contains(rep.Text, "alice requests: Block 198.51.100.7/32 (2h) — waiting for a second approver") {
		t.Fatalf("typed block: %+v", rep)
	}
	// The same block as the playbook's proposal becomes a request for it.
	rep = r.command("carol", id, "block 203.0.113.45")
	if rep.Private || !strings.Contains(rep.Text, "carol requests: Block 203.0.113.45/32 (24h)") {
		t.Fatalf("typed block of the proposal: %+v", rep)
	}
	r.click("bob", id, "Approve: Block 198.51.100.7/32")
	if e, _ := r.list.Entries(ctx); len(e) != 1 || e[0].Prefix.String() != "198.51.100.7/32" {
		t.Fatalf("EDL: %+v", e)
	}
	// Guardrails refuse privately, naming the rule.
	rep = r.command("alice", id, "block 10.0.0.5")
	if !rep.Private || !rep.Refused || !strings.Contains(rep.Text, "Refused (") {
		t.Fatalf("internal block: %+v", rep)
	}
	// A viewer may not block.
	if rep := r.command("vera", id, "block 198.51.100.8"); !rep.Refused || r.refusals("slack:vera") != 1 {
		t.Fatalf("viewer block: %+v", rep)
	}
	// Bad arguments get the usage line, privately.
	if rep := r.command("alice", id, "block nonsense"); !rep.Private || !strings.Contains(rep.Text, "Usage: /warroom block") {
		t.Fatalf("bad block: %+v", rep)
	}
}

func TestIncidentCommands(t *testing.T) {
	r := newRig(t, users)
	ctx := context.Background()
	id := r.incident()

	if rep := r.command("alice", id, "ack"); rep.Private || rep.Text != "alice acknowledged INC-0001." {
		t.Fatalf("ack: %+v", rep)
	}
	if rep := r.command("alice", id, "ack"); !rep.Private || !strings.Contains(rep.Text, "INC-0001") {
		t.Fatalf("second ack: %+v", rep)
	}
	if rep := r.command("alice", id, "assign @bob"); rep.Private || !strings.Contains(rep.Text, "made bob the incident commander") {
		t.Fatalf("assign: %+v", rep)
	}
	if c, _ := r.st.IncidentCommander(ctx, id); c != "bob" {
		t.Errorf("commander %q", c)
	}
	_, m := r.opening(id)
	if !strings.Contains(m.StatusLine, "Commander bob") {
		t.Errorf("status line %q", m.StatusLine)
	}
	if rep := r.command("carol", id, "note checked auth.log, no successful login <!channel>"); rep.Private || !strings.HasPrefix(rep.Text, "carol: checked auth.log") {
		t.Fatalf("note: %+v", rep)
	}
	rep := r.command("vera", id, "timeline")
	if !rep.Private || !strings.Contains(rep.Text, "slack:carol  checked auth.log") || !strings.Contains(rep.Text, "Timeline of INC-0001") {
		t.Fatalf("timeline: %+v", rep)
	}
	rep = r.command("vera", 0, "status")
	if !rep.Private || !strings.Contains(rep.Text, "INC-0001") || !strings.Contains(rep.Text, "acknowledged") {
		t.Fatalf("status: %+v", rep)
	}
	// Outside a room the incident must be named.
	if rep := r.command("alice", 0, "resolve"); !rep.Private || !strings.Contains(rep.Text, "name the incident") {
		t.Fatalf("resolve outside a room: %+v", rep)
	}
	if rep := r.command("vera", id, "resolve"); !rep.Refused {
		t.Fatalf("viewer resolve: %+v", rep)
	}
	if rep := r.command("alice", 0, "INC-0001 resolve blocked at the edge"); !rep.Private || rep.Text != "alice resolved INC-0001: blocked at the edge" {
		t.Fatalf("resolve typed outside the room: %+v", rep)
	}
	r.sync(id)
	room, _ := r.opening(id)
	if last := room.Messages[len(room.Messages)-1].Latest(); last.Text != "alice resolved INC-0001: blocked at the edge" {
		t.Errorf("the room did not get the answer: %q", last.Text)
	}
	inc, _ := r.st.Incident(ctx, id)
	if inc.Status != model.StatusResolved {
		t.Errorf("status %s", inc.Status)
	}
	if rep := r.command("nobody", id, "help"); !rep.Private || !strings.Contains(rep.Text, "/warroom block") {
		t.Fatalf("help: %+v", rep)
	}
	if rep := r.command("nobody", id, "status"); !rep.Refused || !strings.Contains(rep.Text, "no role") {
		t.Fatalf("unmapped user: %+v", rep)
	}
}

func TestButtonsAreCheckedAgainstTheirRoom(t *testing.T) {
	r := newRig(t, users)
	id := r.incident()
	_, tok := r.button(id, "Acknowledge")
	rep := r.h.Handle(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Click, ActionID: tok, IncidentID: id + 1,
		User: bot.User{ID: "alice"}})
	if !rep.Private || !strings.Contains(rep.Text, "another incident") {
		t.Fatalf("button from another room: %+v", rep)
	}
	rep = r.h.Handle(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Click, ActionID: "forged-token",
		User: bot.User{ID: "alice"}})
	if !rep.Private || !strings.Contains(rep.Text, "unknown") {
		t.Fatalf("forged token: %+v", rep)
	}
	if rep := r.click("alice", id, "Acknowledge"); rep.Private || rep.Text != "alice acknowledged INC-0001." {
		t.Fatalf("acknowledge button: %+v", rep)
	}
	if rep := r.click("alice", id, "False positive"); rep.Private || !strings.Contains(rep.Text, "false positive") {
		t.Fatalf("false positive button: %+v", rep)
	}
	_, m := r.opening(id)
	if m.Status != string(model.StatusFalsePositive) || len(m.Buttons) != 0 {
		t.Errorf("closed incident's opening: status %s, %d buttons", m.Status, len(m.Buttons))
	}
}

func TestRefusalAuditNamesWhatAndRole(t *testing.T) {
	r := newRig(t, users)
	id := r.incident()
	r.click("vera", id, "Resolve")
	es, err := r.st.Audit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]string
	for _, e := range es {
		if e.Action == "chat.refused" {
			if e.Subject != "INC-0001" {
				t.Errorf("subject %q", e.Subject)
			}
			json.Unmarshal(e.Detail, &d)
		}
	}
	if d["role"] != "viewer" || d["needs"] != "responder" || d["what"] != "resolving" || d["platform"] != "slack" {
		t.Fatalf("audit detail %v", d)
	}
	if n, err := r.st.VerifyAudit(context.Background()); err != nil || n == 0 {
		t.Fatalf("audit chain: %d %v", n, err)
	}
}
