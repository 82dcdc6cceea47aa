package slack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
	slackbot "github.com/warroom/warroom/bot/slack"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fullOpening is an opening message with every part: hostile alert text included.
func fullOpening() *bot.Message {
	return &bot.Message{
		Key: bot.KeyOpening, Kind: bot.KindOpening,
		Header:     "INC-0042 · SSH brute force from 203.0.113.45 against 172.16.5.10",
		Fallback:   "INC-0042 [high, open] SSH brute force <!channel> @here",
		Severity:   "high",
		Status:     "open",
		StatusLine: "Severity high · Status open · 37 alerts · Commander slack:U0BOB",
		Narrative: &bot.Narrative{Text: "SSH brute force from 203.0.113.45. 37 alerts since 09:05 UTC. Rule text said <@U999> *pwned* `rm -rf`.",
			Source: bot.NarrativeAI, Model: "gpt-4o-mini"},
		Sections: []bot.Section{
			{Title: "Evidence", Fields: []bot.Field{{Label: "Source", Value: "203.0.113.45"}, {Label: "Target", Value: "172.16.5.10"},
				{Label: "Alerts", Value: "37"}},
				Items: []string{"ET SCAN Potential SSH Scan — 37 alerts (high)"},
				Links: []bot.Link{{Text: "Source alert 1", URL: "https://siem.example/alerts/1?a=b|c"}, {Text: "bad", URL: "javascript:alert(1)"}}},
			{Title: "Playbook: SSH/RDP brute force", Items: []string{"Confirm the source is external", "Block it at the edge"}, Checklist: true},
			{Title: "Actions", Items: []string{"Block 203.0.113.45/32 (24h) via edl — proposed by the playbook; waiting for an approver"}},
		},
		Buttons: []bot.Button{
			{ActionID: "tok-approve", Label: "Block 203.0.113.45/32 (24h)", Style: bot.StyleDanger,
				Confirm: &bot.Confirm{Title: "Block 203.0.113.45/32 (24h)?", Text: "Approves: block 203.0.113.45/32 (24h).", OK: "Go ahead", Deny: "Cancel"}},
			{ActionID: "tok-reject", Label: "Reject: Block 203.0.113.45/32 (24h)"},
			{ActionID: "tok-ack", Label: "Acknowledge", Style: bot.StylePrimary},
			{ActionID: "tok-resolve", Label: "Resolve"},
		},
		Context: []string{"Buttons act as you; your role is checked on every click. Type /warroom help for commands."},
	}
}

// longMessage overflows every limit Slack has.
func longMessage() *bot.Message {
	m := &bot.Message{Key: "opening", Kind: bot.KindOpening, Fallback: strings.Repeat("f", 5000),
		Header: strings.Repeat("H", 300), Text: strings.Repeat("evidence & more ", 400)}
	for i := range 70 {
		m.Sections = append(m.Sections, bot.Section{Title: "S", Text: strings.Repeat("x", 10)})
		m.Buttons = append(m.Buttons, bot.Button{ActionID: "tok-" + strings.Repeat("a", i%5) + string(rune('a'+i%26)) + string(rune('A'+i/26)), Label: strings.Repeat("L", 100)})
	}
	m.Sections = append(m.Sections, bot.Section{Title: "Fields", Fields: make([]bot.Field, 23)})
	for i := range m.Sections[len(m.Sections)-1].Fields {
		m.Sections[len(m.Sections)-1].Fields[i] = bot.Field{Label: "L", Value: strings.Repeat("v", 2500)}
	}
	for range 14 {
		m.Context = append(m.Context, "small print")
	}
	return m
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the rendering (go test -update rewrites it):\n%s", path, got)
	}
}

func renderJSON(t *testing.T, m *bot.Message) ([]byte, slackbot.Rendered) {
	t.Helper()
	r := slackbot.Render(m)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"text": r.Text, "blocks": r.Blocks}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), r
}

func TestOpeningBlockKitGolden(t *testing.T) {
	b, r := renderJSON(t, fullOpening())
	golden(t, "opening.golden.json", b)
	raw, _ := json.Marshal(r.Blocks)
	if probs := bottest.CheckSlackBlocks(raw); len(probs) > 0 {
		t.Errorf("Slack would refuse the blocks: %v", probs)
	}
	s := string(b)
	// Hostile text from alerts cannot mention anyone or format anything.
	for _, bad := range []string{"<!channel>", "<@U999>", "javascript:", "@here", " *pwned*"} {
		if strings.Contains(s, bad) {
			t.Errorf("the rendering contains %q", bad)
		}
	}
	if !strings.Contains(s, `"style": "danger"`) || !strings.Contains(s, `"confirm"`) || !strings.Contains(s, "written by AI (gpt-4o-mini)") {
		t.Error("the containment button lacks danger style or its confirmation, or the AI note is missing")
	}
	if !strings.Contains(s, "<https://siem.example/alerts/1?a=b%7Cc|Source alert 1>") {
		t.Error("the source link is missing or unsafe")
	}
}

func TestReplyBlockKitGolden(t *testing.T) {
	b, _ := renderJSON(t, bot.RenderReply("reply:1", "bob approved: block 203.0.113.45/32 (24h) <!here>"))
	golden(t, "reply.golden.json", b)
}

func TestLongMessageIsCutToSlackLimitsNotRefused(t *testing.T) {
	b, r := renderJSON(t, longMessage())
	golden(t, "long.golden.json", b)
	raw, _ := json.Marshal(r.Blocks)
	if probs := bottest.CheckSlackBlocks(raw); len(probs) > 0 {
		t.Fatalf("Slack would refuse the blocks: %v", probs)
	}
	if len(r.Blocks) > slackbot.MaxBlocks {
		t.Fatalf("%d blocks", len(r.Blocks))
	}
	if !strings.Contains(string(b), "more in thread") || len(r.Overflow) == 0 {
		t.Error("a cut text has no \"more in thread\" note, or nothing is kept for the thread")
	}
	actions := 0
	for _, bl := range r.Blocks {
		if bl.BlockType() == "actions" {
			actions++
		}
	}
	if actions != 3 { // 70 buttons: 25 + 25 + 20
		t.Errorf("%d actions blocks; want 3", actions)
	}
}

func BenchmarkRenderOpening(b *testing.B) {
	m := fullOpening()
	for b.Loop() {
		slackbot.Render(m)
	}
}

func BenchmarkRenderLong(b *testing.B) {
	m := longMessage()
	for b.Loop() {
		slackbot.Render(m)
	}
}
