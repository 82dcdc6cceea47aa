package discord

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/bottest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// sampleOpening is the chat layer's own golden opening message: an incident whose
// alert text holds <!channel>, @everyone, <@U999>, markdown and a javascript: link.
func sampleOpening(t *testing.T) *bot.Message {
	t.Helper()
	b, err := os.ReadFile("../testdata/opening.golden")
	if err != nil {
		t.Fatal(err)
	}
	var m bot.Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func renderJSON(t *testing.T, m *bot.Message) []byte {
	t.Helper()
	b, err := json.MarshalIndent(Render(m), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestMessageJSONGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  *bot.Message
	}{
		{"opening.json", sampleOpening(t)},
		{"rolling.json", &bot.Message{Key: bot.KeyRolling, Kind: bot.KindRolling, ThreadKey: bot.KeyOpening, Header: "New alerts",
			Fallback: "INC-0042: 3 new alerts", Sections: []bot.Section{{Items: []string{"3 new alerts: ET SCAN @here (3)"}}}}},
		{"reply.json", bot.RenderReply("reply:1", "alice acknowledged INC-0042 @everyone <@&123456789012345678>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderJSON(t, tc.msg)
			golden(t, tc.name, got)
			if p := bottest.CheckDiscordBody(got, true); len(p) > 0 {
				t.Errorf("Discord would refuse it, or it could ping: %v", p)
			}
		})
	}
}

// TestEveryoneIsInert checks alert text with every kind of mention renders inert: the
// mention syntax is broken up and allowed_mentions allows nothing.
func TestEveryoneIsInert(t *testing.T) {
	evil := "@everyone @here <@123456789012345678> <@!123456789012345678> <@&123456789012345678> <#123456789012345678> **bold** [x](https://evil.example) `code`"
	m := &bot.Message{Key: "opening", Kind: bot.KindOpening, Header: evil, StatusLine: evil, Text: evil, Fallback: evil,
		Narrative: &bot.Narrative{Text: evil, Source: bot.NarrativeTemplate},
		Sections:  []bot.Section{{Title: evil, Text: evil, Items: []string{evil}, Fields: []bot.Field{{Label: evil, Value: evil}}, Links: []bot.Link{{Text: evil, URL: "https://siem.example/a?b=(c)"}}}},
		Buttons:   []bot.Button{{ActionID: "tok-ack", Label: evil}}}
	w := Render(m)
	raw, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if p := bottest.CheckDiscordBody(raw, true); len(p) > 0 {
		t.Fatalf("not inert: %v", p)
	}
	if !strings.Contains(string(raw), `"allowed_mentions":{"parse":[],"replied_user":false}`) {
		t.Errorf("allowed_mentions is not empty: %s", raw)
	}
	for _, s := range []string{"**bold**", "[x](https://evil", "`code`"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("markdown %q survived: %s", s, raw)
		}
	}
	if !strings.Contains(string(raw), "https://siem.example/a?b=%28c%29") {
		t.Errorf("the link's parentheses are not escaped: %s", raw)
	}
}

// TestRenderWithinLimits renders a message far over every Discord limit and checks
// what goes out is within all of them.
func TestRenderWithinLimits(t *testing.T) {
	long := strings.Repeat("𝔸lert text with a wide character ", 400)
	m := &bot.Message{Key: "opening", Kind: bot.KindOpening, Header: long, StatusLine: long, Fallback: "x",
		Narrative: &bot.Narrative{Text: long, Source: bot.NarrativeAI, Model: "gpt-test"}, Context: []string{long}}
	for i := 0; i < 40; i++ {
		m.Sections = append(m.Sections, bot.Section{Title: long, Text: long, Fields: []bot.Field{{Label: "k", Value: long}}})
	}
	for i := 0; i < 40; i++ {
		m.Buttons = append(m.Buttons, bot.Button{ActionID: strings.Repeat("b", 90) + string(rune('A'+i%26)) + string(rune('a'+i/26)), Label: long, Style: bot.StyleDanger})
	}
	m.Buttons = append(m.Buttons, bot.Button{ActionID: strings.Repeat("x", 101), Label: "too long an id"})
	w := Render(m)
	raw, _ := json.Marshal(w)
	if p := bottest.CheckDiscordBody(raw, true); len(p) > 0 {
		t.Fatalf("over Discord's limits: %v", p)
	}
	e := w.Embeds[0]
	if EmbedLen(e) > MaxEmbedTotal || len(e.Fields) > MaxEmbedFields {
		t.Errorf("embed of %d characters and %d fields", EmbedLen(e), len(e.Fields))
	}
	if last := e.Fields[len(e.Fields)-1]; !strings.Contains(last.Value, "left out") {
		t.Errorf("the cut is not announced: last field %+v", last)
	}
	var body bottest.DiscordBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if n := len(body.Buttons()); n != MaxRows*MaxButtonsPerRow {
		t.Errorf("%d buttons; want the first 25", n)
	}
	for _, b := range body.Buttons() {
		if b.Style != 4 {
			t.Errorf("containment button with style %d; want danger (4)", b.Style)
		}
	}
	if !strings.HasPrefix(e.Footer.Text, "Narrative written by gpt-test") {
		t.Errorf("footer %q does not say a model wrote the narrative", e.Footer.Text)
	}
}

func BenchmarkRenderOpening(b *testing.B) {
	raw, err := os.ReadFile("../testdata/opening.golden")
	if err != nil {
		b.Fatal(err)
	}
	var m bot.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(Render(&m)); err != nil {
			b.Fatal(err)
		}
	}
}
