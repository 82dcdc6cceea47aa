package slack_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	slackbot "github.com/warroom/warroom/bot/slack"
)

// recorder is the bot side: it records interactions and answers with reply; when
// hold is set, it waits for it to close before answering.
type recorder struct {
	got   chan bot.Interaction
	reply func(bot.Interaction) bot.Reply
	hold  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{got: make(chan bot.Interaction, 16), reply: func(bot.Interaction) bot.Reply { return bot.Reply{} }}
}

func (r *recorder) Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error) {
	if r.hold != nil {
		<-r.hold
	}
	r.got <- in
	return r.reply(in), nil
}

func (r *recorder) next(t *testing.T) bot.Interaction {
	t.Helper()
	select {
	case in := <-r.got:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no interaction reached the bot")
	}
	return bot.Interaction{}
}

func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case in := <-r.got:
		t.Fatalf("unexpected interaction %+v", in)
	default:
	}
}

// eventsServer serves the adapter's Events API endpoints, with a room and its opening
// message on the fake.
func eventsServer(t *testing.T) (*harness, *recorder, *httptest.Server, bot.RoomRef, bot.MessageRef) {
	h := newHarness(t, nil)
	rec := newRecorder()
	h.a.Attach(rec)
	srv := httptest.NewServer(h.a.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	ref, err := h.a.CreateRoom(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.a.Post(ctx, ref, opening(), bot.PostOptions{IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.a.Wait)
	return h, rec, srv, ref, m
}

func TestURLVerificationIsAnswered(t *testing.T) {
	h, _, srv, _, _ := eventsServer(t)
	code, body, err := bottest.EventRequest(bottest.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")).Send(srv.URL, secret, h.clk.Now(), "")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Fatalf("url_verification: %d %q %v", code, body, err)
	}
}

func TestForgedStaleAndReplayedRequestsGet401AndChangeNothing(t *testing.T) {
	h, rec, srv, ref, m := eventsServer(t)
	click := bottest.InteractionRequest(h.fake.BlockActions("U0ALICE", ref.ID, m.ID, "tok-ack"))
	updates := h.fake.CallCount("chat.update")
	cases := []struct {
		name string
		send func() (int, string, error)
	}{
		{"forged", func() (int, string, error) {
			return click.Send(srv.URL, "not-the-secret", h.clk.Now(), "")
		}},
		{"tampered body", func() (int, string, error) {
			_, sig := bottest.SignSlack(secret, h.clk.Now(), click.Body)
			other := click
			other.Body = append([]byte(nil), click.Body...)
			other.Body[len(other.Body)-3] ^= 1
			return other.Send(srv.URL, secret, h.clk.Now(), sig)
		}},
		{"stale", func() (int, string, error) {
			return click.Send(srv.URL, secret, h.clk.Now().Add(-5*time.Minute-time.Second), "")
		}},
		{"from the future", func() (int, string, error) {
			return click.Send(srv.URL, secret, h.clk.Now().Add(6*time.Minute), "")
		}},
		{"unsigned", func() (int, string, error) { return click.SendWith(srv.URL, "", "") }},
		{"bad timestamp", func() (int, string, error) { return click.SendWith(srv.URL, "yesterday", "v0=00") }},
	}
	for _, c := range cases {
		code, body, err := c.send()
		if err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s: %d %q %v; want 401", c.name, code, body, err)
		}
	}
	rec.none(t)
	// The genuine request is accepted once; its replay is refused.
	at := h.clk.Now()
	if code, body, err := click.Send(srv.URL, secret, at, ""); err != nil || code != http.StatusOK {
		t.Fatalf("genuine click: %d %q %v", code, body, err)
	}
	rec.next(t)
	h.a.Wait()
	h.clk.Advance(time.Minute)
	if code, body, _ := click.Send(srv.URL, secret, at, ""); code != http.StatusUnauthorized || strings.TrimSpace(body) != "unauthorized" {
		t.Fatalf("replay: %d %q; want 401", code, body)
	}
	h.a.Wait()
	rec.none(t)
	if n := h.fake.CallCount("chat.update"); n != updates+1 {
		t.Errorf("%d chat.update calls; want one, for the genuine click", n-updates)
	}
}

func TestClickIsAcknowledgedBeforeTheWorkAndShowsWhoClicked(t *testing.T) {
	h, rec, srv, ref, m := eventsServer(t)
	rec.hold = make(chan struct{})
	rec.reply = func(in bot.Interaction) bot.Reply {
		return bot.Reply{Private: true, Refused: true, Text: "refused by role: alice has role responder"}
	}
	h.fake.AddGroup("S0RESP", "responders", "U0ALICE")
	click := bottest.InteractionRequest(h.fake.BlockActions("U0ALICE", ref.ID, m.ID, "tok-ack"))
	// The bot is still working (held) when Slack gets its 200.
	code, _, err := click.Send(srv.URL, secret, h.clk.Now(), "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("click: %d %v", code, err)
	}
	close(rec.hold)
	in := rec.next(t)
	if in.Platform != "slack" || in.Kind != bot.Click || in.ActionID != "tok-ack" || in.User.ID != "U0ALICE" ||
		in.User.Name != "alice" || len(in.User.Groups) != 1 || in.User.Groups[0] != "S0RESP" || in.Room.ID != ref.ID || in.Message.ID != m.ID {
		t.Fatalf("interaction %+v", in)
	}
	h.a.Wait()
	msgs := h.fake.Snapshot(ref.ID)
	if latest := string(msgs[0].Latest().Blocks); !strings.Contains(latest, "alice clicked “Acknowledge”") {
		t.Errorf("the message does not show who clicked: %s", latest)
	}
	e := h.fake.Ephemerals()
	if len(e) != 1 || e[0].User != "U0ALICE" || !strings.Contains(e[0].Text, "refused by role") {
		t.Fatalf("refusal: %+v; want one ephemeral message to alice", e)
	}
	// The next version of the message from the outbox keeps the line.
	if err := h.a.Update(context.Background(), ref, m, opening()); err != nil {
		t.Fatal(err)
	}
	msgs = h.fake.Snapshot(ref.ID)
	if latest := string(msgs[0].Latest().Blocks); !strings.Contains(latest, "alice clicked") {
		t.Errorf("an update dropped who clicked: %s", latest)
	}
}

func TestSlashCommandAnswersPrivatelyThroughResponseURL(t *testing.T) {
	h, rec, srv, ref, _ := eventsServer(t)
	rec.reply = func(in bot.Interaction) bot.Reply {
		return bot.Reply{Private: true, Text: "Commands: ack, block, resolve"}
	}
	cmd := h.fake.SlashCommand("U0BOB", ref.ID, "/warroom", "  help ")
	code, body, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("command: %d %q %v", code, body, err)
	}
	in := rec.next(t)
	if in.Kind != bot.Command || in.Text != "help" || in.User.ID != "U0BOB" || in.Room.ID != ref.ID || len(in.User.Groups) != 1 {
		t.Fatalf("interaction %+v", in)
	}
	h.a.Wait()
	rs := h.fake.Responses()
	if len(rs) != 1 || rs[0].ResponseType != "ephemeral" || rs[0].Text != "Commands: ack, block, resolve" {
		t.Fatalf("responses %+v", rs)
	}
	// Another command name is refused.
	cmd = h.fake.SlashCommand("U0BOB", ref.ID, "/other", "help")
	if code, _, _ := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); code != http.StatusBadRequest {
		t.Errorf("unknown command: %d; want 400", code)
	}
	rec.none(t)
}

