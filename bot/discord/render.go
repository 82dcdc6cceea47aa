package discord

import (
	"strings"
	"unicode/utf16"

	"github.com/bwmarrin/discordgo"

	"github.com/warroom/warroom/bot"
)

// Discord's limits on one message (https://discord.com/developers/docs/resources/message).
const (
	MaxContent          = 2000
	MaxEmbedTotal       = 6000
	MaxEmbedTitle       = 256
	MaxEmbedDescription = 4096
	MaxEmbedFields      = 25
	MaxFieldName        = 256
	MaxFieldValue       = 1024
	MaxFooter           = 2048
	MaxButtonsPerRow    = 5
	MaxRows             = 5
	MaxCustomID         = 100
	MaxButtonLabel      = 80
	MaxChannelTopic     = 1024
	MaxChannelName      = 100
)

// Wire is a message as sent to POST /channels/{id}/messages or PATCH
// /channels/{id}/messages/{id}. AllowedMentions is always present with an empty parse
// list, so nothing in a message can notify anyone.
type Wire struct {
	Content         string                            `json:"content"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds"`
	Components      []discordgo.MessageComponent      `json:"components"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions"`
	// Nonce and EnforceNonce make Discord return the message already created with the
	// same nonce instead of posting it twice (create only).
	Nonce        string `json:"nonce,omitempty"`
	EnforceNonce bool   `json:"enforce_nonce,omitempty"`
}

// noMentions is allowed_mentions with nothing allowed.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// Colours by severity, and for closed incidents.
var severityColor = map[string]int{
	"critical": 0xB71C1C,
	"high":     0xE65100,
	"medium":   0xF9A825,
	"low":      0x1565C0,
	"info":     0x607D8B,
}

const (
	colorResolved = 0x2E7D32
	colorClosed   = 0x9E9E9E
)

func color(m *bot.Message) int {
	switch m.Status {
	case "resolved":
		return colorResolved
	case "false_positive", "merged":
		return colorClosed
	}
	if c, ok := severityColor[m.Severity]; ok {
		return c
	}
	return severityColor["info"]
}

// Len16 is the length of s as Discord counts it (UTF-16 code units).
func Len16(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++ // not encodable: sent as one replacement character
		}
	}
	return n
}

// cut shortens s to at most n UTF-16 code units, ending with "…" when cut.
func cut(s string, n int) string {
	if Len16(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	used := 1 // the ellipsis
	for _, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if used+w > n {
			break
		}
		used += w
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), "\\") + "…"
}

func esc(s string) string { return bot.EscapeDiscord(s) }

var breakMentions = strings.NewReplacer("@", "@\u200b", "<", "<\u200b")

// plain makes text shown without markdown (button labels, footers) inert: no
// control characters, and no mention syntax even to look at.
func plain(s string) string { return breakMentions.Replace(bot.CleanText(s)) }

// Render turns a platform-neutral message into Discord's wire form: embeds for the
// header, narrative and sections, action rows for the buttons, within Discord's
// limits, every piece of alert text escaped and mentions disabled.
func Render(m *bot.Message) *Wire {
	w := &Wire{Embeds: []*discordgo.MessageEmbed{}, Components: []discordgo.MessageComponent{}, AllowedMentions: noMentions()}
	rich := m.Header != "" || m.Narrative != nil || len(m.Sections) > 0 || m.StatusLine != ""
	if !rich {
		text := m.Text
		if text == "" {
			text = m.Fallback
		}
		w.Content = cut(esc(text), MaxContent)
	} else {
		w.Embeds = append(w.Embeds, embed(m))
		if m.Text != "" {
			w.Content = cut(esc(m.Text), MaxContent)
		}
	}
	w.Components = rows(m.Buttons)
	return w
}

func embed(m *bot.Message) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{Type: discordgo.EmbedTypeRich, Color: color(m)}
	e.Title = cut(esc(m.Header), MaxEmbedTitle)
	var desc []string
	if m.StatusLine != "" {
		desc = append(desc, "**"+esc(m.StatusLine)+"**")
	}
	if n := m.Narrative; n != nil && n.Text != "" {
		desc = append(desc, esc(n.Text))
	}
	e.Description = cut(strings.Join(desc, "\n\n"), MaxEmbedDescription)
	for _, s := range m.Sections {
		for _, f := range sectionFields(s) {
			if len(e.Fields) == MaxEmbedFields {
				break
			}
			e.Fields = append(e.Fields, f)
		}
	}
	var foot []string
	if n := m.Narrative; n != nil && n.Source == bot.NarrativeAI {
		who := "a language model"
		if n.Model != "" {
			who = n.Model
		}
		foot = append(foot, "Narrative written by "+plain(who)+"; check it against the evidence.")
	}
	for _, c := range m.Context {
		foot = append(foot, plain(c))
	}
	if len(foot) > 0 {
		// Footers show plain text: no markdown, no mentions.
		e.Footer = &discordgo.MessageEmbedFooter{Text: cut(strings.Join(foot, "\n"), MaxFooter)}
	}
	fitEmbed(e)
	return e
}

var urlParens = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20")

