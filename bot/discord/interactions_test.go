package discord

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
)

var (
	alice = bottest.DiscordMember{ID: "1300000000000000010", Name: "alice", Roles: []string{responderRole}}
	bob   = bottest.DiscordMember{ID: "1300000000000000011", Name: "bob"}
)

// postOpening creates a room and posts the sample opening message in it.
func postOpening(t *testing.T, e *env) (bot.RoomRef, bot.MessageRef) {
	t.Helper()
	ctx := context.Background()
	room, err := e.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.a.Post(ctx, room, sampleOpening(t), bot.PostOptions{IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return room, ref
}

func serveHTTP(t *testing.T, e *env) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /discord/interactions", e.a.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/discord/interactions"
}

func TestHTTPInteractions(t *testing.T) {
	e := newEnv(t, ModeHTTP, nil)
	url := serveHTTP(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { e.a.Run(ctx, ready); close(done) }()
	defer func() { cancel(); <-done }()
	<-ready
	cmds, n := e.f.Commands()
	if n != 1 || len(cmds) != 1 || !strings.Contains(string(cmds[0]), `"name":"warroom"`) {
		t.Fatalf("commands registered: %d overwrites, %s", n, cmds)
	}
	room, msg := postOpening(t, e)

	// Discord checks the endpoint with a PING.
	ping := e.f.Ping()
	if code := e.f.Deliver(url, ping); code != http.StatusOK || e.f.Answer(ping).ResponseType != 1 {
		t.Fatalf("PING: %d, response %s", code, e.f.Answer(ping).Response)
	}

	// A click: acknowledged with a deferred update, then handed to the bot as alice,
	// her guild roles as groups.
	e.in.reply = func(in bot.Interaction) (bot.Reply, error) {
		return bot.Reply{Text: "Refused: you need the approver role @everyone", Private: true, Refused: true}, nil
	}
	click := e.f.Click(alice, msg.ID, "tok-ack-")
	if code := e.f.Deliver(url, click); code != http.StatusOK || e.f.Answer(click).ResponseType != 6 {
		t.Fatalf("click: %d, response %s", code, e.f.Answer(click).Response)
	}
	got := e.in.next(t)
	want := bot.Interaction{Platform: Name, Kind: bot.Click, ActionID: "tok-ack-", Room: bot.RoomRef{ID: room.ID},
		Message: msg, User: bot.User{ID: alice.ID, Name: "alice", Groups: []string{responderRole}}}
	if gj, wj := mustJSON(got), mustJSON(want); gj != wj {
		t.Errorf("interaction\n got %s\nwant %s", gj, wj)
	}

	// A containment button asks to be confirmed first: a private question with Go
	// ahead and Cancel; nothing reaches the bot until Go ahead.
	ask := e.f.Click(alice, msg.ID, ConfirmPrefix+"tok-approve-7")
	if code := e.f.Deliver(url, ask); code != http.StatusOK || e.f.Answer(ask).ResponseType != 4 {
		t.Fatalf("confirmable click: %d, response %s", code, e.f.Answer(ask).Response)
	}
	var ans struct {
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	_ = json.Unmarshal(e.f.Answer(ask).Response, &ans)
	btns := e.f.ResponseButtons(ask)
	if ans.Data.Flags != 64 || !strings.Contains(ans.Data.Content, `Approve\: Block 198.51.100.9/32 \(24h\)`) || len(btns) != 2 ||
		btns[0].CustomID != GoPrefix+"tok-approve-7" || btns[0].Style != 4 || btns[1].CustomID != CancelPrefix+"tok-approve-7" {
		t.Fatalf("confirmation %s, buttons %+v", e.f.Answer(ask).Response, btns)
	}
	select {
	case in := <-e.in.seen:
		t.Fatalf("the click reached the bot before it was confirmed: %+v", in)
	default:
	}
	click = e.f.ClickResponse(alice, ask, GoPrefix+"tok-approve-7")
	if code := e.f.Deliver(url, click); code != http.StatusOK || e.f.Answer(click).ResponseType != 7 {
		t.Fatalf("go ahead: %d, response %s", code, e.f.Answer(click).Response)
	}
	got = e.in.next(t)
	if got.ActionID != "tok-approve-7" || got.User.ID != alice.ID || got.Room.ID != room.ID {
		t.Errorf("confirmed click %+v", got)
	}
	// The private answer comes as an ephemeral follow-up, inert.
	e.f.Await("the follow-up", 10*time.Second, func() bool { return len(e.f.Answer(click).Followups) == 1 })
	if fu := e.f.Answer(click).Followups[0]; fu.Flags != 64 || !strings.Contains(fu.Content, "approver role") || strings.Contains(fu.Content, "@everyone") {
		t.Errorf("follow-up %+v", fu)
	}

	// A slash command: a deferred ephemeral answer, edited with the reply.
	e.in.reply = func(in bot.Interaction) (bot.Reply, error) {
		return bot.Reply{Text: "INC-0042 is open", Private: true}, nil
	}
	cmd := e.f.Command(bob, room.ID, "status")
	if code := e.f.Deliver(url, cmd); code != http.StatusOK || e.f.Answer(cmd).ResponseType != 5 {
		t.Fatalf("command: %d %s", code, e.f.Answer(cmd).Response)
	}
	if got := e.in.next(t); got.Kind != bot.Command || got.Text != "status" || got.User.ID != bob.ID || got.Room.ID != room.ID {
		t.Errorf("command interaction %+v", got)
	}
	e.f.Await("the answer", 10*time.Second, func() bool { return len(e.f.Answer(cmd).Edits) == 1 })
	if ed := e.f.Answer(cmd).Edits[0]; !strings.Contains(ed.Content, "INC\\-0042 is open") {
		t.Errorf("answer %+v", ed)
	}

	// The same signed request again is refused: interaction ids are accepted once.
	if code := e.f.Deliver(url, click); code != http.StatusUnauthorized {
		t.Errorf("replayed interaction: %d; want 401", code)
	}
}

// TestForgedAndStaleSignaturesRefused checks only genuine, fresh requests get in,
// and that nothing reaches the bot otherwise.
func TestForgedAndStaleSignaturesRefused(t *testing.T) {
	e := newEnv(t, ModeHTTP, nil)
	url := serveHTTP(t, e)
	_, msg := postOpening(t, e)
	ix := e.f.Click(alice, msg.ID, "tok-ack-")
	now := e.clk.Now()
	do := func(req *http.Request) int {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"stale", func() *http.Request { return e.f.SignedRequest(url, ix.Payload, now.Add(-6*time.Minute)) }},
		{"future", func() *http.Request { return e.f.SignedRequest(url, ix.Payload, now.Add(6*time.Minute)) }},
		{"forged body", func() *http.Request {
			r := e.f.SignedRequest(url, ix.Payload, now)
			forged := strings.Replace(string(ix.Payload), alice.ID, bob.ID, 1)
			r2 := e.f.SignedRequest(url, []byte(forged), now)
			r2.Header.Set("X-Signature-Ed25519", r.Header.Get("X-Signature-Ed25519"))
			return r2
		}},
		{"timestamp swapped", func() *http.Request {
			r := e.f.SignedRequest(url, ix.Payload, now)
			r.Header.Set("X-Signature-Timestamp", strconv.FormatInt(now.Unix()+1, 10))
			return r
		}},
		{"no signature", func() *http.Request {
			r := e.f.SignedRequest(url, ix.Payload, now)
			r.Header.Del("X-Signature-Ed25519")
			return r
		}},
		{"other key", func() *http.Request { return bottest.NewDiscord(t).SignedRequest(url, ix.Payload, now) }},
	} {
		if code := do(tc.req()); code != http.StatusUnauthorized {
			t.Errorf("%s: %d; want 401", tc.name, code)
		}
	}
	select {
	case in := <-e.in.seen:
		t.Fatalf("a refused request reached the bot: %+v", in)
	default:
	}
	// Within the window it is accepted (4 minutes old).
	if code := do(e.f.SignedRequest(url, ix.Payload, now.Add(-4*time.Minute))); code != http.StatusOK {
		t.Errorf("fresh request: %d", code)
	}
	e.in.next(t)
}

func TestVerify(t *testing.T) {
	f := bottest.NewDiscord(t)
	now := time.Unix(1_790_000_000, 0)
	ts := "1790000000"
	body := []byte(`{"type":1}`)
	sig := f.Sign(ts, body)
	for _, tc := range []struct {
		name, sig, ts string
		body          []byte
		now           time.Time
		want          string
	}{
		{"good", sig, ts, body, now, ""},
		{"window edge", sig, ts, body, now.Add(SignatureWindow), ""},
		{"stale", sig, ts, body, now.Add(SignatureWindow + time.Second), "stale request"},
		{"bad hex", "zz", ts, body, now, "malformed X-Signature-Ed25519"},
		{"short", sig[:10], ts, body, now, "malformed X-Signature-Ed25519"},
		{"no ts", sig, "", body, now, "malformed X-Signature-Timestamp"},
		{"other body", sig, ts, []byte(`{"type":2}`), now, "invalid request signature"},
	} {
		got := Verify(f.Public, tc.now, tc.sig, tc.ts, tc.body)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestGatewayInteractions connects to the fake gateway (hello, identify, READY,
// heartbeats) and handles a click and a command dispatched as INTERACTION_CREATE,
// answering through the callback endpoint.
func TestGatewayInteractions(t *testing.T) {
	e := newEnv(t, ModeGateway, nil)
	_, msg := postOpening(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { e.a.Run(ctx, ready); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not connect")
	}
	e.f.AwaitGateway(5 * time.Second)
	e.f.RequestHeartbeat(5 * time.Second)
	if id, hb, acks := e.f.GatewayStats(); id != 1 || hb < 1 || acks != hb {
		t.Errorf("gateway: %d identified, %d heartbeats, %d acks", id, hb, acks)
	}
	click := e.f.Click(bob, msg.ID, "tok-ack-")
	e.f.Dispatch(click)
	e.f.AwaitAnswer(click, 10*time.Second)
	if e.f.Answer(click).ResponseType != 6 {
		t.Errorf("click answered with %d; want a deferred update (6)", e.f.Answer(click).ResponseType)
	}
	if got := e.in.next(t); got.ActionID != "tok-ack-" || got.User.ID != bob.ID || got.Message.ID != msg.ID {
		t.Errorf("click %+v", got)
	}
	// Cancel answers at once and reaches nothing.
	ask := e.f.Click(bob, msg.ID, ConfirmPrefix+"tok-revert-8")
	e.f.Dispatch(ask)
	e.f.AwaitAnswer(ask, 10*time.Second)
	cancelled := e.f.ClickResponse(bob, ask, CancelPrefix+"tok-revert-8")
	e.f.Dispatch(cancelled)
	e.f.AwaitAnswer(cancelled, 10*time.Second)
	if r := e.f.Answer(cancelled); r.ResponseType != 7 || !strings.Contains(string(r.Response), "Cancelled") {
		t.Errorf("cancel answered %s", r.Response)
	}
	select {
	case in := <-e.in.seen:
		t.Fatalf("a cancelled click reached the bot: %+v", in)
	default:
	}
	e.in.reply = func(bot.Interaction) (bot.Reply, error) { return bot.Reply{Text: "help text", Private: true}, nil }
	cmd := e.f.Command(alice, e.f.ThreadChannelID, "")
	e.f.Dispatch(cmd)
	e.f.AwaitAnswer(cmd, 10*time.Second)
	if got := e.in.next(t); got.Text != "help" {
		t.Errorf("empty command became %q; want help", got.Text)
	}
	e.f.Await("the answer", 10*time.Second, func() bool { return len(e.f.Answer(cmd).Edits) == 1 })
	if ed := e.f.Answer(cmd).Edits[0]; ed.Content != "help text" {
		t.Errorf("answer %+v", ed)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRefusedRequestsAnswer401WithoutDetail checks a refused request learns nothing
// from the answer: forged, stale and replayed requests all get the same bare 401.
func TestRefusedRequestsAnswer401WithoutDetail(t *testing.T) {
	e := newEnv(t, ModeHTTP, nil)
	url := serveHTTP(t, e)
	_, msg := postOpening(t, e)
	ix := e.f.Click(alice, msg.ID, "tok-ack-")
	now := e.clk.Now()
	do := func(req *http.Request) (int, string) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do(e.f.SignedRequest(url, ix.Payload, now)); code != http.StatusOK {
		t.Fatalf("genuine request: %d", code)
	}
	e.in.next(t)
	for name, req := range map[string]*http.Request{
		"stale":    e.f.SignedRequest(url, ix.Payload, now.Add(-6*time.Minute)),
		"forged":   bottest.NewDiscord(t).SignedRequest(url, ix.Payload, now),
		"replayed": e.f.SignedRequest(url, ix.Payload, now),
	} {
		code, body := do(req)
		if code != http.StatusUnauthorized || strings.TrimSpace(body) != "unauthorized" {
			t.Errorf("%s: %d %q; want 401 \"unauthorized\" and nothing more", name, code, body)
		}
	}
}

// TestFailedClickTellsTheUserNoInternals checks the error of a failed interaction
// stays in the log: the clicker is told it failed, not why.
func TestFailedClickTellsTheUserNoInternals(t *testing.T) {
	e := newEnv(t, ModeHTTP, nil)
	url := serveHTTP(t, e)
	_, msg := postOpening(t, e)
	const internal = "panos: https://fw1.corp.example/api?key=LUFRPT14MW5xOEo1R09KVlBZNnpnemh0VHRBOWl6TGM9"
	e.in.reply = func(bot.Interaction) (bot.Reply, error) { return bot.Reply{}, errors.New(internal) }
	click := e.f.Click(alice, msg.ID, "tok-ack-")
	if code := e.f.Deliver(url, click); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	e.in.next(t)
	e.f.Await("the follow-up", 10*time.Second, func() bool { return len(e.f.Answer(click).Followups) == 1 })
	if fu := e.f.Answer(click).Followups[0]; strings.Contains(fu.Content, "LUFRPT") || strings.Contains(fu.Content, "corp") {
		t.Errorf("the follow-up shows the internal error: %q", fu.Content)
	}
}

// TestInteractionTokenNeverLogged checks a failed answer to an interaction is logged
// without the interaction's token, which lets anyone holding it post as the bot for
// 15 minutes (Go's transport errors quote the whole URL, token included).
func TestInteractionTokenNeverLogged(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, ModeHTTP, func(o *Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	url := serveHTTP(t, e)
	_, msg := postOpening(t, e)
	e.in.reply = func(bot.Interaction) (bot.Reply, error) {
		e.f.Close() // Discord is gone when the answer is sent
		return bot.Reply{Text: "refused", Private: true, Refused: true}, nil
	}
	click := e.f.Click(alice, msg.ID, "tok-ack-")
	if code := e.f.Deliver(url, click); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	e.in.next(t)
	e.a.work.Wait()
	out := logs.String()
	if !strings.Contains(out, "discord: answer a click") {
		t.Fatalf("the failed answer was not logged:\n%s", out)
	}
	if strings.Contains(out, click.Token) {
		t.Errorf("the log holds the interaction token:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
