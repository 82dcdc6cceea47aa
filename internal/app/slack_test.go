package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/bot/bottest"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/triage/model"
)

const slackSecret = "e2e-signing-secret-0123456789abcdef"

// slackApp is the example configuration with Slack on, in one mode, against the
// strict fake Slack: alice (U0ALICE) is a responder by user id, the members of the
// user group S0SOC (bob, carol) approvers by group.
type slackApp struct {
	*responseServer
	fake *bottest.SlackFake
	mode string
}

func newSlackApp(t *testing.T, mode string, mutate ...func(*config.SlackChat)) *slackApp {
	t.Helper()
	fake := bottest.NewSlack(t)
	fake.AddUser("U0ALICE", "alice")
	fake.AddUser("U0BOB", "bob")
	fake.AddUser("U0CAROL", "carol")
	fake.AddGroup("S0SOC", "soc-oncall", "U0BOB", "U0CAROL")
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := newResponseServer(t, func(c *config.Config) {
		c.Platforms.Slack = config.SlackChat{Enabled: true, Mode: mode, APIURL: fake.APIURL(),
			BotTokenFile: write("bot", fake.BotToken), InviteUsers: []string{"U0ALICE"}, InviteUsergroup: "S0SOC", TeamID: fake.TeamID}
		if mode == config.SlackModeSocket {
			c.Platforms.Slack.AppTokenFile = write("app", fake.AppToken)
			// The configured socket URL replaces the one apps.connections.open hands out.
			c.Platforms.Slack.SocketURL = "ws" + strings.TrimPrefix(fake.URL(), "http") + "/socket?ticket=configured"
		} else {
			c.Platforms.Slack.SigningSecretFile = write("secret", slackSecret)
		}
		for _, m := range mutate {
			m(&c.Platforms.Slack)
		}
		c.Chat.Roles = []config.ChatRole{{Platform: "slack", User: "U0ALICE", Role: config.RoleResponder},
			{Platform: "slack", Group: "S0SOC", Role: config.RoleApprover}}
	})
	stop := s.App.StartChat(context.Background())
	t.Cleanup(stop)
	if mode == config.SlackModeSocket {
		fake.AwaitSocket(30 * time.Second)
	}
	return &slackApp{responseServer: s, fake: fake, mode: mode}
}

// until waits for cond, moving the clock a second at a time so paced posts and
// retries come due.
func (s *slackApp) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		select {
		case <-s.fake.Changed():
		case <-tick.C:
			s.Clock.Advance(250 * time.Millisecond)
			s.App.Bot.Outbox().Wake("slack")
		}
	}
}

