package app_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/bot/bottest"
	"github.com/warroom/warroom/bot/discord"
	"github.com/warroom/warroom/config"
)

const discordResponders = "1300000000000000001"

var (
	discordAlice = bottest.DiscordMember{ID: "1300000000000000010", Name: "alice", Roles: []string{discordResponders}}
	discordBob   = bottest.DiscordMember{ID: "1300000000000000011", Name: "bob"}
)

// discordServer runs the example configuration with Discord on (against the strict
// fake) in the given mode, the chat layer started.
func discordServer(t *testing.T, mode string, mutate func(f *bottest.DiscordFake, d *config.DiscordChat)) (*responseServer, *bottest.DiscordFake) {
	t.Helper()
	f := bottest.NewDiscord(t)
	tokenFile := filepath.Join(t.TempDir(), "discord-token")
	if err := os.WriteFile(tokenFile, []byte(f.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newResponseServer(t, func(c *config.Config) {
		c.Platforms.Discord = config.DiscordChat{Enabled: true, Mode: mode, ApplicationID: f.AppID, GuildID: f.GuildID,
			PublicKey: hex.EncodeToString(f.Public), CategoryID: f.CategoryID, APIURL: f.URL(),
			Secret: config.Secret{TokenFile: tokenFile}}
		if mutate != nil {
			mutate(f, &c.Platforms.Discord)
		}
		c.Chat.Roles = append(c.Chat.Roles,
			config.ChatRole{Platform: "discord", Group: discordResponders, Role: config.RoleResponder},
			config.ChatRole{Platform: "discord", User: discordBob.ID, Role: config.RoleApprover})
	})
	f.Now = s.Clock.Now
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("requests: %q limited %d", f.Requests(), f.Limited())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stop := s.App.StartChat(ctx)
	t.Cleanup(func() { cancel(); stop() })
	return s, f
}

// button finds a button of the message whose label starts with prefix.
func button(m *bottest.DiscordMessage, prefix string) (bottest.DiscordComponent, bool) {
	for _, b := range m.Latest().Buttons() {
		if strings.HasPrefix(b.Label, prefix) {
			return b, true
		}
	}
	return bottest.DiscordComponent{}, false
}

// discordFlow is the end-to-end flow: a brute force ingested over HTTP gets a
// Discord channel whose opening message carries the playbook's block as a danger
// button; alice (a responder, by her guild role) asks for it, bob (an approver)
// approves it, each confirming privately first; the block is in the EDL and the
// message is edited to show it. Every message and edit goes through a storm of 429s
// on the way, which delays it and loses nothing. click delivers one interaction the
// way the mode does.
func discordFlow(t *testing.T, s *responseServer, f *bottest.DiscordFake, click func(*bottest.DiscordInteraction)) *bottest.DiscordChannel {
	t.Helper()
	ctx := context.Background()
	f.Await("the slash command registration", 30*time.Second, func() bool { _, n := f.Commands(); return n >= 1 })

	// Discord rate limits the first posts; the outbox waits out each retry_after.
	f.RateLimit(3, 2*time.Second)
	outbox := s.App.Bot.Outbox()
	settle := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			changed := f.Changed()
			if cond() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			// An op held back by a retry_after waits on the clock: move it there. The
			// deferral is recorded in the store, with no event to await, so this
			// polls (bounded by the deadline) besides waking on the fake's changes.
			if next, err := outbox.NextDue(ctx); err == nil && next.After(s.Clock.Now()) {
				s.Clock.Set(next)
				outbox.Wake(discord.Name)
			}
			select {
			case <-changed:
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	body, attacker := bruteForce(t)
	if res, err := s.ingestClient.Ingest(ctx, "suricata", "application/x-ndjson", body); err != nil || res.Accepted == 0 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	ev := s.await(t, "proposal of the block", func(ev actions.Event) bool { return ev.Kind == "proposed" })
	target := attacker + "/32"
	var room *bottest.DiscordChannel
	var opening *bottest.DiscordMessage
	settle("the incident channel and its opening message with the block button", func() bool {
		chs := f.Channels()
		if len(chs) == 0 {
			return false
		}
		room = chs[0]
		msgs := f.ChannelMessages(room.ID)
		if len(msgs) == 0 {
			return false
		}
		opening = msgs[0]
		_, ok := button(opening, "Block "+target)
		return ok
	})
	parent := s.App.Config.Platforms.Discord.CategoryID
	if s.App.Config.Platforms.Discord.ThreadChannelID != "" {
		parent = s.App.Config.Platforms.Discord.ThreadChannelID
	}
	if !strings.HasPrefix(room.Name, "inc-") || room.ParentID != parent || len(room.AuditReasons) != 1 ||
		!strings.Contains(room.AuditReasons[0], "INC-") {
		t.Errorf("incident channel %+v", room)
	}
	block, _ := button(opening, "Block "+target)
	if block.Style != 4 {
		t.Errorf("containment button style %d; want danger (4)", block.Style)
	}
	if e := opening.Latest().Embeds; len(e) != 1 || !strings.Contains(e[0].Title, "INC\\-") || len(e[0].Fields) == 0 {
		t.Errorf("opening embed %+v", e)
	}

	// alice asks for the block: her request is recorded and the button becomes an
	// approval.
	f.RateLimit(2, 2*time.Second)
	confirm := func(m bottest.DiscordMember, messageID, customID string) {
		t.Helper()
		if !strings.HasPrefix(customID, discord.ConfirmPrefix) {
			t.Fatalf("containment button %q is not behind a confirmation", customID)
		}
		ask := f.Click(m, messageID, customID)
		click(ask)
		if got := f.Answer(ask).ResponseType; got != 4 {
			t.Fatalf("confirmable click answered with type %d; want a private question (4)", got)
		}
		yes := f.ClickResponse(m, ask, discord.GoPrefix+strings.TrimPrefix(customID, discord.ConfirmPrefix))
		click(yes)
		if got := f.Answer(yes).ResponseType; got != 7 {
			t.Fatalf("go ahead answered with type %d; want the question replaced (7)", got)
		}
	}
	confirm(discordAlice, opening.ID, block.CustomID)
	var approve bottest.DiscordComponent
	settle("the approve button", func() bool {
		for _, m := range f.ChannelMessages(room.ID) {
			if m.ID == opening.ID {
				var ok bool
				approve, ok = button(m, "Approve: Block "+target)
				return ok
			}
		}
		return false
	})
	if s.edl(t) != "" && strings.Contains(s.edl(t), attacker+"\n") {
		t.Fatal("the block is in place before any approval")
	}
	// bob approves: the block runs and is verified.
	confirm(discordBob, opening.ID, approve.CustomID)
	done := s.await(t, "the block", func(ev actions.Event) bool { return ev.Kind == "succeeded" })
	if !strings.Contains(s.edl(t), attacker+"\n") {
		t.Fatal("the block is not in the EDL after the approval")
	}
	a, err := s.Bob.Action(ctx, done.ActionID)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != ev.ActionID || len(a.Approvals) != 1 || a.Approvals[0].By != "discord:"+discordBob.ID {
		t.Errorf("action %+v; want approved by discord:%s", a, discordBob.ID)
	}
	// The opening message is edited: the block is in place, with an undo button.
	settle("the edited opening message and bob's approval in the room", func() bool {
		undo, said := false, false
		for _, m := range f.ChannelMessages(room.ID) {
			if m.ID == opening.ID {
				_, undo = button(m, "Undo: Block "+target)
			}
			said = said || strings.Contains(m.Latest().Content, "bob approved")
		}
		return undo && said
	})
	if f.Limited() != 5 {
		t.Errorf("%d 429s answered; want 5", f.Limited())
	}
	// Nothing was lost or doubled: one channel, one opening message (edited), and the
	// answers to both clicks in the room.
	if n := len(f.Channels()); n != 1 {
		t.Errorf("%d channels", n)
	}
	var texts []string
	openings := 0
	for _, m := range f.ChannelMessages(room.ID) {
		if len(m.Latest().Embeds) > 0 && strings.Contains(m.Latest().Embeds[0].Title, "INC\\-") {
			openings++
		}
		texts = append(texts, m.Latest().Text())
	}
	all := strings.Join(texts, "\n")
	if openings != 1 || !strings.Contains(all, "alice requests") || !strings.Contains(all, "bob approved") {
		t.Errorf("%d opening messages; room text:\n%s", openings, all)
	}
	return room
}

func TestDiscordHTTPInteractionsEndToEnd(t *testing.T) {
	s, f := discordServer(t, config.DiscordHTTP, nil)
	endpoint := s.URL + "/discord/interactions"
	discordFlow(t, s, f, func(ix *bottest.DiscordInteraction) {
		if code := f.Deliver(endpoint, ix); code != http.StatusOK {
			t.Fatalf("interaction: HTTP %d", code)
		}
	})
	// A forged request is refused at the endpoint.
	ix := f.Ping()
	req := f.SignedRequest(endpoint, ix.Payload, s.Clock.Now().Add(-time.Hour))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stale interaction: %d; want 401", resp.StatusCode)
	}
}

func TestDiscordGatewayEndToEnd(t *testing.T) {
	s, f := discordServer(t, config.DiscordGateway, nil)
	f.AwaitGateway(30 * time.Second)
	f.RequestHeartbeat(30 * time.Second)
	discordFlow(t, s, f, func(ix *bottest.DiscordInteraction) {
		f.Dispatch(ix)
		f.AwaitAnswer(ix, 10*time.Second)
	})
	// In gateway mode the HTTP endpoint is not there.
	resp, err := http.Post(s.URL+"/discord/interactions", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("interactions endpoint answers in gateway mode")
	}
}

// TestDiscordThreadsEndToEnd runs the flow with a thread per incident, then resolves
// the incident with the slash command typed in the thread: the thread is archived
// and locked.
func TestDiscordThreadsEndToEnd(t *testing.T) {
	s, f := discordServer(t, config.DiscordHTTP, func(f *bottest.DiscordFake, d *config.DiscordChat) {
		d.CategoryID, d.ThreadChannelID, d.ArchiveOnClose, d.LockOnClose = "", f.ThreadChannelID, true, true
	})
	endpoint := s.URL + "/discord/interactions"
	deliver := func(ix *bottest.DiscordInteraction) {
		if code := f.Deliver(endpoint, ix); code != http.StatusOK {
			t.Fatalf("interaction: HTTP %d", code)
		}
	}
	thread := discordFlow(t, s, f, deliver)
	if thread.Type != 11 || thread.OwnerID != f.AppID {
		t.Errorf("thread %+v", thread)
	}
	cmd := f.Command(discordBob, thread.ID, "resolve")
	deliver(cmd)
	f.Await("the thread archived and locked", 60*time.Second, func() bool {
		for _, c := range f.Channels() {
			if c.ID == thread.ID {
				return c.Archived && c.Locked
			}
		}
		return false
	})
	f.Await("the answer to the command", 30*time.Second, func() bool { return len(f.Answer(cmd).Edits) == 1 })
	inc, err := s.Bob.Incident(context.Background(), "INC-0001")
	if err != nil || inc.Status != "resolved" {
		t.Fatalf("incident after /warroom resolve: %+v %v", inc, err)
	}
}

// TestDiscordEveryoneInertEndToEnd ingests a critical alert whose text holds
// @everyone, a role mention and markdown: the incident's opening message in Discord
// shows them as text (the strict fake fails the test on any live mention, and on a
// message without allowed_mentions {"parse": []}).
func TestDiscordEveryoneInertEndToEnd(t *testing.T) {
	s, f := discordServer(t, config.DiscordGateway, nil)
	ctx := context.Background()
	f.Await("the slash command registration", 30*time.Second, func() bool { _, n := f.Commands(); return n >= 1 })
	alert := `{"rule": "@everyone <@&1300000000000000001> **pwned**", "title": "@here exfiltration to 198.51.100.80 <@1300000000000000010>",
		"severity": "critical", "event_time": "2026-11-20T09:59:00Z",
		"entities": [{"kind": "ip", "value": "198.51.100.80", "role": "dst"}, {"kind": "ip", "value": "10.20.4.142", "role": "src"}]}`
	if res, err := s.ingestClient.Ingest(ctx, "generic", "application/json", []byte(alert)); err != nil || res.Accepted != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	var text string
	f.Await("the opening message", 60*time.Second, func() bool {
		for _, c := range f.Channels() {
			for _, m := range f.ChannelMessages(c.ID) {
				if b := m.Latest(); len(b.Embeds) > 0 {
					text = b.Text()
					return true
				}
			}
		}
		return false
	})
	// The rule is the alert text the evidence quotes.
	for _, want := range []string{"@\u200beveryone", "<\u200b@\u200b&1300000000000000001", `\*\*pwned\*\*`} {
		if !strings.Contains(text, want) {
			t.Errorf("the opening message lacks the inert %q:\n%s", want, text)
		}
	}
}
