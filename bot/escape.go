package bot

import (
	"strings"
	"unicode"
)

// Alert text is untrusted: a rule name or label can hold "<!channel>", "@everyone",
// "<@U123>", markdown or HTML. Each platform's renderer passes every plain-text field
// of a Message through its escape function before adding formatting of its own. The
// web chat uses html/template, which escapes HTML; Slack and Discord use the functions
// below.

const zwsp = "\u200b" // zero-width space: breaks a token without showing

// EscapeSlack makes s inert in Slack mrkdwn: &, < and > become entities (so <!channel>,
// <@U123>, <#C1> and <url|text> links cannot form), every @ is followed by a zero-width
// space (so @channel, @here, @everyone and @name do not notify even with link_names),
// and the formatting characters * _ ~ ` and a leading > are broken up the same way.
// Control characters other than newline and tab are dropped.
func EscapeSlack(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	lineStart := true
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			if lineStart {
				b.WriteString(zwsp)
			}
			b.WriteString("&gt;")
		case r == '@' || r == '*' || r == '_' || r == '~' || r == '`':
			b.WriteRune(r)
			b.WriteString(zwsp)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || isInvisibleFormat(r):
			continue
		default:
			b.WriteRune(r)
		}
		lineStart = r == '\n' || (lineStart && (r == ' ' || r == '\t'))
	}
	return b.String()
}

// EscapeDiscord makes s inert in Discord markdown: markdown characters
// (\ * _ ~ ` | > # - [ ] ( ) :) are backslash-escaped, and @ and < are followed by a
// zero-width space so @everyone, @here, <@123>, <@&123>, <#123>, </cmd:1> and <t:1>
// cannot form. Messages must also be sent with allowed_mentions empty; this is the
// second line of defence. Control characters other than newline and tab are dropped.
func EscapeDiscord(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for _, r := range s {
		switch {
		case strings.ContainsRune(`\*_~`+"`"+`|>#-[]():`, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '@' || r == '<':
			b.WriteRune(r)
			b.WriteString(zwsp)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || isInvisibleFormat(r):
			continue
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CleanText drops control characters (except newline and tab) and bidirectional
// overrides from s: text that any platform shows as it is.
func CleanText(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool {
		return (unicode.IsControl(r) && r != '\n' && r != '\t') || isInvisibleFormat(r)
	}) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || isInvisibleFormat(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isInvisibleFormat reports bidirectional overrides and isolates, which can make text
// read differently from what it is ("Trojan Source").
func isInvisibleFormat(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f
}
