package bot

import (
	"net/url"
	"strings"
	"time"
)

// Message is one chat message in the platform-neutral model. Every text field is plain
// text, possibly holding alert data: each platform escapes it for its own format (see
// EscapeSlack, EscapeDiscord; the web chat escapes HTML), so nothing in it can mention
// people or change formatting.
type Message struct {
	// Key names the message within its room: "opening", "rolling", "reply:…". A key is
	// posted once; later versions of the message edit it in place.
	Key string `json:"key"`
	// Kind says what the message is, for styling.
	Kind MessageKind `json:"kind"`
	// ThreadKey, when set, is the key of the message this one belongs under: platforms
	// with threads post it as a reply there, others post it in the room.
	ThreadKey string `json:"thread_key,omitempty"`
	// Fallback is a one-line summary for notifications and clients without rich text.
	Fallback string `json:"fallback"`
	Header   string `json:"header,omitempty"`
	// Severity (critical, high, medium, low, info) and Status (the incident's) colour
	// the message; StatusLine is the line under the header.
	Severity   string `json:"severity,omitempty"`
	Status     string `json:"status,omitempty"`
	StatusLine string `json:"status_line,omitempty"`
	// Narrative is the story of the incident; Source says who wrote it.
	Narrative *Narrative `json:"narrative,omitempty"`
	Text      string     `json:"text,omitempty"`
	Sections  []Section  `json:"sections,omitempty"`
	Buttons   []Button   `json:"buttons,omitempty"`
	// Context lines are small print at the bottom.
	Context []string `json:"context,omitempty"`
	// Image is a picture warroom serves itself, shown by the platforms that can load it
	// from warroom: the web chat. Slack and Discord fetch images from the internet,
	// where warroom is not, and leave it out.
	Image *Image `json:"image,omitempty"`
}

// Image is a picture on warroom's web chat, such as the drill chart.
type Image struct {
	// Path is the picture's path on the web chat, under /chat/.
	Path string `json:"path"`
	Alt  string `json:"alt"`
}

// ChatPath reports whether p is a plain path under /chat/ on warroom's own web chat:
// no scheme or host, no "..", no query, nothing that could lead elsewhere.
func ChatPath(p string) bool {
	if !strings.HasPrefix(p, "/chat/") || len(p) > 200 {
		return false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return !strings.Contains(p, "//")
}

// MessageKind tells messages apart for styling.
type MessageKind string

// Message kinds.
const (
	KindOpening      MessageKind = "opening"
	KindRolling      MessageKind = "rolling"
	KindAnnouncement MessageKind = "announcement"
	KindReply        MessageKind = "reply"
)

// Narrative is the written account of an incident.
type Narrative struct {
	Text string `json:"text"`
	// Source is "template" or "ai"; Model names the model for "ai".
	Source string `json:"source"`
	Model  string `json:"model,omitempty"`
	// NextAt, when set, is when the narrator expects a newer narrative (a change that
	// must settle, the least interval between two): the rooms are synced again then.
	NextAt time.Time `json:"-"`
}

// Narrative sources.
const (
	NarrativeTemplate = "template"
	NarrativeAI       = "ai"
)

// Section is a titled block of a message.
type Section struct {
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	// Items is a list; Checklist renders it as steps to tick.
	Items     []string `json:"items,omitempty"`
	Checklist bool     `json:"checklist,omitempty"`
	Fields    []Field  `json:"fields,omitempty"`
	Links     []Link   `json:"links,omitempty"`
}

// Field is a label and its value.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Link points back to a source. Only http and https URLs are kept (see SafeURL).
type Link struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// Style is a button's look.
type Style string

// Button styles.
const (
	StyleDefault Style = ""
	StylePrimary Style = "primary"
	StyleDanger  Style = "danger"
)

// Button is a clickable action. ActionID is an opaque token that the server maps to
// what the button does; it never holds the target itself.
type Button struct {
	ActionID string   `json:"action_id"`
	Label    string   `json:"label"`
	Style    Style    `json:"style,omitempty"`
	Confirm  *Confirm `json:"confirm,omitempty"`
}

// Confirm asks the clicker to confirm before the click is sent.
type Confirm struct {
	Title string `json:"title"`
	Text  string `json:"text"`
	OK    string `json:"ok"`
	Deny  string `json:"deny"`
}

// SafeURL returns u when it is an absolute http or https URL without credentials,
// else "".
func SafeURL(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return ""
	}
	return p.String()
}

// Truncate shortens s to at most n runes, ending with "…" when cut.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