// sectionFields renders a section as one field (its text, items and links) plus an
// inline field per label/value pair.
func sectionFields(s bot.Section) []*discordgo.MessageEmbedField {
	var lines []string
	if s.Text != "" {
		lines = append(lines, esc(s.Text))
	}
	for _, it := range s.Items {
		mark := "•"
		if s.Checklist {
			mark = "☐"
		}
		lines = append(lines, mark+" "+esc(it))
	}
	for _, l := range s.Links {
		u := bot.SafeURL(l.URL)
		if u == "" {
			continue
		}
		text := l.Text
		if text == "" {
			text = u
		}
		lines = append(lines, "["+esc(cut(text, 200))+"]("+urlParens.Replace(u)+")")
	}
	var out []*discordgo.MessageEmbedField
	name := cut(esc(s.Title), MaxFieldName)
	if len(lines) > 0 || len(s.Fields) == 0 {
		value := strings.Join(lines, "\n")
		if value == "" {
			value = "—"
		}
		if name == "" {
			name = "\u200b"
		}
		out = append(out, &discordgo.MessageEmbedField{Name: name, Value: cut(value, MaxFieldValue)})
		name = ""
	}
	for _, f := range s.Fields {
		label := f.Label
		if name != "" {
			label = s.Title + ": " + label
			name = ""
		}
		v := esc(f.Value)
		if v == "" {
			v = "—"
		}
		out = append(out, &discordgo.MessageEmbedField{Name: cut(esc(label), MaxFieldName), Value: cut(v, MaxFieldValue), Inline: true})
	}
	return out
}

// EmbedLen is the length Discord counts towards the 6,000 characters of a message's
// embeds.
func EmbedLen(e *discordgo.MessageEmbed) int {
	n := Len16(e.Title) + Len16(e.Description)
	for _, f := range e.Fields {
		n += Len16(f.Name) + Len16(f.Value)
	}
	if e.Footer != nil {
		n += Len16(e.Footer.Text)
	}
	if e.Author != nil {
		n += Len16(e.Author.Name)
	}
	return n
}

// fitEmbed brings an embed within the 6,000 characters: the narrative is shortened
// first (to no less than 1,000), then the last fields are dropped, with a field saying
// so.
func fitEmbed(e *discordgo.MessageEmbed) {
	over := EmbedLen(e) - MaxEmbedTotal
	if over <= 0 {
		return
	}
	if d := Len16(e.Description); d > 1000 {
		e.Description = cut(e.Description, max(1000, d-over))
	}
	const note = "Some evidence is left out: Discord limits a message to 6,000 characters. The web chat and the API show all of it."
	dropped := false
	for EmbedLen(e) > MaxEmbedTotal-Len16(note)-10 && len(e.Fields) > 0 {
		e.Fields = e.Fields[:len(e.Fields)-1]
		dropped = true
	}
	if dropped {
		if len(e.Fields) == MaxEmbedFields {
			e.Fields = e.Fields[:MaxEmbedFields-1]
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "…", Value: note})
	}
	if over := EmbedLen(e) - MaxEmbedTotal; over > 0 {
		e.Description = cut(e.Description, Len16(e.Description)-over)
	}
}

func buttonStyle(s bot.Style) discordgo.ButtonStyle {
	switch s {
	case bot.StyleDanger:
		return discordgo.DangerButton
	case bot.StylePrimary:
		return discordgo.PrimaryButton
	}
	return discordgo.SecondaryButton
}

// Custom id prefixes of the confirmation step: Discord buttons have no confirmation
// dialog, so a button that asks for one carries "confirm:" + its action id; the click
// answers privately with "Go ahead" ("go:" + id) and "Cancel" ("cancel:" + id).
const (
	ConfirmPrefix = "confirm:"
	GoPrefix      = "go:"
	CancelPrefix  = "cancel:"
)

// customID is the button's custom id: its action id, behind the confirmation step
// when it asks for one (and the id still fits).
func customID(b bot.Button) string {
	if b.Confirm != nil && len(ConfirmPrefix)+len(b.ActionID) <= MaxCustomID && len(GoPrefix)+len(b.ActionID) <= MaxCustomID &&
		len(CancelPrefix)+len(b.ActionID) <= MaxCustomID {
		return ConfirmPrefix + b.ActionID
	}
	return b.ActionID
}

// rows lays buttons out in action rows of at most five, at most five rows. Buttons
// past the 25th, or with a custom id Discord would refuse, are left out.
func rows(btns []bot.Button) []discordgo.MessageComponent {
	out := []discordgo.MessageComponent{}
	var row discordgo.ActionsRow
	seen := map[string]bool{}
	for _, b := range btns {
		id := customID(b)
		if b.ActionID == "" || len(id) > MaxCustomID || seen[id] {
			continue
		}
		if len(row.Components) == MaxButtonsPerRow {
			out = append(out, row)
			row = discordgo.ActionsRow{}
		}
		if len(out) == MaxRows {
			break
		}
		seen[id] = true
		label := cut(plain(b.Label), MaxButtonLabel)
		if label == "" {
			label = "…"
		}
		row.Components = append(row.Components, discordgo.Button{Label: label, Style: buttonStyle(b.Style), CustomID: id})
	}
	if len(row.Components) > 0 && len(out) < MaxRows {
		out = append(out, row)
	}
	return out
}
