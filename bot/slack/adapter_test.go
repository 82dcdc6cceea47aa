package slack_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	slackbot "github.com/warroom/warroom/bot/slack"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// harness is an adapter on the strict fake Slack with a real SQLite store.
type harness struct {
	fake *bottest.SlackFake
	a    *slackbot.Adapter
	clk  *clock.Fake
	st   *store.SQLite
	logs *bytes.Buffer
}

func newHarness(t *testing.T, mutate func(*slackbot.Options)) *harness {
	t.Helper()
	f := bottest.NewSlack(t)
	f.AddUser("U0ALICE", "alice")
	f.AddUser("U0BOB", "bob")
	f.AddUser("U0CAROL", "carol")
	f.AddGroup("S0SOC", "soc", "U0BOB", "U0CAROL")
	clk := clock.NewFake(t0)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &bytes.Buffer{}
	o := slackbot.Options{BotToken: f.BotToken, AppToken: f.AppToken, APIURL: f.APIURL(), SigningSecret: secret,
		Store: st, Clock: clk, Log: slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mutate != nil {
		mutate(&o)
	}
	a, err := slackbot.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{fake: f, a: a, clk: clk, st: st, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var spec = bot.RoomSpec{Name: "inc-0001-ssh-brute-force-203-0-113-45", Topic: "INC-0001 [high, open] SSH brute force", IncidentID: 1, Number: "INC-0001"}

func opening() *bot.Message {
	return &bot.Message{Key: bot.KeyOpening, Kind: bot.KindOpening, Header: "INC-0001 · SSH brute force", Fallback: "INC-0001 [high, open] SSH brute force",
		Severity: "high", StatusLine: "Severity high · Status open · 12 alerts",
		Buttons: []bot.Button{{ActionID: "tok-ack", Label: "Acknowledge", Style: bot.StylePrimary}}}
}

func TestCreateRoomSetsTopicPurposeAndIsFoundAgain(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := h.fake.Channel(ref.ID)
	if !ok || ch.Name != spec.Name || ref.Name != spec.Name || ch.Private {
		t.Fatalf("channel %+v, ref %+v", ch, ref)
	}
	if ch.Topic != spec.Topic || !strings.Contains(ch.Purpose, "INC-0001") || !strings.Contains(ch.Purpose, "[warroom incident 1]") {
		t.Errorf("topic %q purpose %q", ch.Topic, ch.Purpose)
	}
	got, found, err := h.a.FindRoom(ctx, spec)
	if err != nil || !found || got.ID != ref.ID {
		t.Fatalf("FindRoom: %+v %v %v", got, found, err)
	}
	other := spec
	other.IncidentID = 2
	if _, found, err := h.a.FindRoom(ctx, other); err != nil || found {
		t.Fatalf("FindRoom of another incident with the same name: found %v, %v", found, err)
	}
}

func TestCreateRoomNameTakenGetsASuffix(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) { o.Prefix = "sec-"; o.Private = true })
	ctx := context.Background()
	// Someone made a channel with the name first; a second one too.
	h.fake.AddChannel("sec-"+spec.Name, "U0ALICE", false)
	h.fake.AddChannel("sec-"+spec.Name+"-2", "U0ALICE", false)
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "sec-" + spec.Name + "-3"; ref.Name != want {
		t.Fatalf("room name %q, want %q", ref.Name, want)
	}
	ch, _ := h.fake.Channel(ref.ID)
	if !ch.Private || ch.Creator != h.fake.BotUserID {
		t.Errorf("channel %+v; want private, created by the bot", ch)
	}
	// After a crash between Slack's answer and its record: the suffixed channel is
	// found as this incident's, and creating again returns it, not a fourth.
	got, found, err := h.a.FindRoom(ctx, spec)
	if err != nil || !found || got.ID != ref.ID {
		t.Fatalf("FindRoom: %+v %v %v", got, found, err)
	}
	again, err := h.a.CreateRoom(ctx, spec)
	if err != nil || again.ID != ref.ID {
		t.Fatalf("second CreateRoom: %+v %v; want %s", again, err, ref.ID)
	}
	if n := len(h.fake.Channels()); n != 3 {
		t.Errorf("%d channels; want 3", n)
	}
}

func TestPostPinsOpeningAndFindsItByIdempotencyKey(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	key := bot.IdempotencyKey("slack", 1, bot.KeyOpening)
	m, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := h.fake.Channel(ref.ID)
	if len(ch.Pins) != 1 || ch.Pins[0] != m.ID {
		t.Errorf("pins %v; want the opening %s", ch.Pins, m.ID)
	}
	got, found, err := h.a.FindMessage(ctx, ref, key)
	if err != nil || !found || got.ID != m.ID {
		t.Fatalf("FindMessage: %+v %v %v", got, found, err)
	}
	if _, found, _ := h.a.FindMessage(ctx, ref, key+"x"); found {
		t.Error("FindMessage found a key never posted")
	}
	// A reply in the thread of the opening message.
	reply := bot.RenderReply("reply:1", "alice acknowledged")
	r, err := h.a.Post(ctx, ref, reply, bot.PostOptions{IdempotencyKey: "k2", Thread: m})
	if err != nil {
		t.Fatal(err)
	}
	msgs := h.fake.Snapshot(ref.ID)
	if len(msgs) != 2 || msgs[1].TS != r.ID || msgs[1].ThreadTS != m.ID {
		t.Fatalf("messages %+v", msgs)
	}
	// Update edits in place.
	up := opening()
	up.StatusLine = "Severity high · Status acknowledged · 12 alerts"
	if err := h.a.Update(ctx, ref, m, up); err != nil {
		t.Fatal(err)
	}
	msgs = h.fake.Snapshot(ref.ID)
	if len(msgs[0].Versions) != 2 || !strings.Contains(string(msgs[0].Latest().Blocks), "Status acknowledged") {
		t.Errorf("after update: %+v", msgs[0].Versions)
	}
}

func TestInviteExpandsUserGroupAndSkipsMembers(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.a.Invite(ctx, ref, []string{"U0ALICE", "S0SOC", "U0BOB"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.fake.Members(ref.ID), ","); got != "U0ALICE,U0BOB,U0CAROL,U0WARROOM" {
		t.Errorf("members %s", got)
	}
	// Inviting again (a retry) is fine: already_in_channel is success.
	if err := h.a.Invite(ctx, ref, []string{"U0ALICE"}); err != nil {
		t.Fatalf("second invite: %v", err)
	}
}

func TestRateLimitAndOutageComeBackAsRetryableErrors(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	h.fake.RateLimit("chat.postMessage", 7*time.Second)
	_, err = h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if d, ok := bot.RetryAfter(err); !ok || d != 7*time.Second || bot.IsPermanent(err) {
		t.Fatalf("429: %v; want Retry-After 7s, not permanent", err)
	}
	h.fake.RateLimit("conversations.create", 30*time.Second)
	other := spec
	other.Name, other.IncidentID = "inc-0002-x", 2
	_, err = h.a.CreateRoom(ctx, other)
	var be *bot.Error
	if !errors.As(err, &be) || be.RetryAfter != 30*time.Second || !be.Global {
		t.Fatalf("429 on conversations.create: %v; want a platform-wide Retry-After", err)
	}
	h.fake.SetDown(true)
	_, err = h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if err == nil || bot.IsPermanent(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("outage: %v; want a retryable 503", err)
	}
	h.fake.SetDown(false)
	if _, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if n := len(h.fake.Snapshot(ref.ID)); n != 1 {
		t.Errorf("%d messages; the refused posts must not show up", n)
	}
}

func TestPostsArePacedPerChannel(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) { o.PostBurst = 2 })
	ctx := context.Background()
	a, _ := h.a.CreateRoom(ctx, spec)
	other := spec
	other.Name, other.IncidentID = "inc-0002-x", 2
	b, _ := h.a.CreateRoom(ctx, other)
	for i := range 2 {
		if _, err := h.a.Post(ctx, a, opening(), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	posts := h.fake.CallCount("chat.postMessage")
	_, err := h.a.Post(ctx, a, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if d, ok := bot.RetryAfter(err); !ok || d != time.Second {
		t.Fatalf("third post in a burst: %v; want Retry-After 1s", err)
	}
	if h.fake.CallCount("chat.postMessage") != posts {
		t.Error("a paced post reached Slack")
	}
	if _, err := h.a.Post(ctx, b, opening(), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatalf("another channel is not held back: %v", err)
	}
	h.clk.Advance(time.Second)
	if _, err := h.a.Post(ctx, a, opening(), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestChannelArchivedByHandIsAClearPermanentError(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, _ := h.a.CreateRoom(ctx, spec)
	h.fake.ArchiveByHand(ref.ID)
	_, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if !bot.IsPermanent(err) || !strings.Contains(err.Error(), "is_archived") || !strings.Contains(err.Error(), "unarchive it") {
		t.Fatalf("post to an archived channel: %v", err)
	}
	// A new room for the same incident skips the archived channel's name.
	ref2, err := h.a.CreateRoom(ctx, spec)
	if err != nil || ref2.ID == ref.ID || ref2.Name != spec.Name+"-2" {
		t.Fatalf("new room after archiving: %+v %v", ref2, err)
	}
	// Archiving a channel that is already archived is done.
	if err := h.a.Archive(ctx, ref); err != nil {
		t.Fatalf("archive an archived channel: %v", err)
	}
}

func TestBotRemovedRejoinsPublicChannel(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, _ := h.a.CreateRoom(ctx, spec)
	h.fake.RemoveBot(ref.ID)
	if _, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatalf("post after the bot was removed: %v", err)
	}
	if h.fake.CallCount("conversations.join") != 1 || len(h.fake.Snapshot(ref.ID)) != 1 {
		t.Errorf("joins %d, messages %d; want one of each", h.fake.CallCount("conversations.join"), len(h.fake.Snapshot(ref.ID)))
	}
}

func TestBotRemovedFromPrivateChannelSaysHowToFix(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) { o.Private = true })
	ctx := context.Background()
	ref, _ := h.a.CreateRoom(ctx, spec)
	h.fake.RemoveBot(ref.ID)
	_, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if !bot.IsPermanent(err) || !strings.Contains(err.Error(), "invite it back") {
		t.Fatalf("post to a private channel without the bot: %v", err)
	}
}

func TestMissingScopeNamesTheScope(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.FailNext("conversations.create", "missing_scope")
	_, err := h.a.CreateRoom(context.Background(), spec)
	if !bot.IsPermanent(err) || !strings.Contains(err.Error(), "lacks the scope channels:manage") || !strings.Contains(err.Error(), "reinstall") {
		t.Fatalf("missing scope: %v", err)
	}
}

func TestGroupsAreCachedAndSurviveAnOutage(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) { o.GroupRefresh = time.Minute })
	ctx := context.Background()
	if g := h.a.Groups(ctx, "U0BOB"); len(g) != 1 || g[0] != "S0SOC" {
		t.Fatalf("groups of bob: %v", g)
	}
	if g := h.a.Groups(ctx, "U0ALICE"); len(g) != 0 {
		t.Fatalf("groups of alice: %v", g)
	}
	if n := h.fake.CallCount("usergroups.list"); n != 1 {
		t.Errorf("%d usergroups.list calls; want 1 (cached)", n)
	}
	h.clk.Advance(2 * time.Minute)
	h.fake.SetDown(true)
	if g := h.a.Groups(ctx, "U0BOB"); len(g) != 1 {
		t.Errorf("during an outage: %v; want the last known groups", g)
	}
}

