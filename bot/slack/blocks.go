package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/warroom/warroom/bot"
)

// Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	MaxBlocks         = 50
	MaxSectionText    = 3000
	MaxFieldText      = 2000
	MaxFields         = 10
	MaxHeaderText     = 150
	MaxActionElements = 25
	MaxButtonText     = 75
	MaxActionID       = 255
	MaxContextItems   = 10
	MaxConfirmTitle   = 100
	MaxConfirmText    = 300
	MaxConfirmButton  = 30
	// MaxText is the longest top-level text Slack keeps (longer is truncated).
	MaxText = 40000
	// maxFallback is how much of the fallback text is sent: it is a notification.
	maxFallback = 3000
)

// moreNote ends a text cut to fit Slack's limits. The whole text follows in the
// message's thread (see Adapter.Post).
const moreNote = "… _(cut to fit Slack; more in thread)_"

// Rendered is a message in Slack's terms: the blocks, the fallback text for
// notifications, and the full text of anything cut to fit.
type Rendered struct {
	Blocks []slack.Block
	Text   string
	// Overflow holds the full text of sections cut to fit, for the thread.
	Overflow []string
}

// severityEmoji colours a message by severity.
var severityEmoji = map[string]string{
	"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
	"low": ":large_blue_circle:", "info": ":white_circle:",
}

// Render builds the Block Kit form of a message. Every text from the message is
// escaped for mrkdwn (bot.EscapeSlack), so alert data cannot mention anyone or format
// anything. Long texts are cut with a note instead of being refused by Slack.
func Render(m *bot.Message) Rendered {
	r := Rendered{Text: cutRunes(bot.EscapeSlack(firstNonEmpty(m.Fallback, m.Header, m.Text)), maxFallback, "…")}
	var blocks []slack.Block
	if h := strings.TrimSpace(bot.CleanText(m.Header)); h != "" {
		blocks = append(blocks, slack.NewHeaderBlock(plain(cutRunes(h, MaxHeaderText, "…"))))
	}
	if blank(m.StatusLine) {
		m2 := *m
		m2.StatusLine = ""
		m = &m2
	}
	if m.StatusLine != "" {
		line := bot.EscapeSlack(m.StatusLine)
		if e := severityEmoji[m.Severity]; e != "" {
			line = e + " " + line
		}
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(cutRunes(line, MaxSectionText, "…"))))
	}
	if n := m.Narrative; n != nil && !blank(n.Text) {
		text, cut := fit(bot.EscapeSlack(n.Text), MaxSectionText)
		if cut {
			r.Overflow = append(r.Overflow, bot.EscapeSlack(n.Text))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil))
		src := "Narrative: written from the incident's facts"
		if n.Source == bot.NarrativeAI {
			src = "Narrative: written by AI"
			if n.Model != "" {
				src += " (" + bot.EscapeSlack(n.Model) + ")"
			}
			src += "; advisory, check the evidence"
		}
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(src)))
	}
	if !blank(m.Text) {
		text, cut := fit(bot.EscapeSlack(m.Text), MaxSectionText)
		if cut {
			r.Overflow = append(r.Overflow, bot.EscapeSlack(m.Text))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil))
	}
	for _, s := range m.Sections {
		sb, full, cut := section(s)
		if cut {
			r.Overflow = append(r.Overflow, full)
		}
		blocks = append(blocks, sb...)
	}
	// Buttons go in actions blocks of at most 25 elements.
	var actions []slack.Block
	for i := 0; i < len(m.Buttons); i += MaxActionElements {
		end := min(i+MaxActionElements, len(m.Buttons))
		var els []slack.BlockElement
		for _, b := range m.Buttons[i:end] {
			if b.ActionID == "" || len(b.ActionID) > MaxActionID {
				continue // an unusable id: a button Slack would refuse the message for
			}
			els = append(els, button(b))
		}
		if len(els) > 0 {
			actions = append(actions, slack.NewActionBlock(fmt.Sprintf("wr-actions-%d", i/MaxActionElements), els...))
		}
	}
	var ctx []slack.Block
	if len(m.Context) > 0 {
		var els []slack.MixedElement
		for _, c := range m.Context {
			if len(els) == MaxContextItems {
				break
			}
			if blank(c) {
				continue
			}
			els = append(els, mrkdwn(cutRunes(bot.EscapeSlack(c), MaxFieldText, "…")))
		}
		if len(els) > 0 {
			ctx = append(ctx, slack.NewContextBlock("wr-context", els...))
		}
	}
	// At most 50 blocks: the buttons and the small print are kept, the middle cut.
	if room := MaxBlocks - len(actions) - len(ctx); len(blocks) > room {
		blocks = append(blocks[:room-1], slack.NewContextBlock("wr-cut", mrkdwn(fmt.Sprintf("_%d more blocks cut to fit Slack; more in thread_", len(blocks)-room+1))))
	}
	blocks = append(blocks, actions...)
	r.Blocks = append(blocks, ctx...)
	return r
}