func TestEventsAreHandledOncePerEventID(t *testing.T) {
	h, rec, srv, ref, _ := eventsServer(t)
	ev := bottest.EventRequest(h.fake.AppMention("U0ALICE", ref.ID, "ack"))
	for i := range 3 { // Slack's retries carry the same event_id and a new signature
		if code, body, err := ev.Send(srv.URL, secret, h.clk.Now().Add(time.Duration(i)*time.Second), ""); err != nil || code != http.StatusOK {
			t.Fatalf("delivery %d: %d %q %v", i, code, body, err)
		}
		h.a.Wait()
	}
	in := rec.next(t)
	if in.Kind != bot.Command || in.Text != "ack" || in.User.ID != "U0ALICE" || in.Room.ID != ref.ID {
		t.Fatalf("interaction %+v", in)
	}
	rec.none(t)
}

func TestRequestsFromAnotherWorkspaceAreRefused(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) { o.TeamID = "T0OTHER" })
	rec := newRecorder()
	h.a.Attach(rec)
	srv := httptest.NewServer(h.a.Handler())
	defer srv.Close()
	cmd := h.fake.SlashCommand("U0BOB", "C0000001", "/warroom", "help")
	if code, _, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusForbidden {
		t.Fatalf("command from another workspace: %d %v; want 403", code, err)
	}
	h.a.Wait()
	rec.none(t)
}

func TestMentionsInCommandsBecomeSlackIdentities(t *testing.T) {
	h, rec, srv, ref, _ := eventsServer(t)
	ev := bottest.EventRequest(h.fake.AppMention("U0ALICE", ref.ID, "assign <@U0BOB|bob>"))
	if code, _, err := ev.Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("mention: %d %v", code, err)
	}
	if in := rec.next(t); in.Text != "assign @slack:U0BOB" {
		t.Fatalf("command text %q", in.Text)
	}
	cmd := h.fake.SlashCommand("U0ALICE", ref.ID, "/warroom", "assign <@U0CAROL>")
	if code, _, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("command: %d %v", code, err)
	}
	if in := rec.next(t); in.Text != "assign @slack:U0CAROL" {
		t.Fatalf("command text %q", in.Text)
	}
}

