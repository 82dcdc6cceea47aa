package discord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

const responderRole = "1300000000000000001"

type env struct {
	f   *bottest.DiscordFake
	a   *Adapter
	st  *store.SQLite
	clk *clock.Fake
	in  *recorder
}

// recorder stands in for the bot: it records interactions and answers with reply.
type recorder struct {
	mu    sync.Mutex
	got   []bot.Interaction
	reply func(bot.Interaction) (bot.Reply, error)
	seen  chan bot.Interaction
}

func (r *recorder) Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error) {
	r.mu.Lock()
	r.got = append(r.got, in)
	f := r.reply
	r.mu.Unlock()
	defer func() { r.seen <- in }()
	if f == nil {
		return bot.Reply{}, nil
	}
	return f(in)
}

func (r *recorder) next(t *testing.T) bot.Interaction {
	t.Helper()
	select {
	case in := <-r.seen:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no interaction reached the bot")
		return bot.Interaction{}
	}
}

func newEnv(t *testing.T, mode string, mutate func(*Options)) *env {
	t.Helper()
	f := bottest.NewDiscord(t)
	clk := clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	f.Now = clk.Now
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "w.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := Options{Token: f.Token, ApplicationID: f.AppID, GuildID: f.GuildID, Mode: mode, PublicKey: f.Public,
		CategoryID: f.CategoryID, ResponderRoleIDs: []string{responderRole}, APIURL: f.URL(), Nonces: st, Clock: clk,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	in := &recorder{seen: make(chan bot.Interaction, 16)}
	a.Attach(in)
	return &env{f: f, a: a, st: st, clk: clk, in: in}
}

var spec = bot.RoomSpec{Name: "inc-0042-ssh-brute-force-203-0-113-45", Topic: "INC-0042 [high, open] SSH brute force @everyone",
	IncidentID: 42, Number: "INC-0042"}