// section renders one section of a message: its title and text as a section block,
// its items as a list, its fields in section fields (10 a block), its links. It also
// returns the full text when anything was cut.
func section(s bot.Section) ([]slack.Block, string, bool) {
	var b strings.Builder
	if !blank(s.Title) {
		b.WriteString("*" + bot.EscapeSlack(s.Title) + "*")
	}
	line := func(l string) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	if !blank(s.Text) {
		line(bot.EscapeSlack(s.Text))
	}
	for _, it := range s.Items {
		if blank(it) {
			continue
		}
		mark := "•"
		if s.Checklist {
			mark = "☐"
		}
		line(mark + " " + bot.EscapeSlack(it))
	}
	var links []string
	for _, l := range s.Links {
		if u := linkURL(l.URL); u != "" {
			links = append(links, "<"+u+"|"+bot.EscapeSlack(firstNonEmpty(l.Text, "link"))+">")
		}
	}
	if len(links) > 0 {
		line(strings.Join(links, " · "))
	}
	full := b.String()
	var out []slack.Block
	cut := false
	if strings.TrimSpace(full) != "" {
		text, c := fit(full, MaxSectionText)
		cut = c
		out = append(out, slack.NewSectionBlock(mrkdwn(text), nil, nil))
	}
	for i := 0; i < len(s.Fields); i += MaxFields {
		var fs []*slack.TextBlockObject
		for _, f := range s.Fields[i:min(i+MaxFields, len(s.Fields))] {
			t, c := fit(strings.TrimSpace("*"+bot.EscapeSlack(firstNonEmpty(f.Label, "-"))+"*\n"+bot.EscapeSlack(f.Value)), MaxFieldText)
			cut = cut || c
			fs = append(fs, mrkdwn(t))
		}
		out = append(out, slack.NewSectionBlock(nil, fs, nil))
	}
	if cut {
		for _, f := range s.Fields {
			full += "\n*" + bot.EscapeSlack(f.Label) + "*: " + bot.EscapeSlack(f.Value)
		}
	}
	return out, full, cut
}

// linkURL returns an http(s) URL safe inside a mrkdwn link (<url|text>), or "".
func linkURL(u string) string {
	u = bot.SafeURL(u)
	if u == "" {
		return ""
	}
	r := strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20")
	return r.Replace(u)
}

func button(b bot.Button) *slack.ButtonBlockElement {
	e := slack.NewButtonBlockElement(b.ActionID, "", plain(cutRunes(firstNonEmpty(bot.CleanText(b.Label), "Action"), MaxButtonText, "…")))
	switch b.Style {
	case bot.StylePrimary:
		e.Style = slack.StylePrimary
	case bot.StyleDanger:
		e.Style = slack.StyleDanger
	}
	if c := b.Confirm; c != nil {
		conf := slack.NewConfirmationBlockObject(
			plain(cutRunes(firstNonEmpty(bot.CleanText(c.Title), "Are you sure?"), MaxConfirmTitle, "…")),
			plain(cutRunes(firstNonEmpty(bot.CleanText(c.Text), bot.CleanText(b.Label), "Are you sure?"), MaxConfirmText, "…")),
			plain(cutRunes(firstNonEmpty(bot.CleanText(c.OK), "Yes"), MaxConfirmButton, "…")),
			plain(cutRunes(firstNonEmpty(bot.CleanText(c.Deny), "Cancel"), MaxConfirmButton, "…")))
		if b.Style == bot.StyleDanger {
			conf.Style = slack.StyleDanger
		}
		e.Confirm = conf
	}
	return e
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// fit cuts an escaped mrkdwn text to n characters, ending it with the "more in
// thread" note, without splitting an entity like &amp;.
func fit(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	return cutRunes(s, n, moreNote), true
}

// cutRunes shortens s to at most n runes, ending with tail when cut, and never leaves
// half an HTML entity (&amp; &lt; &gt;) behind.
func cutRunes(s string, n int, tail string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep := n - utf8.RuneCountInString(tail)
	if keep < 0 {
		keep = 0
	}
	r := []rune(s)[:keep]
	out := string(r)
	if i := strings.LastIndexByte(out, '&'); i >= 0 && !strings.Contains(out[i:], ";") {
		out = out[:i]
	}
	return out + tail
}

// blank reports whether s shows nothing once cleaned.
func blank(s string) bool { return strings.TrimSpace(bot.CleanText(s)) == "" }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}
