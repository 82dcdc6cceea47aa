package slack_test

import (
	"context"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
)

func TestSocketModeAcknowledgesAndHandlesEveryEnvelopeType(t *testing.T) {
	h, rec, _, ref, m := eventsServer(t)
	rec.reply = func(in bot.Interaction) bot.Reply {
		if in.Kind == bot.Command {
			return bot.Reply{Private: true, Text: "help text"}
		}
		return bot.Reply{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.RunSocket(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunSocket: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunSocket did not stop")
		}
	}()
	h.fake.AwaitSocket(10 * time.Second)

	// A click: acknowledged within three seconds (the fake checks), then handled.
	h.fake.Deliver("interactive", h.fake.BlockActions("U0CAROL", ref.ID, m.ID, "tok-ack"))
	in := rec.next(t)
	if in.Kind != bot.Click || in.ActionID != "tok-ack" || in.User.ID != "U0CAROL" || len(in.User.Groups) != 1 || in.User.Groups[0] != "S0SOC" {
		t.Fatalf("click %+v", in)
	}
	// The slash command answers privately through its response_url.
	h.fake.Deliver("slash_commands", h.fake.SlashCommand("U0BOB", ref.ID, "/warroom", "help"))
	if in := rec.next(t); in.Kind != bot.Command || in.Text != "help" || in.User.ID != "U0BOB" {
		t.Fatalf("command %+v", in)
	}
	h.fake.Await(10*time.Second, "the private answer", func() bool { return len(h.fake.Responses()) == 1 })
	// An app mention, delivered twice (a retry): handled once.
	ev := h.fake.AppMention("U0ALICE", ref.ID, "status")
	h.fake.Deliver("events_api", ev)
	h.fake.Deliver("events_api", ev)
	if in := rec.next(t); in.Kind != bot.Command || in.Text != "status" || in.User.ID != "U0ALICE" {
		t.Fatalf("mention %+v", in)
	}
	h.a.Wait()
	rec.none(t)

	// The connection drops: the adapter dials again and carries on.
	h.fake.DropSockets()
	h.fake.AwaitSocket(30 * time.Second)
	h.fake.Deliver("interactive", h.fake.BlockActions("U0ALICE", ref.ID, m.ID, "tok-ack"))
	if in := rec.next(t); in.User.ID != "U0ALICE" {
		t.Fatalf("after reconnecting: %+v", in)
	}
	// Slack asks for a refresh: the adapter reconnects too.
	if err := h.fake.Disconnect(); err != nil {
		t.Fatal(err)
	}
	h.fake.AwaitSocket(30 * time.Second)
	h.fake.Deliver("interactive", h.fake.BlockActions("U0BOB", ref.ID, m.ID, "tok-ack"))
	if in := rec.next(t); in.User.ID != "U0BOB" {
		t.Fatalf("after a refresh: %+v", in)
	}
}