// click sends userID's click on the button whose label starts with label, the way
// the mode delivers it, and returns the HTTP status (200 for Socket Mode's ack).
func (s *slackApp) click(t *testing.T, userID, channel, ts, label string) int {
	t.Helper()
	payload := s.fake.BlockActions(userID, channel, ts, buttonID(t, s.fake, channel, ts, label))
	if s.mode == config.SlackModeSocket {
		s.fake.Deliver("interactive", payload)
		return http.StatusOK
	}
	code, body, err := bottest.InteractionRequest(payload).Send(s.URL, slackSecret, s.Clock.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK {
		t.Fatalf("click: %d %s", code, body)
	}
	return code
}

// buttonID finds the action id of the button labelled label... on a message.
func buttonID(t *testing.T, f *bottest.SlackFake, channel, ts, label string) string {
	t.Helper()
	for _, m := range f.Snapshot(channel) {
		if m.TS != ts {
			continue
		}
		var blocks []struct {
			Type     string          `json:"type"`
			Elements json.RawMessage `json:"elements"`
		}
		if err := json.Unmarshal(m.Latest().Blocks, &blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if b.Type != "actions" {
				continue
			}
			var els []struct {
				ActionID string `json:"action_id"`
				Text     struct {
					Text string `json:"text"`
				} `json:"text"`
			}
			if err := json.Unmarshal(b.Elements, &els); err != nil {
				t.Fatal(err)
			}
			for _, e := range els {
				if strings.HasPrefix(e.Text.Text, label) {
					return e.ActionID
				}
			}
		}
	}
	t.Fatalf("no button %q on message %s", label, ts)
	return ""
}

// keyCount counts the channel's messages by the idempotency key in their metadata.
func keyCount(f *bottest.SlackFake, channel string) map[string]int {
	out := map[string]int{}
	for _, m := range f.Snapshot(channel) {
		var md struct {
			EventPayload struct {
				Key string `json:"key"`
			} `json:"event_payload"`
		}
		if json.Unmarshal(m.Metadata, &md) == nil && md.EventPayload.Key != "" {
			out[md.EventPayload.Key]++
		}
	}
	return out
}

func latestText(f *bottest.SlackFake, channel, ts string) string {
	for _, m := range f.Snapshot(channel) {
		if m.TS == ts {
			return string(m.Latest().Blocks)
		}
	}
	return ""
}

func hasMessage(f *bottest.SlackFake, channel, sub string) int {
	n := 0
	for _, m := range f.Snapshot(channel) {
		if strings.Contains(m.Latest().Text, sub) {
			n++
		}
	}
	return n
}

// slackFlow is the end-to-end path: an alert over HTTP opens a channel with
// the responders invited and the opening message pinned, with the playbook's block as
// a danger button; alice asks for it, is refused when she tries to approve it too,
// bob (an approver through his user group) approves it, the EDL serves the address,
// and the opening message shows who clicked and the action's new state. outage, when
// set, runs in the middle, between alice's request and bob's approval.
func slackFlow(t *testing.T, s *slackApp, outage func(channel string)) (channel, opening string) {
	t.Helper()
	ctx := context.Background()
	body, attacker := bruteForce(t)
	target := attacker + "/32"
	res, err := s.ingestClient.Ingest(ctx, "suricata", "application/x-ndjson", body)
	if err != nil || res.Accepted == 0 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	ev := s.await(t, "proposal of the block", func(ev actions.Event) bool { return ev.Kind == "proposed" && ev.Action.Target == target })

	// The channel, its members, the pinned opening message with the block button.
	var ch *bottest.SlackChannel
	s.until(t, "the incident channel with its opening message", func() bool {
		chs := s.fake.Channels()
		if len(chs) != 1 {
			return false
		}
		ch = chs[0]
		c, _ := s.fake.Channel(ch.ID)
		return len(s.fake.Snapshot(ch.ID)) > 0 && strings.Contains(latestText(s.fake, ch.ID, s.fake.Snapshot(ch.ID)[0].TS), "Block "+target) &&
			s.fake.CallCount("pins.add") == 1 && c != nil
	})
	channel = ch.ID
	num := model.IncidentNumber(ev.IncidentID)
	if !strings.HasPrefix(ch.Name, "inc-0001-") || !strings.Contains(ch.Topic, num) || !strings.Contains(ch.Purpose, num) || ch.Creator != s.fake.BotUserID {
		t.Errorf("channel %s topic %q purpose %q", ch.Name, ch.Topic, ch.Purpose)
	}
	s.until(t, "the invitations", func() bool {
		return strings.Join(s.fake.Members(channel), ",") == "U0ALICE,U0BOB,U0CAROL,U0WARROOM"
	})
	opening = s.fake.Snapshot(channel)[0].TS
	if c, _ := s.fake.Channel(channel); len(c.Pins) != 1 || c.Pins[0] != opening {
		t.Errorf("pins %v; want the opening message", c.Pins)
	}
	if txt := latestText(s.fake, channel, opening); !strings.Contains(txt, `"style":"danger"`) || !strings.Contains(txt, `"confirm"`) {
		t.Errorf("the block button is not a danger button with a confirmation: %s", txt)
	}

	// alice, a responder, asks for the block.
	s.click(t, "U0ALICE", channel, opening, "Block "+target)
	s.until(t, "alice's request in the channel and on the button", func() bool {
		return hasMessage(s.fake, channel, "alice requests") == 1 && strings.Contains(latestText(s.fake, channel, opening), "Approve: Block "+target)
	})
	if !strings.Contains(latestText(s.fake, channel, opening), "alice clicked") {
		t.Errorf("the opening message does not say who clicked")
	}
	// She cannot approve it herself: refused, to her alone.
	s.click(t, "U0ALICE", channel, opening, "Approve: Block "+target)
	s.until(t, "alice's refusal", func() bool {
		for _, e := range s.fake.Ephemerals() {
			if e.User == "U0ALICE" && strings.Contains(e.Text, "Not allowed") {
				return true
			}
		}
		return false
	})
	if present := strings.Contains(s.edl(t), attacker+"\n"); present {
		t.Fatal("the block is in place before an approver approved it")
	}
	if outage != nil {
		s.fake.SetDown(true)
	}
	// bob approves through his user group: the block runs.
	s.click(t, "U0BOB", channel, opening, "Approve: Block "+target)
	s.await(t, "the block's success", func(e actions.Event) bool { return e.Kind == "succeeded" && e.ActionID == ev.ActionID })
	if outage != nil {
		outage(channel)
	}
	if !strings.Contains(s.edl(t), attacker+"\n") {
		t.Fatal("the EDL does not serve the blocked address")
	}
	s.until(t, "the opening message updated with the block in place", func() bool {
		txt := latestText(s.fake, channel, opening)
		return strings.Contains(txt, "succeeded") && strings.Contains(txt, "bob clicked") && hasMessage(s.fake, channel, "bob approved") == 1
	})
	a, err := s.Bob.Action(ctx, ev.ActionID)
	if err != nil || len(a.Approvals) != 1 || a.Approvals[0].By != "slack:U0BOB" {
		t.Fatalf("approvals %+v %v; want slack:U0BOB", a.Approvals, err)
	}
	// Nothing posted twice.
	for k, n := range keyCount(s.fake, channel) {
		if n != 1 {
			t.Errorf("message %s posted %d times", k, n)
		}
	}
	return channel, opening
}

func TestSlackEventsAPIEndToEnd(t *testing.T) {
	s := newSlackApp(t, config.SlackModeEvents, func(sc *config.SlackChat) { sc.ArchiveAfter = config.Duration(time.Hour) })
	// Slack checks the Events URL.
	code, body, err := bottest.EventRequest(bottest.URLVerification("challenge-123")).Send(s.URL, slackSecret, s.Clock.Now(), "")
	if err != nil || code != http.StatusOK || !strings.Contains(body, "challenge-123") {
		t.Fatalf("url_verification: %d %q %v", code, body, err)
	}
	channel, opening := slackFlow(t, s, nil)

	// /warroom in the room runs through the shared parser; the answer is private.
	cmd := s.fake.SlashCommand("U0CAROL", channel, "/warroom", "help")
	if code, body, err := bottest.CommandRequest(cmd).Send(s.URL, slackSecret, s.Clock.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("/warroom help: %d %q %v", code, body, err)
	}
	s.until(t, "the private answer to /warroom help", func() bool { return len(s.fake.Responses()) == 1 })
	if r := s.fake.Responses()[0]; r.ResponseType != "ephemeral" || r.Text == "" {
		t.Errorf("answer %+v", r)
	}
	// An @-mention in the room runs a command too; the answer is private.
	mention := s.fake.AppMention("U0CAROL", channel, "help")
	if code, _, err := bottest.EventRequest(mention).Send(s.URL, slackSecret, s.Clock.Now(), ""); err != nil || code != http.StatusOK {
		t.Fatalf("mention: %d %v", code, err)
	}
	s.until(t, "the private answer to the mention", func() bool {
		for _, e := range s.fake.Ephemerals() {
			if e.User == "U0CAROL" {
				return true
			}
		}
		return false
	})

	// Forged and stale clicks on Resolve get 401 and change nothing; the genuine one
	// resolves the incident; its replay gets 401.
	ctx := context.Background()
	resolve := bottest.InteractionRequest(s.fake.BlockActions("U0CAROL", channel, opening, buttonID(t, s.fake, channel, opening, "Resolve")))
	if code, _, _ := resolve.Send(s.URL, "wrong-secret", s.Clock.Now(), ""); code != http.StatusUnauthorized {
		t.Errorf("forged: %d; want 401", code)
	}
	if code, _, _ := resolve.Send(s.URL, slackSecret, s.Clock.Now().Add(-6*time.Minute), ""); code != http.StatusUnauthorized {
		t.Errorf("stale: %d; want 401", code)
	}
	if inc, err := s.Alice.Incident(ctx, "INC-0001"); err != nil || inc.Status != model.StatusContained {
		t.Fatalf("after forged and stale clicks: %+v %v; want still contained", inc, err)
	}
	ts, sig := bottest.SignSlack(slackSecret, s.Clock.Now(), resolve.Body)
	if code, body, _ := resolve.SendWith(s.URL, ts, sig); code != http.StatusOK {
		t.Fatalf("genuine: %d %s; want 200", code, body)
	}
	s.until(t, "the incident resolved", func() bool {
		return strings.Contains(latestText(s.fake, channel, opening), "Status resolved")
	})
	if code, _, _ := resolve.SendWith(s.URL, ts, sig); code != http.StatusUnauthorized {
		t.Errorf("replayed: %d; want 401", code)
	}
	resolvedBy := ""
	inc, err := s.Alice.Incident(ctx, "INC-0001")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inc.Timeline {
		if e.Kind == "status" && strings.Contains(e.Text, "resolved") {
			resolvedBy += e.Actor + " "
		}
	}
	if resolvedBy != "slack:U0CAROL " {
		t.Errorf("resolved by %q; want once, by slack:U0CAROL", resolvedBy)
	}
	// The closing summary: response times and the actions taken.
	s.until(t, "the closing summary", func() bool { return hasMessage(s.fake, channel, "INC-0001 is resolved") == 1 })
	for _, m := range s.fake.Snapshot(channel) {
		if strings.Contains(m.Latest().Text, "INC-0001 is resolved") {
			b := string(m.Latest().Blocks)
			if !strings.Contains(b, "Time to contain") || !strings.Contains(b, "Block 203.0.113.45/32 (24h)") {
				t.Errorf("closing summary %s", b)
			}
		}
	}
	// The block's TTL ends, it is rolled back; with nothing left to change, the
	// channel is archived (archive_after 1h after the resolution has long passed).
	if c, _ := s.fake.Channel(channel); c.Archived {
		t.Fatal("archived while the block was still in place")
	}
	s.Clock.Advance(25 * time.Hour)
	s.App.Actions.Wake()
	s.await(t, "the block's expiry", func(e actions.Event) bool { return e.Kind == "expired" })
	s.until(t, "the channel archived", func() bool { c, _ := s.fake.Channel(channel); return c.Archived })
	if n := s.fake.CallCount("conversations.archive"); n != 1 {
		t.Errorf("%d archive calls", n)
	}
}

func TestSlackSocketModeEndToEnd(t *testing.T) {
	s := newSlackApp(t, config.SlackModeSocket)
	channel, opening := slackFlow(t, s, nil)
	// The slash command arrives as an envelope, acknowledged at once.
	s.fake.Deliver("slash_commands", s.fake.SlashCommand("U0CAROL", channel, "/warroom", "help"))
	s.until(t, "the private answer to /warroom help", func() bool { return len(s.fake.Responses()) == 1 })

	// The two-person rule on Slack identities: carol asks for a block by command and
	// cannot approve it herself, though she is an approver; bob can.
	s.fake.Deliver("slash_commands", s.fake.SlashCommand("U0CAROL", channel, "/warroom", "block 198.51.100.77 2h"))
	s.until(t, "carol's block on the opening message", func() bool {
		return strings.Contains(latestText(s.fake, channel, opening), "Approve: Block 198.51.100.77/32 (2h)")
	})
	s.click(t, "U0CAROL", channel, opening, "Approve: Block 198.51.100.77/32 (2h)")
	s.until(t, "carol's refusal", func() bool {
		for _, e := range s.fake.Ephemerals() {
			if e.User == "U0CAROL" && strings.Contains(e.Text, "under the two-person rule someone else must approve it") {
				return true
			}
		}
		return false
	})
	if strings.Contains(s.edl(t), "198.51.100.77") {
		t.Fatal("the requester's own approval ran the block")
	}
	s.click(t, "U0BOB", channel, opening, "Approve: Block 198.51.100.77/32 (2h)")
	s.until(t, "bob's approval of carol's block", func() bool { return strings.Contains(s.edl(t), "198.51.100.77\n") })
	// No HTTP endpoint is served in Socket Mode.
	code, _, err := bottest.EventRequest(bottest.URLVerification("x")).Send(s.URL, slackSecret, s.Clock.Now(), "")
	if err != nil || code == http.StatusOK {
		t.Errorf("POST /slack/events in Socket Mode: %d %v; want no such endpoint", code, err)
	}
}

// TestSlackOutageLosesAndDuplicatesNothing runs the flow with Slack's Web API down
// from bob's approval for 60 seconds: the approval runs, and once Slack is back every
// message (the approval, the outcome, the updated opening message) arrives exactly
// once.
func TestSlackOutageLosesAndDuplicatesNothing(t *testing.T) {
	s := newSlackApp(t, config.SlackModeEvents)
	channel, _ := slackFlow(t, s, func(channel string) {
		// The approval happened with Slack's Web API down (Slack still delivered the
		// click): the outbox keeps failing for 60 seconds, then Slack is back.
		start := s.Clock.Now()
		s.until(t, "60 seconds of outage", func() bool { return s.Clock.Now().Sub(start) >= 60*time.Second })
		failed := 0
		for _, c := range s.fake.Calls() {
			if c.Answer == "503" {
				failed++
			}
		}
		if failed == 0 {
			t.Error("nothing tried Slack during the outage")
		}
		// Slack comes back rate limiting: the outbox waits the Retry-After it gives.
		s.fake.RateLimit("chat.postMessage", 5*time.Second)
		s.fake.RateLimit("chat.update", 5*time.Second)
		s.fake.SetDown(false)
	})
	limited := 0
	for _, c := range s.fake.Calls() {
		if c.Answer == "429" {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("%d answers 429; want the 2 injected, each retried after its Retry-After", limited)
	}
	// The approval and the block's outcome are each in the channel once.
	if n := hasMessage(s.fake, channel, "bob approved"); n != 1 {
		t.Errorf("bob's approval posted %d times", n)
	}
}

func TestSlackMissingSecretsAreNamed(t *testing.T) {
	for _, c := range []struct {
		name string
		sc   config.SlackChat
		want string
	}{
		{"bot token env", config.SlackChat{Enabled: true, BotTokenEnv: "SLACK_BOT_TOKEN", SigningSecretEnv: "SLACK_SIGNING_SECRET"},
			"platforms.slack: bot_token_env: environment variable SLACK_BOT_TOKEN is unset; export the bot token in it"},
		{"signing secret file", config.SlackChat{Enabled: true, BotTokenEnv: "SET", SigningSecretFile: "/nonexistent/slack-secret"},
			"platforms.slack: signing_secret_file: open /nonexistent/slack-secret: no such file or directory"},
		{"app token env", config.SlackChat{Enabled: true, Mode: config.SlackModeSocket, BotTokenEnv: "SET", AppTokenEnv: "SLACK_APP_TOKEN"},
			"platforms.slack: app_token_env: environment variable SLACK_APP_TOKEN is unset; export the app token in it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load("../../config.example.yaml")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
			cfg.LogLevel = "error"
			cfg.Platforms.Slack = c.sc
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"SET": "test-secret-value", "WARROOM_INGEST_TOKEN": "i", "WARROOM_API_TOKEN": "a"}
			a, err := app.New(context.Background(), cfg, app.Options{Getenv: func(k string) string { return env[k] }, Log: app.NewLogger("error")})
			if err == nil {
				a.Close()
				t.Fatal("started without the secret")
			}
			if err.Error() != c.want {
				t.Errorf("error\n got %s\nwant %s", err, c.want)
			}
			if strings.Contains(err.Error(), "test-secret-value") {
				t.Error("the error repeats a secret")
			}
		})
	}
}
