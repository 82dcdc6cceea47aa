package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

var t0 = time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)

// env is a store on a real file, the triage pipeline, and a bot on fake platforms.
type env struct {
	t    *testing.T
	path string
	clk  *clock.Fake
	st   *store.SQLite
	pipe *triage.Pipeline
	bot  *bot.Bot
	seq  int
}

func newEnv(t *testing.T, path string, clk *clock.Fake, platforms ...bot.Platform) *env {
	t.Helper()
	return newEnvWith(t, path, clk, nil, platforms...)
}

// newEnvWith is newEnv with a last say on the bot's options.
func newEnvWith(t *testing.T, path string, clk *clock.Fake, tune func(*bot.Options), platforms ...bot.Platform) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "warroom.db")
	}
	if clk == nil {
		clk = clock.NewFake(t0.Add(10 * time.Minute))
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path, store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	pipe, err := triage.NewPipeline(ctx, st, triage.DefaultConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	set, err := playbooks.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	opts := bot.Options{Store: st, Platforms: platforms, Clock: clk, Log: log, Events: pipe,
		Playbooks: suggesting(bot.NewPlaybookSet(set, st)), Backoff: bot.Backoff{Base: time.Second, Max: time.Minute},
		Handler: bot.HandlerFunc(func(ctx context.Context, in bot.Interaction) bot.Reply {
			return bot.Reply{Text: fmt.Sprintf("%s did %s%s on incident %d", in.User.Display(), in.Text, in.ActionID, in.IncidentID)}
		})}
	if tune != nil {
		tune(&opts)
	}
	b, err := bot.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, path: path, clk: clk, st: st, pipe: pipe, bot: b}
}

// ingest adds n SSH brute-force alerts from 203.0.113.45 against dst at severity sev.
func (e *env) ingest(n int, dst string, sev model.Severity) {
	e.t.Helper()
	e.ingestRule(n, dst, sev, "ET SCAN Potential SSH Scan")
}