// TestChannelPerIncident creates a room, posts, edits, finds it again and closes it,
// in channel mode, against the strict fake.
func TestChannelPerIncident(t *testing.T) {
	e := newEnv(t, ModeGateway, func(o *Options) {
		o.Private, o.ArchiveOnClose, o.LockOnClose = true, true, true
		o.ArchiveCategoryID = ""
	})
	ctx := context.Background()
	room, err := e.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	chs := e.f.Channels()
	if len(chs) != 1 || chs[0].ID != room.ID || chs[0].Name != spec.Name || chs[0].ParentID != e.f.CategoryID {
		t.Fatalf("channels %+v, room %+v", chs, room)
	}
	ch := chs[0]
	if !strings.HasPrefix(ch.Topic, `INC\-0042 `) || strings.Contains(ch.Topic, "@everyone") {
		t.Errorf("topic %q", ch.Topic)
	}
	if len(ch.AuditReasons) != 1 || ch.AuditReasons[0] != "warroom: room of incident INC-0042" {
		t.Errorf("audit reasons %q", ch.AuditReasons)
	}
	// Private: @everyone (the guild's role) cannot see it; the bot and the responders can.
	want := map[string]bool{e.f.GuildID + " 0 0 1024": true, e.f.AppID + " 1 84992 0": true, responderRole + " 0 68608 0": true}
	for _, o := range ch.Overwrites {
		k := o.ID + " " + string(rune('0'+o.Type)) + " " + o.Allow + " " + o.Deny
		if !want[k] {
			t.Errorf("unexpected overwrite %s", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("missing overwrites %v", want)
	}

	msg := sampleOpening(t)
	ref, err := e.a.Post(ctx, room, msg, bot.PostOptions{IdempotencyKey: bot.IdempotencyKey(Name, 42, "opening")})
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same post (the answer was lost) returns the same message.
	again, err := e.a.Post(ctx, room, msg, bot.PostOptions{IdempotencyKey: bot.IdempotencyKey(Name, 42, "opening")})
	if err != nil || again.ID != ref.ID || e.f.Deduplicated() != 1 {
		t.Fatalf("retried post: %+v %v (dedup %d); want %s", again, err, e.f.Deduplicated(), ref.ID)
	}
	msg.StatusLine = "Severity high · Status acknowledged"
	if err := e.a.Update(ctx, room, ref, msg); err != nil {
		t.Fatal(err)
	}
	msgs := e.f.ChannelMessages(room.ID)
	if len(msgs) != 1 || len(msgs[0].Versions) != 2 || !strings.Contains(msgs[0].Latest().Embeds[0].Description, "acknowledged") {
		t.Fatalf("messages %+v", msgs)
	}
	if got, found, err := e.a.FindRoom(ctx, spec); err != nil || !found || got.ID != room.ID {
		t.Errorf("FindRoom = %+v %v %v", got, found, err)
	}
	other := spec
	other.Number = "INC-0043"
	if _, found, _ := e.a.FindRoom(ctx, other); found {
		t.Error("FindRoom returned a channel of another incident")
	}
	if err := e.a.Archive(ctx, room); err != nil {
		t.Fatal(err)
	}
	ch = e.f.Channels()[0]
	locked := false
	for _, o := range ch.Overwrites {
		locked = locked || o.ID == e.f.GuildID && o.Deny == "274877910016"
	}
	if !locked {
		t.Errorf("closed private channel not locked (and still hidden): %+v", ch.Overwrites)
	}
}

// TestPrivateRoomIsNotFoundInAPublicLookalike: a channel (or a thread) with the room's
// name and topic that @everyone can see is not taken for a private incident's room, so
// its evidence never goes there; a public room still finds it. (TestChannelPerIncident
// and TestThreadPerIncident find private rooms.)
func TestPrivateRoomIsNotFoundInAPublicLookalike(t *testing.T) {
	for _, threads := range []bool{false, true} {
		t.Run(map[bool]string{false: "channel", true: "thread"}[threads], func(t *testing.T) {
			e := newEnv(t, ModeGateway, nil)
			if threads {
				e.a.o.CategoryID, e.a.o.ThreadChannelID = "", e.f.ThreadChannelID
			}
			ctx := context.Background()
			lookalike, err := e.a.CreateRoom(ctx, spec) // public: Options.Private is off
			if err != nil {
				t.Fatal(err)
			}
			if got, found, err := e.a.FindRoom(ctx, spec); err != nil || !found || got.ID != lookalike.ID {
				t.Fatalf("public FindRoom = %+v %v %v", got, found, err)
			}
			o := e.a.o
			o.Private = true
			private, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if got, found, err := private.FindRoom(ctx, spec); err != nil || found {
				t.Fatalf("private FindRoom took the public lookalike: %+v %v %v", got, found, err)
			}
			priv := spec
			priv.Private = true
			if _, found, err := e.a.FindRoom(ctx, priv); err != nil || found {
				t.Fatalf("FindRoom of a private spec took the public lookalike: %v %v", found, err)
			}
		})
	}
	t.Run("private thread", func(t *testing.T) {
		e := newEnv(t, ModeGateway, func(o *Options) { o.Private, o.CategoryID = true, "" })
		e.a.o.ThreadChannelID = e.f.ThreadChannelID
		ctx := context.Background()
		room, err := e.a.CreateRoom(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if th := e.f.Channels()[0]; th.Type != 12 {
			t.Fatalf("thread type %d, want 12 (private)", th.Type)
		}
		if got, found, err := e.a.FindRoom(ctx, spec); err != nil || !found || got.ID != room.ID {
			t.Fatalf("FindRoom of its own private thread = %+v %v %v", got, found, err)
		}
	})
}

// TestThreadPerIncident opens a thread per incident in the configured channel and
// archives and locks it on close.
func TestThreadPerIncident(t *testing.T) {
	var e *env
	e = newEnv(t, ModeGateway, func(o *Options) {
		o.CategoryID, o.ArchiveOnClose, o.LockOnClose = "", true, true
	})
	e.a.o.ThreadChannelID = e.f.ThreadChannelID
	ctx := context.Background()
	room, err := e.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	th := e.f.Channels()[0]
	if th.Type != 11 || th.ParentID != e.f.ThreadChannelID || th.OwnerID != e.f.AppID || th.Name != spec.Name {
		t.Fatalf("thread %+v", th)
	}
	if _, err := e.a.Post(ctx, room, bot.RenderReply("reply:1", "hello"), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	// Discord archived the quiet thread: the next message reopens it, and it stays
	// open since the incident is.
	e.f.Expire(room.ID)
	if _, err := e.a.Post(ctx, room, bot.RenderReply("reply:1b", "still here"), bot.PostOptions{IdempotencyKey: "k1b"}); err != nil {
		t.Fatal(err)
	}
	if th := e.f.Channels()[0]; th.Archived || len(e.f.ChannelMessages(room.ID)) != 2 {
		t.Fatalf("after posting in an expired thread: %+v", th)
	}
	if got, found, err := e.a.FindRoom(ctx, spec); err != nil || !found || got.ID != room.ID {
		t.Errorf("FindRoom = %+v %v %v", got, found, err)
	}
	if err := e.a.Invite(ctx, room, []string{"1300000000000000099"}); err != nil {
		t.Fatal(err)
	}
	// The opening message showing the incident resolved closes the thread.
	opening := sampleOpening(t)
	ref, err := e.a.Post(ctx, room, opening, bot.PostOptions{IdempotencyKey: "opening"})
	if err != nil {
		t.Fatal(err)
	}
	if th = e.f.Channels()[0]; th.Archived {
		t.Fatal("thread archived while the incident is open")
	}
	opening.Status = "resolved"
	if err := e.a.Update(ctx, room, ref, opening); err != nil {
		t.Fatal(err)
	}
	th = e.f.Channels()[0]
	if !th.Archived || !th.Locked || len(th.Members) != 1 {
		t.Errorf("closed thread %+v", th)
	}
	// A closing summary after that still gets in, and the thread stays closed.
	if _, err := e.a.Post(ctx, room, bot.RenderReply("reply:2", "resolved by bob"), bot.PostOptions{IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	th = e.f.Channels()[0]
	msgs := e.f.ChannelMessages(room.ID)
	if !th.Archived || !th.Locked || len(msgs) != 4 || msgs[3].Latest().Content != "resolved by bob" {
		t.Errorf("after the closing summary: thread %+v, %d messages", th, len(msgs))
	}
}

// TestRateLimitIsRetryAfter checks a 429 becomes a bot.Error carrying Discord's
// retry_after, which the outbox honours, and is not permanent.
func TestRateLimitIsRetryAfter(t *testing.T) {
	e := newEnv(t, ModeGateway, nil)
	ctx := context.Background()
	room, err := e.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	e.f.RateLimit(1, 1500*time.Millisecond)
	_, err = e.a.Post(ctx, room, bot.RenderReply("reply:1", "x"), bot.PostOptions{IdempotencyKey: "k"})
	var be *bot.Error
	if !errors.As(err, &be) || be.RetryAfter != 1500*time.Millisecond || be.Permanent || be.Platform != Name {
		t.Fatalf("error %#v; want a retry after 1.5s", err)
	}
	if _, err := e.a.Post(ctx, room, bot.RenderReply("reply:1", "x"), bot.PostOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	// A refusal (an unknown message) is permanent.
	e.f.ExpectRefusals(1)
	err = e.a.Update(ctx, room, bot.MessageRef{ID: "1"}, bot.RenderReply("reply:1", "x"))
	if !bot.IsPermanent(err) {
		t.Errorf("edit of an unknown message: %v; want a permanent error", err)
	}
}

// TestTokenNeverShown checks the bot token appears in no error and no log line, even
// when Discord refuses it.
func TestTokenNeverShown(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logged := make(chan struct{}, 1)
	e := newEnv(t, ModeGateway, func(o *Options) {
		o.Token = "MTIwMDAw.wrong-secret-token.zzz"
		o.Log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(string(p), "register the slash command failed") {
				select {
				case logged <- struct{}{}:
				default:
				}
			}
			return logs.Write(p)
		}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.f.ExpectRefusals(3)
	ctx := context.Background()
	_, err1 := e.a.CreateRoom(ctx, spec)
	_, err2 := e.a.Post(ctx, bot.RoomRef{ID: e.f.ThreadChannelID}, bot.RenderReply("r", "x"), bot.PostOptions{IdempotencyKey: "k"})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.a.Run(rctx, nil); close(done) }()
	select {
	case <-logged:
	case <-time.After(10 * time.Second):
		t.Fatal("the refused command registration is not logged")
	}
	cancel()
	<-done
	for _, err := range []error{err1, err2} {
		if err == nil || !bot.IsPermanent(err) {
			t.Errorf("refused token: %v; want a permanent error", err)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-secret-token") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "wrong-secret-token") {
		t.Errorf("the log shows the token:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestPlainHTTPAPIURLIsRefusedOffLoopback checks the bot token never travels
// unencrypted: an http:// api_url is refused unless it is a loopback address.
func TestPlainHTTPAPIURLIsRefusedOffLoopback(t *testing.T) {
	o := Options{Token: "MTIz.secret-token", ApplicationID: "1300000000000000100", GuildID: "1300000000000000200", Mode: ModeGateway,
		Clock: clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)), Log: slog.New(slog.DiscardHandler)}
	for _, u := range []string{"http://discord-proxy.corp.example", "http://10.0.0.8:8080"} {
		o.APIURL = u
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "https") || strings.Contains(err.Error(), "secret-token") {
			t.Errorf("api_url %s: %v; want a refusal naming https, without the token", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://discord-proxy.corp.example", ""} {
		o.APIURL = u
		if _, err := New(o); err != nil {
			t.Errorf("api_url %q: %v", u, err)
		}
	}
}
