package slack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	slackbot "github.com/warroom/warroom/bot/slack"
)

// FuzzParseEnvelope: any Events API body is either refused with an error or parsed
// into a known envelope type with what that type needs.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"type":"url_verification","challenge":"abc","token":"x"}`))
	f.Add([]byte(`{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"type":"app_mention","user":"U1","text":"<@U2> ack","channel":"C1"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := slackbot.ParseEnvelope(body)
		if err != nil {
			return
		}
		switch env.Type {
		case "url_verification":
			if env.Challenge == "" {
				t.Fatal("url_verification without a challenge accepted")
			}
		case "event_callback":
			if env.EventID == "" || len(env.Event) == 0 || env.Event[0] != '{' {
				t.Fatalf("event_callback accepted without an id or event: %+v", env)
			}
		case "app_rate_limited":
		default:
			t.Fatalf("unknown type %q accepted", env.Type)
		}
	})
}

// FuzzParseInteraction: a block_actions payload that parses has a user id and an
// action.
func FuzzParseInteraction(f *testing.F) {
	f.Add([]byte(`{"type":"block_actions","user":{"id":"U0ALICE","name":"alice"},"team":{"id":"T1"},"channel":{"id":"C1"},"container":{"message_ts":"1.2"},"actions":[{"action_id":"tok","type":"button","text":{"type":"plain_text","text":"Ack"}}]}`))
	f.Add([]byte(`{"type":"view_submission"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cb, err := slackbot.ParseInteraction(raw)
		if err != nil {
			return
		}
		if cb.Type == "block_actions" && (cb.User.ID == "" || len(cb.ActionCallback.BlockActions) == 0) {
			t.Fatalf("block_actions accepted without a user or action: %s", raw)
		}
	})
}

// FuzzSignatureHeaders: headers that parse carry a positive timestamp and a v0
// signature of the right length.
func FuzzSignatureHeaders(f *testing.F) {
	f.Add("1763632800", "v0="+strings.Repeat("a", 64))
	f.Add("-1", "v1=00")
	f.Fuzz(func(t *testing.T, ts, sig string) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		got, s, err := slackbot.ParseSignatureHeaders(h)
		if err != nil {
			return
		}
		if got <= 0 || !strings.HasPrefix(s, "v0=") || len(s) != 67 {
			t.Fatalf("accepted %q %q", ts, sig)
		}
	})
}

// FuzzRender: whatever the alert text, the blocks stay within Slack's limits and no
// text can mention anyone.
func FuzzRender(f *testing.F) {
	f.Add("INC-0001 · SSH", "<!channel> @here *x*", "evidence", "Block 1.2.3.4", 3)
	f.Add(strings.Repeat("h", 200), strings.Repeat("&<>", 2000), strings.Repeat("é", 4000), strings.Repeat("b", 90), 30)
	f.Fuzz(func(t *testing.T, header, text, field, label string, buttons int) {
		m := &bot.Message{Key: "k", Header: header, Fallback: text, Text: text, StatusLine: text,
			Narrative: &bot.Narrative{Text: text}, Context: []string{text, field},
			Sections: []bot.Section{{Title: field, Text: text, Items: []string{field, text}, Fields: []bot.Field{{Label: label, Value: field}},
				Links: []bot.Link{{Text: text, URL: "https://x.example/" + field}}}}}
		for i := range buttons % 60 {
			m.Buttons = append(m.Buttons, bot.Button{ActionID: "tok" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Label: label + "x",
				Style: bot.StyleDanger, Confirm: &bot.Confirm{Title: label, Text: text, OK: label, Deny: label}})
		}
		r := slackbot.Render(m)
		raw, err := json.Marshal(r.Blocks)
		if err != nil {
			t.Fatal(err)
		}
		if probs := bottest.CheckSlackBlocks(raw); len(probs) > 0 {
			t.Fatalf("Slack would refuse: %v", probs)
		}
		for _, bad := range []string{"<!channel>", "<!here>", "<@U"} {
			if strings.Contains(string(raw), bad) {
				t.Fatalf("the blocks contain %q", bad)
			}
		}
	})
}