// ingestRule is ingest with alerts of the given rule.
func (e *env) ingestRule(n int, dst string, sev model.Severity, rule string) {
	e.t.Helper()
	var alerts []*model.Alert
	for range n {
		e.seq++
		alerts = append(alerts, &model.Alert{Source: "suricata", Format: "suricata", Rule: rule,
			Title: rule, Severity: sev, Category: model.CategoryBruteforce,
			EventTime: t0.Add(time.Duration(e.seq) * time.Second),
			Entities: []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
				{Kind: model.EntityIP, Value: dst, Role: model.RoleDst}},
			Fingerprint: fmt.Sprintf("fp-%d", e.seq), URL: "https://siem.example/alerts/" + fmt.Sprint(e.seq)})
	}
	if _, err := e.pipe.Ingest(context.Background(), alerts); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) sync(id int64) time.Time {
	e.t.Helper()
	due, err := e.bot.Sync(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return due
}

func (e *env) deliver() int {
	e.t.Helper()
	n, err := e.bot.Outbox().DeliverDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) queued() []*store.ChatOp {
	e.t.Helper()
	ops, err := e.st.ChatOutbox(context.Background(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return ops
}

const roomName = "inc-0001-ssh-brute-force-203-0-113-45-172-16-5-10"

func onlyRoom(t *testing.T, f *bottest.Fake) *bottest.Room {
	t.Helper()
	rooms := f.Rooms()
	if len(rooms) != 1 {
		t.Fatalf("%s has %d rooms, want 1", f.Name(), len(rooms))
	}
	return rooms[0]
}

func TestRoomOpensOncePerPlatformWithTheOpeningMessage(t *testing.T) {
	slack, discord := bottest.New(t, "slack"), bottest.New(t, "discord")
	e := newEnv(t, "", nil, slack, discord)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.sync(1) // nothing changed: nothing more is queued
	if n := e.deliver(); n != 4 {
		t.Fatalf("delivered %d ops, want a room and an opening message on each of 2 platforms", n)
	}
	for _, f := range []*bottest.Fake{slack, discord} {
		r := onlyRoom(t, f)
		if r.Name != roomName || r.Spec.Number != "INC-0001" {
			t.Errorf("%s room %q %+v", f.Name(), r.Name, r.Spec)
		}
		if got := r.Keys(); !slices.Equal(got, []string{"opening"}) {
			t.Errorf("%s messages %v", f.Name(), got)
		}
		m, _ := r.Message("opening")
		op := m.Latest()
		if op.Narrative == nil || op.Narrative.Source != "template" || !strings.Contains(op.Header, "INC-0001") {
			t.Errorf("opening message: %+v", op)
		}
		labels := []string{}
		for _, b := range op.Buttons {
			labels = append(labels, b.Label)
			if strings.Contains(b.ActionID, "203") {
				t.Errorf("button id %q holds the target", b.ActionID)
			}
		}
		if !slices.Equal(labels, []string{"Block 203.0.113.45/32 (24h)", "Acknowledge", "Resolve", "False positive"}) {
			t.Errorf("buttons %v", labels)
		}
	}
	// The same click token on both platforms.
	m1, _ := onlyRoom(t, slack).Message("opening")
	m2, _ := onlyRoom(t, discord).Message("opening")
	if m1.Latest().Buttons[0].ActionID != m2.Latest().Buttons[0].ActionID {
		t.Error("button tokens differ between platforms")
	}
	if len(e.queued()) != 0 {
		t.Errorf("outbox not empty: %+v", e.queued())
	}
}

func TestQuietIncidentsOpenNoRoom(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingest(2, "172.16.5.10", model.SeverityLow)
	e.sync(1)
	e.deliver()
	if len(f.Rooms()) != 0 {
		t.Fatalf("a quiet incident opened a room")
	}
}

func TestUpdatesWithoutNoise(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	ctx := context.Background()
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	room := onlyRoom(t, f)
	opening, _ := room.Message("opening")

	// More alerts within the interval: nothing is sent yet, an update is due.
	e.clk.Advance(5 * time.Second)
	e.ingest(5, "172.16.5.11", model.SeverityMedium)
	due := e.sync(1)
	if e.deliver() != 0 {
		t.Fatal("new alerts were sent before the interval ended")
	}
	if want := t0.Add(10*time.Minute + 30*time.Second); !due.Equal(want) {
		t.Fatalf("update due at %s, want %s", due, want)
	}
	e.clk.Advance(10 * time.Second)
	e.ingest(4, "172.16.5.11", model.SeverityMedium)
	e.sync(1)
	if e.deliver() != 0 {
		t.Fatal("new alerts were sent before the interval ended")
	}
	// At the due time: one rolling update for all 9 alerts, one edit of the opening.
	e.clk.Set(due)
	e.bot.Tick(ctx) // due incidents are synced by the tick
	if n := e.deliver(); n != 2 {
		t.Fatalf("delivered %d at the due time, want the rolling update and the edit", n)
	}
	if got := room.Keys(); !slices.Equal(got, []string{"opening", "rolling"}) {
		t.Fatalf("messages %v", got)
	}
	rolling, _ := room.Message("rolling")
	if items := rolling.Latest().Sections[0].Items; len(items) != 1 || !strings.Contains(items[0], "+9 (total 12)") {
		t.Errorf("rolling update %v", items)
	}
	if len(opening.Versions) != 2 || !strings.Contains(opening.Latest().StatusLine, "12 alerts") {
		t.Errorf("opening versions %d, status %q", len(opening.Versions), opening.Latest().StatusLine)
	}

	// A status change is shown at once.
	e.clk.Advance(time.Second)
	if _, err := e.pipe.SetStatus(ctx, 1, model.StatusAcknowledged, "local:alice", ""); err != nil {
		t.Fatal(err)
	}
	e.sync(1)
	if e.deliver() != 1 || opening.Latest().Status != "acknowledged" {
		t.Fatalf("acknowledgement not shown at once: %d versions, status %q", len(opening.Versions), opening.Latest().Status)
	}

	// An escalation is announced once.
	e.clk.Advance(time.Second)
	e.ingest(1, "172.16.5.11", model.SeverityCritical)
	e.sync(1)
	e.sync(1)
	e.deliver()
	var escalations int
	for _, m := range room.Messages {
		if strings.HasPrefix(m.Latest().Key, "tl:") && strings.Contains(m.Latest().Text, "Escalated") {
			escalations++
		}
	}
	if escalations != 1 {
		t.Errorf("escalation announced %d times; messages %v", escalations, room.Keys())
	}
	if opening.Latest().Severity != "critical" {
		t.Errorf("severity not shown at once: %q", opening.Latest().Severity)
	}
	// A second rolling window edits the same rolling message.
	e.clk.Advance(31 * time.Second)
	e.ingest(2, "172.16.5.11", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	if n := strings.Count(strings.Join(room.Keys(), ","), "rolling"); n != 1 {
		t.Errorf("%d rolling messages, want one edited in place", n)
	}
	if items := rolling.Latest().Sections[0].Items; len(items) != 2 {
		t.Errorf("rolling update after two windows: %v", items)
	}
}

// The rolling update tells the alerts since the previous one, per rule, from the
// counts the room keeps; a room whose state holds no counts reads them instead.
func TestRollingUpdateCountsPerRule(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	ctx := context.Background()
	e.ingestRule(3, "172.16.5.10", model.SeverityMedium, "SSH login failed")
	e.sync(1)
	e.deliver()
	room := onlyRoom(t, f)

	window := func(want string) {
		t.Helper()
		e.clk.Advance(31 * time.Second)
		e.bot.Tick(ctx)
		e.sync(1)
		e.deliver()
		rolling, ok := room.Message("rolling")
		if !ok {
			t.Fatalf("no rolling update; messages %v", room.Keys())
		}
		if items := rolling.Latest().Sections[0].Items; len(items) == 0 || !strings.HasSuffix(items[0], want) {
			t.Fatalf("rolling update %q, want it to end in %q", items, want)
		}
	}
	e.ingestRule(4, "172.16.5.11", model.SeverityMedium, "SSH scan")
	e.ingestRule(2, "172.16.5.10", model.SeverityMedium, "SSH login failed")
	window("+6 (total 9): SSH scan ×4, SSH login failed ×2")
	e.ingestRule(1, "172.16.5.10", model.SeverityMedium, "SSH login failed")
	window("+1 (total 10): SSH login failed ×1")

	// A room whose state holds no counts (kept by an earlier version) reads the new
	// alerts from the store.
	err := e.st.Submit(ctx, func(tx store.Tx) error {
		r, err := tx.ChatRoom("slack", 1)
		if err != nil {
			return err
		}
		var st map[string]any
		if err := json.Unmarshal(r.State, &st); err != nil {
			return err
		}
		if _, ok := st["counted"]; !ok {
			return fmt.Errorf("room state %s holds no counts", r.State)
		}
		delete(st, "counted")
		if r.State, err = json.Marshal(st); err != nil {
			return err
		}
		return tx.PutChatRoom(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ingestRule(2, "172.16.5.11", model.SeverityMedium, "SSH scan")
	window("+2 (total 12): SSH scan ×2")
	e.ingestRule(3, "172.16.5.11", model.SeverityMedium, "SSH scan")
	window("+3 (total 15): SSH scan ×3")
}

func TestResolvedRoomIsClosed(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	ctx := context.Background()
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	if _, err := e.pipe.SetStatus(ctx, 1, model.StatusResolved, "local:bob", "blocked at the edge"); err != nil {
		t.Fatal(err)
	}
	e.sync(1)
	e.deliver()
	m, _ := onlyRoom(t, f).Message("opening")
	if m.Latest().Status != "resolved" || len(m.Latest().Buttons) != 0 {
		t.Errorf("resolved opening: status %q, %d buttons", m.Latest().Status, len(m.Latest().Buttons))
	}
	rooms, err := e.st.ChatRooms(ctx, "slack", true)
	if err != nil || len(rooms) != 0 {
		t.Errorf("open rooms after resolve: %+v %v", rooms, err)
	}
}

func TestInteractResolvesTheRoomAndPostsPublicReplies(t *testing.T) {
	slack, local := bottest.New(t, "slack"), bottest.New(t, "local")
	e := newEnv(t, "", nil, slack, local)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	r := onlyRoom(t, slack)
	rep, err := e.bot.Interact(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Command, Text: "ack",
		User: bot.User{ID: "U1", Name: "alice"}, Room: bot.RoomRef{ID: r.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Private || rep.Text != "alice did ack on incident 1" {
		t.Fatalf("reply %+v", rep)
	}
	e.deliver()
	for _, f := range []*bottest.Fake{slack, local} {
		keys := onlyRoom(t, f).Keys()
		if len(keys) != 2 || !strings.HasPrefix(keys[1], "reply:") {
			t.Errorf("%s messages %v; want the reply mirrored in every room", f.Name(), keys)
		}
	}
	// Outside a room the reply goes to the user too.
	rep, _ = e.bot.Interact(context.Background(), bot.Interaction{Platform: "slack", Kind: bot.Command, Text: "status", User: bot.User{ID: "U1"}})
	if !rep.Private {
		t.Errorf("reply outside a room: %+v", rep)
	}
}

func TestOutboxOutageDelaysAndLosesNothing(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	f.SetDown(bottest.Outage("slack"))
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.ingest(3, "172.16.5.11", model.SeverityMedium)
	e.clk.Advance(31 * time.Second)
	e.sync(1)
	if e.deliver() != 0 {
		t.Fatal("delivered during the outage")
	}
	for range 6 { // a long outage: backoff 1s, 2s, 4s ... capped at 1m
		e.clk.Advance(time.Minute)
		if e.deliver() != 0 {
			t.Fatal("delivered during the outage")
		}
	}
	ops := e.queued()
	if len(ops) != 3 || ops[0].Kind != bot.OpCreateRoom || ops[0].Attempts != 7 || ops[0].LastError == "" {
		t.Fatalf("queued ops during the outage: %+v", ops)
	}
	if len(f.Rooms()) != 0 {
		t.Fatal("a room exists though every call failed")
	}
	f.SetDown(nil)
	if e.deliver() != 0 {
		t.Fatal("delivered before the backoff ended")
	}
	e.clk.Advance(time.Minute)
	if n := e.deliver(); n != 3 {
		t.Fatalf("delivered %d after the outage, want 3", n)
	}
	r := onlyRoom(t, f)
	if got := r.Keys(); !slices.Equal(got, []string{"opening", "rolling"}) {
		t.Fatalf("messages %v", got)
	}
	m, _ := r.Message("opening")
	if len(m.Versions) != 1 || !strings.Contains(m.Latest().StatusLine, "6 alerts") {
		t.Errorf("the opening message is not the latest version in one post: %d versions, %q", len(m.Versions), m.Latest().StatusLine)
	}
}

func TestOutboxHonoursRetryAfter(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	f.FailNext(nil) // room creation succeeds
	f.FailNext(bottest.RateLimited("slack", 7*time.Second))
	if n := e.deliver(); n != 1 {
		t.Fatalf("delivered %d, want the room only", n)
	}
	ops := e.queued()
	if len(ops) != 1 || !ops[0].NextAt.Equal(e.clk.Now().Add(7*time.Second)) {
		t.Fatalf("rate-limited op: %+v; want it due in 7s", ops)
	}
	e.clk.Advance(6 * time.Second)
	if e.deliver() != 0 {
		t.Fatal("delivered before Retry-After ended")
	}
	e.clk.Advance(time.Second)
	if e.deliver() != 1 {
		t.Fatal("not delivered when Retry-After ended")
	}
	if got := onlyRoom(t, f).Keys(); !slices.Equal(got, []string{"opening"}) {
		t.Errorf("messages %v", got)
	}
}

func TestGlobalRateLimitPausesEveryRoom(t *testing.T) {
	f := bottest.New(t, "discord")
	e := newEnv(t, "", nil, f)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	f.FailNext(&bot.Error{Platform: "discord", Op: "create_room", RetryAfter: 5 * time.Second, Global: true, Err: errors.New("429 global")})
	e.deliver()
	next, err := e.bot.Outbox().NextDue(context.Background())
	if err != nil || !next.Equal(e.clk.Now().Add(5*time.Second)) {
		t.Fatalf("next due %s %v", next, err)
	}
	e.clk.Advance(5 * time.Second)
	if e.deliver() != 2 {
		t.Fatal("not delivered after the global pause")
	}
}

func TestPermanentFailureSetsTheOpAsideAndTheRoomMovesOn(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	if err := e.bot.PostReply(context.Background(), 1, "first"); err != nil {
		t.Fatal(err)
	}
	if err := e.bot.PostReply(context.Background(), 1, "second"); err != nil {
		t.Fatal(err)
	}
	f.FailNext(&bot.Error{Platform: "slack", Op: "post", Permanent: true, Err: errors.New("invalid_blocks")})
	if n := e.deliver(); n != 1 {
		t.Fatalf("delivered %d, want the second reply after the first was refused", n)
	}
	ops := e.queued()
	if len(ops) != 1 || !ops[0].Dead || !strings.Contains(ops[0].LastError, "invalid_blocks") {
		t.Fatalf("dead op: %+v", ops)
	}
	r := onlyRoom(t, f)
	last := r.Messages[len(r.Messages)-1].Latest()
	if last.Text != "second" {
		t.Errorf("last message %q", last.Text)
	}
}

// TestReplyImageIsAWebChatPathOnly: a reply's picture reaches the platforms with the
// message; a path that is not the web chat's own is refused and nothing is queued.
func TestReplyImageIsAWebChatPathOnly(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	e.deliver()
	ctx := context.Background()
	for _, bad := range []string{"https://evil.example/x.png", "/chat/../api/v1/incidents", "/api/v1/incidents"} {
		if err := e.bot.PostReplyImage(ctx, 1, "drill over", &bot.Image{Path: bad}); err == nil || !strings.Contains(err.Error(), "want a path under /chat/") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if ops := e.queued(); len(ops) != 0 {
		t.Fatalf("queued after refusals: %+v", ops)
	}
	if err := e.bot.PostReplyImage(ctx, 1, "drill over", &bot.Image{Path: "/chat/drills/ttr.png", Alt: "TTR <chart>"}); err != nil {
		t.Fatal(err)
	}
	if n := e.deliver(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
	r := onlyRoom(t, f)
	last := r.Messages[len(r.Messages)-1].Latest()
	if last.Text != "drill over" || last.Image == nil || last.Image.Path != "/chat/drills/ttr.png" || last.Image.Alt != "TTR <chart>" {
		t.Fatalf("last message %+v", last)
	}
}

func TestReplacedDuringDeliveryIsSentAgain(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	e.sync(1)
	ctx := context.Background()
	f.After(func(c bottest.Call) error {
		if c.Op == "post" && c.Key == "opening" {
			f.After(nil)
			// While the post is on the wire, the incident changes.
			if _, err := e.pipe.SetStatus(ctx, 1, model.StatusAcknowledged, "local:alice", ""); err != nil {
				t.Error(err)
			}
			if _, err := e.bot.Sync(ctx, 1); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	e.deliver()
	m, _ := onlyRoom(t, f).Message("opening")
	if len(m.Versions) != 2 || m.Latest().Status != "acknowledged" {
		t.Fatalf("opening: %d versions, status %q; want the newer version sent as an edit", len(m.Versions), m.Latest().Status)
	}
	if len(e.queued()) != 0 {
		t.Errorf("outbox not empty: %+v", e.queued())
	}
}

// crashDuring runs the first bot until the platform has applied the call matching
// op and key, then stops it there (the process dies before recording the answer),
// and starts a second bot on the same database and platform.
func crashDuring(t *testing.T, f *bottest.Fake, platform bot.Platform, op, key string) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warroom.db")
	clk := clock.NewFake(t0.Add(10 * time.Minute))
	e1 := newEnv(t, path, clk, platform)
	e1.ingest(3, "172.16.5.10", model.SeverityMedium)
	e1.sync(1)
	reached, release := make(chan struct{}), make(chan struct{})
	f.After(func(c bottest.Call) error {
		if c.Op == op && c.Key == key {
			close(reached)
			<-release
			return errors.New("the process is gone")
		}
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e1.bot.Outbox().DeliverDue(context.Background())
	}()
	<-reached
	if err := e1.st.Close(); err != nil { // what was committed is all that survives
		t.Fatal(err)
	}
	f.After(nil)
	close(release)
	<-done
	e2 := newEnv(t, path, clk, platform)
	e2.seq = e1.seq
	return e2
}

func TestRestartDuringRoomCreationMakesNoSecondRoom(t *testing.T) {
	f := bottest.New(t, "slack")
	e := crashDuring(t, f, f, "create_room", "")
	e.clk.Advance(time.Minute)
	e.deliver()
	r := onlyRoom(t, f) // the fake fails the test on a second create of the name
	if got := r.Keys(); !slices.Equal(got, []string{"opening"}) {
		t.Fatalf("messages after restart: %v", got)
	}
	var finds int
	for _, c := range f.Calls() {
		if c.Op == "find_room" {
			finds++
		}
	}
	if finds != 1 {
		t.Errorf("%d find_room calls, want 1", finds)
	}
	cr, err := e.st.ChatRoom(context.Background(), "slack", 1)
	if err != nil || cr.RoomID != r.ID {
		t.Errorf("room record after restart: %+v %v", cr, err)
	}
}

func TestRestartDuringPostMakesNoSecondMessage(t *testing.T) {
	f := bottest.New(t, "slack")
	e := crashDuring(t, f, f, "post", "opening")
	e.ingest(1, "172.16.5.12", model.SeverityMedium) // the incident moves on meanwhile
	e.clk.Advance(time.Minute)
	e.sync(1)
	e.deliver()
	r := onlyRoom(t, f)
	if got := r.Keys(); !slices.Equal(got, []string{"opening", "rolling"}) {
		t.Fatalf("messages after restart: %v; want the opening once", got)
	}
	m, _ := r.Message("opening")
	if !strings.Contains(m.Latest().StatusLine, "4 alerts") {
		t.Errorf("the opening message found after restart was not brought up to date: %q", m.Latest().StatusLine)
	}
	if len(e.queued()) != 0 {
		t.Errorf("outbox not empty: %+v", e.queued())
	}
}

func suggesting(p *bot.PlaybookSet) *bot.PlaybookSet {
	p.Suggest = true
	return p
}

// ingestPair adds one brute-force alert from src against dst.
func (e *env) ingestPair(src, dst string) {
	e.t.Helper()
	e.seq++
	a := &model.Alert{Source: "suricata", Format: "suricata", Rule: "ET SCAN Potential SSH Scan", Title: "ET SCAN Potential SSH Scan",
		Severity: model.SeverityMedium, Category: model.CategoryBruteforce, EventTime: t0.Add(time.Duration(e.seq) * time.Second),
		Entities:    []model.Entity{{Kind: model.EntityIP, Value: src, Role: model.RoleSrc}, {Kind: model.EntityIP, Value: dst, Role: model.RoleDst}},
		Fingerprint: fmt.Sprintf("fp-%d", e.seq)}
	if _, err := e.pipe.Ingest(context.Background(), []*model.Alert{a}); err != nil {
		e.t.Fatal(err)
	}
}

func TestMergeIsAnnouncedOnceInBothRooms(t *testing.T) {
	f := bottest.New(t, "slack")
	e := newEnv(t, "", nil, f)
	e.ingestPair("203.0.113.45", "172.16.5.10")
	e.ingestPair("198.51.100.9", "172.16.9.20")
	e.sync(1)
	e.sync(2)
	e.deliver()
	if len(f.Rooms()) != 2 {
		t.Fatalf("%d rooms before the merge, want 2", len(f.Rooms()))
	}
	// One alert links both incidents: one absorbs the other.
	e.ingestPair("203.0.113.45", "172.16.9.20")
	for range 2 {
		e.sync(1)
		e.sync(2)
	}
	e.deliver()
	merged := 0
	for _, r := range f.Rooms() {
		n := 0
		for _, m := range r.Messages {
			if strings.HasPrefix(m.Latest().Key, "tl:") && strings.Contains(m.Latest().Text, "erged") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("room %s: merge announced %d times; messages %v", r.Name, n, r.Keys())
		}
		op, _ := r.Message("opening")
		if op.Latest().Status == string(model.StatusMerged) {
			merged++
			if len(op.Latest().Buttons) != 0 || !strings.Contains(op.Latest().StatusLine, "Merged into INC-") {
				t.Errorf("merged incident's opening: %q, %d buttons", op.Latest().StatusLine, len(op.Latest().Buttons))
			}
		}
	}
	if merged != 1 {
		t.Errorf("%d rooms show a merged incident, want 1", merged)
	}
}

// dueNarrator writes the template and says a newer narrative is due at at.
type dueNarrator struct{ at time.Time }

func (d dueNarrator) Narrate(_ context.Context, v *bot.View) (bot.Narrative, error) {
	n := bot.TemplateNarrative(v)
	n.NextAt = d.at
	return n, nil
}

// TestRoomsResyncWhenTheNarrativeIsDue: when the narrator says a newer narrative is
// due, the incident's rooms are due for a sync then, on the bot's clock.
func TestRoomsResyncWhenTheNarrativeIsDue(t *testing.T) {
	clk := clock.NewFake(t0.Add(10 * time.Minute))
	at := clk.Now().Add(45 * time.Second)
	e := newEnvWith(t, "", clk, func(o *bot.Options) { o.Narrator = dueNarrator{at: at} }, bottest.New(t, "slack"))
	e.ingest(3, "172.16.5.10", model.SeverityMedium)
	if due := e.sync(1); !due.Equal(at) {
		t.Errorf("rooms due at %v; want %v, when the narrative is", due, at)
	}
	plain := newEnv(t, "", clock.NewFake(t0.Add(10*time.Minute)), bottest.New(t, "slack"))
	plain.ingest(3, "172.16.5.10", model.SeverityMedium)
	if due := plain.sync(1); due.Equal(at) {
		t.Errorf("without a narrator the rooms are due at %v too", due)
	}
}