func TestEphemeralGoesToOneUser(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	ref, _ := h.a.CreateRoom(ctx, spec)
	if err := h.a.PostEphemeral(ctx, ref, bot.User{ID: "U0WARROOM"}, bot.RenderReply("e", "only you")); err != nil {
		t.Fatal(err)
	}
	e := h.fake.Ephemerals()
	if len(e) != 1 || e[0].User != "U0WARROOM" || e[0].Text != "only you" {
		t.Fatalf("ephemerals %+v", e)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.fake.SetDown(true)
	h.a.Groups(ctx, "U0BOB")
	h.fake.SetDown(false)
	h.fake.FailNext("chat.postMessage", "invalid_auth")
	ref, _ := h.a.CreateRoom(ctx, spec)
	_, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if err == nil {
		t.Fatal("want invalid_auth")
	}
	for _, s := range []string{h.fake.BotToken, h.fake.AppToken, secret} {
		if strings.Contains(err.Error(), s) || strings.Contains(h.logs.String(), s) {
			t.Errorf("a secret leaks into an error or the log: %q", s)
		}
	}
}

func TestChannelCreatedBeforeACrashIsFoundWithoutItsPurpose(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	// conversations.create succeeded, then the process stopped before the purpose.
	h.fake.FailNext("conversations.setTopic", "internal_error")
	h.fake.FailNext("conversations.setPurpose", "internal_error")
	first, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if ch, _ := h.fake.Channel(first.ID); ch.Purpose != "" {
		t.Fatalf("purpose %q", ch.Purpose)
	}
	got, found, err := h.a.FindRoom(ctx, spec)
	if err != nil || !found || got.ID != first.ID {
		t.Fatalf("FindRoom: %+v %v %v", got, found, err)
	}
	if ch, _ := h.fake.Channel(first.ID); !strings.Contains(ch.Purpose, "[warroom incident 1]") || ch.Topic != spec.Topic {
		t.Errorf("the found channel was not described: %+v", ch)
	}
	// Someone else's channel of that name is never taken for the incident's.
	other := spec
	other.Name, other.IncidentID = "inc-0009-theirs", 9
	h.fake.AddChannel(other.Name, "U0ALICE", false)
	if _, found, err := h.a.FindRoom(ctx, other); err != nil || found {
		t.Fatalf("FindRoom found someone else's channel: %v %v", found, err)
	}
}

func TestChannelCreationIsPacedToTier2(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	for i := range 20 {
		s := spec
		s.Name, s.IncidentID = "inc-"+string(rune('a'+i)), int64(i+1)
		if _, err := h.a.CreateRoom(ctx, s); err != nil {
			t.Fatalf("room %d: %v", i, err)
		}
	}
	s := spec
	s.Name, s.IncidentID = "inc-late", 99
	_, err := h.a.CreateRoom(ctx, s)
	var be *bot.Error
	if !errors.As(err, &be) || be.RetryAfter != 3*time.Second || !be.Global {
		t.Fatalf("21st channel in a burst: %v; want a platform-wide Retry-After of 3s", err)
	}
	if n := h.fake.CallCount("conversations.create"); n != 20 {
		t.Errorf("%d channels created; the paced one must not reach Slack", n)
	}
	h.clk.Advance(3 * time.Second)
	if _, err := h.a.CreateRoom(ctx, s); err != nil {
		t.Fatalf("3s later: %v", err)
	}
}

// TestPlainHTTPAPIURLIsRefusedOffLoopback checks the bot token never travels
// unencrypted: an http:// api_url or socket_url is refused unless it is a loopback
// address (a test server or a local proxy).
func TestPlainHTTPAPIURLIsRefusedOffLoopback(t *testing.T) {
	h := newHarness(t, nil)
	base := slackbot.Options{BotToken: "test-bot-token-abc", SigningSecret: secret, Store: h.st, Clock: h.clk,
		Log: slog.New(slog.DiscardHandler)}
	for _, u := range []string{"http://slack-proxy.corp.example/api/", "http://10.0.0.8:8080/api/"} {
		o := base
		o.APIURL = u
		if _, err := slackbot.New(o); err == nil || !strings.Contains(err.Error(), "https") || strings.Contains(err.Error(), "test-bot-token-abc") {
			t.Errorf("api_url %s: %v; want a refusal naming https, without the token", u, err)
		}
	}
	o := base
	o.SocketURL = "ws://slack-proxy.corp.example/link"
	if _, err := slackbot.New(o); err == nil || !strings.Contains(err.Error(), "wss") {
		t.Errorf("socket_url ws:// off loopback: %v; want a refusal naming wss", err)
	}
	for _, u := range []string{"http://127.0.0.1:8080/api/", "http://localhost:9/api/", "https://slack.example/api/"} {
		o := base
		o.APIURL = u
		if _, err := slackbot.New(o); err != nil {
			t.Errorf("api_url %s: %v", u, err)
		}
	}
}

// TestTopicFromAlertTextCannotMention checks the channel topic, which comes from the
// alert's title, cannot form a mention or a link.
func TestTopicFromAlertTextCannotMention(t *testing.T) {
	h := newHarness(t, nil)
	s := spec
	s.Topic = "INC-0001 <!channel> @here <@U0BOB> <https://evil.example|login>"
	ref, err := h.a.CreateRoom(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := h.fake.Channel(ref.ID)
	for _, bad := range []string{"<!channel>", "@here", "<@U0BOB>", "<https://"} {
		if strings.Contains(ch.Topic, bad) {
			t.Errorf("topic %q holds %s", ch.Topic, bad)
		}
	}
}