func TestVerificationFailureAnswers401WithoutDetail(t *testing.T) {
	h, rec, srv, ref, m := eventsServer(t)
	click := bottest.InteractionRequest(h.fake.BlockActions("U0ALICE", ref.ID, m.ID, "tok-ack"))
	at := h.clk.Now()
	if code, body, err := click.Send(srv.URL, secret, at, ""); err != nil || code != http.StatusOK {
		t.Fatalf("genuine click: %d %q %v", code, body, err)
	}
	rec.next(t)
	h.a.Wait()
	sends := map[string]func() (int, string, error){
		"forged":        func() (int, string, error) { return click.Send(srv.URL, "not-the-secret", h.clk.Now(), "") },
		"stale":         func() (int, string, error) { return click.Send(srv.URL, secret, h.clk.Now().Add(-10*time.Minute), "") },
		"unsigned":      func() (int, string, error) { return click.SendWith(srv.URL, "", "") },
		"bad timestamp": func() (int, string, error) { return click.SendWith(srv.URL, "yesterday", "v0=00") },
		"replayed":      func() (int, string, error) { return click.Send(srv.URL, secret, at, "") },
	}
	for name, send := range sends {
		code, body, err := send()
		if err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s: %d %v; want 401", name, code, err)
		}
		if strings.TrimSpace(body) != "unauthorized" {
			t.Errorf("%s: the 401 body says %q; want only \"unauthorized\"", name, body)
		}
	}
	h.a.Wait()
	rec.none(t)
}

// TestWorkspaceIsLearnedWhenTeamIDIsUnset checks that without team_id the adapter
// serves the workspace its bot token belongs to (auth.test) and refuses requests
// signed for the same app from any other workspace.
func TestWorkspaceIsLearnedWhenTeamIDIsUnset(t *testing.T) {
	h, rec, srv, ref, _ := eventsServer(t)
	cmd := h.fake.SlashCommand("U0BOB", ref.ID, "/warroom", "ack")
	cmd["team_id"] = "T0OTHER"
	if code, _, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusForbidden {
		t.Fatalf("command from another workspace: %d %v; want 403", code, err)
	}
	h.a.Wait()
	rec.none(t)
	cmd = h.fake.SlashCommand("U0BOB", ref.ID, "/warroom", "ack")
	if code, _, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("command from the bot's workspace: %d %v; want 200", code, err)
	}
	rec.next(t)
}

// TestExternalUsersInSharedChannelsAreRefused checks a user of another organisation
// in a channel shared through Slack Connect cannot click or command: the request is
// signed and comes from the served workspace, but the user's own team is another.
func TestExternalUsersInSharedChannelsAreRefused(t *testing.T) {
	h, rec, srv, ref, m := eventsServer(t)
	click := h.fake.BlockActions("U0ALICE", ref.ID, m.ID, "tok-ack")
	click["user"].(map[string]any)["team_id"] = "T0EXTERNAL"
	if code, body, err := bottest.InteractionRequest(click).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusForbidden {
		t.Fatalf("click by an external user: %d %q %v; want 403", code, body, err)
	}
	ev := h.fake.AppMention("U0ALICE", ref.ID, "ack")
	ev["event"].(map[string]any)["user_team"] = "T0EXTERNAL"
	if code, body, err := bottest.EventRequest(ev).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("mention by an external user: %d %q %v", code, body, err)
	}
	h.a.Wait()
	rec.none(t)
	// The same user of the served workspace gets through.
	ev = h.fake.AppMention("U0ALICE", ref.ID, "ack")
	if code, _, err := bottest.EventRequest(ev).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("mention: %d %v", code, err)
	}
	rec.next(t)
}

// failHooks fails every request to a response_url, as a network failure does.
type failHooks struct{}

func (failHooks) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/hooks/") {
		return nil, errors.New("connection reset by peer")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestResponseURLNeverLogged checks a failed answer through a command's response_url
// is logged without the URL: whoever holds it may post in the channel for 30 minutes.
func TestResponseURLNeverLogged(t *testing.T) {
	h := newHarness(t, func(o *slackbot.Options) {
		o.HTTPClient = &http.Client{Transport: failHooks{}, Timeout: 10 * time.Second}
	})
	rec := newRecorder()
	rec.reply = func(bot.Interaction) bot.Reply { return bot.Reply{Private: true, Text: "Commands: ack"} }
	h.a.Attach(rec)
	srv := httptest.NewServer(h.a.Handler())
	defer srv.Close()
	ref, err := h.a.CreateRoom(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.fake.SlashCommand("U0BOB", ref.ID, "/warroom", "help")
	if code, _, err := bottest.CommandRequest(cmd).Send(srv.URL, secret, h.clk.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("command: %d %v", code, err)
	}
	rec.next(t)
	h.a.Wait()
	logs := h.logs.String()
	if !strings.Contains(logs, "response_url") {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	if strings.Contains(logs, cmd["response_url"]) || strings.Contains(logs, "/hooks/response/") {
		t.Errorf("the log holds the response_url:\n%s", logs)
	}
	if e := h.fake.Ephemerals(); len(e) != 1 || e[0].User != "U0BOB" {
		t.Errorf("ephemerals %+v; want the answer through chat.postEphemeral", e)
	}
}
