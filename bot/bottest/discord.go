package bottest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// DiscordFake is a strict fake of the parts of Discord's REST API v9 and gateway the
// Discord adapter uses, served on 127.0.0.1. It checks what Discord checks (the
// Authorization: Bot header, the paths and methods, message and component limits,
// unknown channels, messages and interactions, double acknowledgements) and what
// warroom promises on top (allowed_mentions always {"parse": []}, no live
// @everyone/@here or mention syntax in any text): a violation fails the test and gets
// Discord's own error shape. It signs HTTP interactions with an Ed25519 key of its
// own, and can answer with 429s to test rate limits.
type DiscordFake struct {
	t     testing.TB
	srv   *httptest.Server
	Token string
	// AppID is the application id, which is also the bot user's id.
	AppID   string
	GuildID string
	// CategoryID, ArchiveCategoryID and ThreadChannelID are channels the guild has
	// from the start: two categories and a text channel for incident threads.
	CategoryID, ArchiveCategoryID, ThreadChannelID string
	// Public is the key HTTP interactions are signed with.
	Public ed25519.PublicKey
	priv   ed25519.PrivateKey
	// Now is the time HTTP interactions are signed at (default time.Now).
	Now func() time.Time
	// HeartbeatInterval is the gateway's heartbeat interval in HELLO.
	HeartbeatInterval time.Duration

	mu       sync.Mutex
	changed  chan struct{}
	nextID   uint64
	channels map[string]*DiscordChannel
	order    []string
	messages map[string]*DiscordMessage
	commands []json.RawMessage
	// CommandOverwrites counts PUT .../commands.
	overwrites   int
	interactions map[string]*DiscordInteraction
	limitN       int
	limitAfter   time.Duration
	limited      int
	deduped      int
	requests     []string
	// expected refusals, guarded by emu (fail runs with or without mu held).
	emu      sync.Mutex
	expected int
	gw       gatewayState
}

// DiscordChannel is a channel or thread the fake holds.
type DiscordChannel struct {
	ID       string `json:"id"`
	Type     int    `json:"type"`
	GuildID  string `json:"guild_id"`
	Name     string `json:"name"`
	Topic    string `json:"topic,omitempty"`
	ParentID string `json:"parent_id,omitempty"`
	OwnerID  string `json:"owner_id,omitempty"`
	// Overwrites are the permission overwrites, by target id.
	Overwrites []DiscordOverwrite `json:"permission_overwrites"`
	// AuditReasons are the X-Audit-Log-Reason values of the changes, decoded.
	AuditReasons []string `json:"-"`
	Archived     bool     `json:"-"`
	Locked       bool     `json:"-"`
	Members      []string `json:"-"`
	Messages     []string `json:"-"`
}

// DiscordOverwrite is a permission overwrite.
type DiscordOverwrite struct {
	ID    string `json:"id"`
	Type  int    `json:"type"`
	Allow string `json:"allow"`
	Deny  string `json:"deny"`
}

// DiscordMessage is a message the fake holds, with each body it was sent (the
// create, then every edit).
type DiscordMessage struct {
	ID, ChannelID, Nonce string
	Versions             []json.RawMessage
}

// Latest decodes the message as it reads now.
func (m *DiscordMessage) Latest() DiscordBody {
	var b DiscordBody
	_ = json.Unmarshal(m.Versions[len(m.Versions)-1], &b)
	return b
}

// DiscordBody is a message body as sent by a client.
type DiscordBody struct {
	Content         string           `json:"content"`
	Embeds          []DiscordEmbed   `json:"embeds"`
	Components      []DiscordRow     `json:"components"`
	AllowedMentions *DiscordMentions `json:"allowed_mentions"`
	Nonce           json.RawMessage  `json:"nonce"`
	EnforceNonce    bool             `json:"enforce_nonce"`
	Flags           int              `json:"flags"`
}

// DiscordEmbed is an embed.
type DiscordEmbed struct {
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	URL         string         `json:"url"`
	Color       int            `json:"color"`
	Fields      []DiscordField `json:"fields"`
	Footer      *struct {
		Text string `json:"text"`
	} `json:"footer"`
	Author *struct {
		Name string `json:"name"`
	} `json:"author"`
}

// DiscordField is an embed field.
type DiscordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// DiscordRow is an action row.
type DiscordRow struct {
	Type       int                `json:"type"`
	Components []DiscordComponent `json:"components"`
}

// DiscordComponent is a component in a row.
type DiscordComponent struct {
	Type     int    `json:"type"`
	Style    int    `json:"style"`
	Label    string `json:"label"`
	CustomID string `json:"custom_id"`
	URL      string `json:"url"`
	Disabled bool   `json:"disabled"`
}

// DiscordMentions is allowed_mentions.
type DiscordMentions struct {
	Parse       *[]string `json:"parse"`
	Roles       []string  `json:"roles"`
	Users       []string  `json:"users"`
	RepliedUser bool      `json:"replied_user"`
}

// Buttons lists the custom ids of the message's buttons, row by row.
func (b DiscordBody) Buttons() []DiscordComponent {
	var out []DiscordComponent
	for _, r := range b.Components {
		out = append(out, r.Components...)
	}
	return out
}

// Text is every text of the body joined, for searching.
func (b DiscordBody) Text() string {
	parts := []string{b.Content}
	for _, e := range b.Embeds {
		parts = append(parts, e.Title, e.Description)
		for _, f := range e.Fields {
			parts = append(parts, f.Name, f.Value)
		}
		if e.Footer != nil {
			parts = append(parts, e.Footer.Text)
		}
	}
	for _, c := range b.Buttons() {
		parts = append(parts, c.Label)
	}
	return strings.Join(parts, "\n")
}

const (
	discordTextChannel    = 0
	discordCategory       = 4
	discordPublicThread   = 11
	discordPrivateThread  = 12
	discordAPIPrefix      = "/api/v9/"
	discordGatewayPath    = "/gateway-ws"
	discordSnowflakeStart = 1_200_000_000_000_000_000
)

// NewDiscord starts a fake Discord with a guild, two categories and a text channel.
// It stops when the test ends.
func NewDiscord(t testing.TB) *DiscordFake {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &DiscordFake{t: t, Token: "MTIwMDAw.fake-bot-token.for-tests", Public: pub, priv: priv, Now: time.Now,
		HeartbeatInterval: 41250 * time.Millisecond, changed: make(chan struct{}), nextID: discordSnowflakeStart,
		channels: map[string]*DiscordChannel{}, messages: map[string]*DiscordMessage{}, interactions: map[string]*DiscordInteraction{}}
	f.AppID = f.id()
	f.GuildID = f.id()
	f.CategoryID = f.addChannel(&DiscordChannel{Type: discordCategory, Name: "Incidents"}).ID
	f.ArchiveCategoryID = f.addChannel(&DiscordChannel{Type: discordCategory, Name: "Closed incidents"}).ID
	f.ThreadChannelID = f.addChannel(&DiscordChannel{Type: discordTextChannel, Name: "incidents"}).ID
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Close stops the fake.
func (f *DiscordFake) Close() {
	f.closeGateway()
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// URL is the address that stands in for https://discord.com (platforms.discord.api_url).
func (f *DiscordFake) URL() string { return f.srv.URL }

func (f *DiscordFake) gatewayURL() string {
	return "ws" + strings.TrimPrefix(f.srv.URL, "http") + discordGatewayPath
}

func (f *DiscordFake) id() string {
	f.nextID++
	return strconv.FormatUint(f.nextID, 10)
}

func (f *DiscordFake) addChannel(c *DiscordChannel) *DiscordChannel {
	c.ID, c.GuildID = f.id(), f.GuildID
	if c.Overwrites == nil {
		c.Overwrites = []DiscordOverwrite{}
	}
	f.channels[c.ID] = c
	f.order = append(f.order, c.ID)
	return c
}

// notify wakes Await callers; call with f.mu held.
func (f *DiscordFake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Await waits until cond holds, or fails the test after timeout. cond runs without
// the fake locked (it may call the fake's methods) each time the fake's state
// changes.
func (f *DiscordFake) Await(what string, timeout time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			f.t.Fatalf("discord fake: timed out waiting for %s", what)
		}
	}
}

// RateLimit answers the next n message creates and edits with 429 and retry_after.
func (f *DiscordFake) RateLimit(n int, retryAfter time.Duration) {
	f.mu.Lock()
	f.limitN, f.limitAfter = n, retryAfter
	f.mu.Unlock()
}

// Limited is how many 429s the fake answered.
func (f *DiscordFake) Limited() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited
}

// Deduplicated is how many message creates returned an earlier message by nonce.
func (f *DiscordFake) Deduplicated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deduped
}

// Requests lists "METHOD path" of every request, in order.
func (f *DiscordFake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// Channels returns the channels and threads created through the API, in order.
func (f *DiscordFake) Channels() []*DiscordChannel {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*DiscordChannel
	for _, id := range f.order {
		if c := f.channels[id]; c.ID != f.CategoryID && c.ID != f.ArchiveCategoryID && c.ID != f.ThreadChannelID {
			cp := *c
			out = append(out, &cp)
		}
	}
	return out
}

// ChannelMessages returns a channel's messages in the order posted.
func (f *DiscordFake) ChannelMessages(channelID string) []*DiscordMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[channelID]
	if !ok {
		return nil
	}
	out := make([]*DiscordMessage, 0, len(c.Messages))
	for _, id := range c.Messages {
		m := *f.messages[id]
		m.Versions = append([]json.RawMessage(nil), m.Versions...)
		out = append(out, &m)
	}
	return out
}

// Commands returns the commands of the last bulk overwrite and how many overwrites
// there were.
func (f *DiscordFake) Commands() ([]json.RawMessage, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]json.RawMessage(nil), f.commands...), f.overwrites
}

// discordError writes Discord's error shape.
func discordError(w http.ResponseWriter, status, code int, msg string, errs any) {
	body := map[string]any{"message": msg, "code": code}
	if errs != nil {
		body["errors"] = errs
	}
	writeDiscordJSON(w, status, body)
}

func writeDiscordJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest fails the test and answers Discord's form error.
func (f *DiscordFake) badRequest(w http.ResponseWriter, r *http.Request, problems []string) {
	f.fail("discord fake: %s %s: %s", r.Method, r.URL.Path, strings.Join(problems, "; "))
	errs := map[string]any{}
	for i, p := range problems {
		errs[strconv.Itoa(i)] = map[string]any{"_errors": []map[string]string{{"code": "BASE_TYPE_INVALID", "message": p}}}
	}
	discordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", errs)
}

var (
	routeGateway     = regexp.MustCompile(`^/api/v9/gateway(/bot)?$`)
	routeCommands    = regexp.MustCompile(`^/api/v9/applications/(\d+)/guilds/(\d+)/commands$`)
	routeGuildChans  = regexp.MustCompile(`^/api/v9/guilds/(\d+)/channels$`)
	routeActive      = regexp.MustCompile(`^/api/v9/guilds/(\d+)/threads/active$`)
	routeChannel     = regexp.MustCompile(`^/api/v9/channels/(\d+)$`)
	routeThreads     = regexp.MustCompile(`^/api/v9/channels/(\d+)/threads$`)
	routePermission  = regexp.MustCompile(`^/api/v9/channels/(\d+)/permissions/(\d+)$`)
	routeThreadMem   = regexp.MustCompile(`^/api/v9/channels/(\d+)/thread-members/(\d+)$`)
	routeMessages    = regexp.MustCompile(`^/api/v9/channels/(\d+)/messages$`)
	routeMessage     = regexp.MustCompile(`^/api/v9/channels/(\d+)/messages/(\d+)$`)
	routeCallback    = regexp.MustCompile(`^/api/v9/interactions/(\d+)/([^/]+)/callback$`)
	routeFollowup    = regexp.MustCompile(`^/api/v9/webhooks/(\d+)/([^/]+)$`)
	routeOriginal    = regexp.MustCompile(`^/api/v9/webhooks/(\d+)/([^/]+)/messages/@original$`)
	discordChanName  = regexp.MustCompile(`^[a-z0-9_-]{1,100}$`)
	liveMention      = regexp.MustCompile(`@(everyone|here)|<@[!&]?\d+>|<#\d+>`)
	discordMsgFields = map[string]bool{"content": true, "nonce": true, "tts": true, "embeds": true, "allowed_mentions": true,
		"message_reference": true, "components": true, "sticker_ids": true, "attachments": true, "flags": true,
		"enforce_nonce": true, "poll": true}
)

func (f *DiscordFake) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.notify()
	f.mu.Unlock()
	if p == discordGatewayPath || p == discordGatewayPath+"/" {
		f.serveGateway(w, r)
		return
	}
	if !strings.HasPrefix(p, discordAPIPrefix) {
		f.fail("discord fake: %s %s: not an API v9 path", r.Method, p)
		discordError(w, http.StatusNotFound, 0, "404: Not Found", nil)
		return
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "DiscordBot (") {
		f.fail("discord fake: %s %s: User-Agent %q; Discord wants DiscordBot (url, version)", r.Method, p, r.Header.Get("User-Agent"))
	}
	// Interaction callbacks and webhooks authenticate by their token in the path.
	tokenAuth := routeCallback.MatchString(p) || routeFollowup.MatchString(p) || routeOriginal.MatchString(p) ||
		(routeGateway.MatchString(p) && !strings.HasSuffix(p, "/bot"))
	if !tokenAuth && r.Header.Get("Authorization") != "Bot "+f.Token {
		f.fail("discord fake: %s %s: Authorization header is not \"Bot <token>\"", r.Method, p)
		discordError(w, http.StatusUnauthorized, 0, "401: Unauthorized", nil)
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	if len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.fail("discord fake: %s %s: Content-Type %q with a body; want application/json", r.Method, p, r.Header.Get("Content-Type"))
		discordError(w, http.StatusBadRequest, 50035, "Invalid Form Body", nil)
		return
	}
	route := func(re *regexp.Regexp, method string) []string {
		m := re.FindStringSubmatch(p)
		if m == nil || r.Method != method {
			return nil
		}
		return m
	}
	if m := route(routeGateway, http.MethodGet); m != nil {
		f.serveGatewayInfo(w, m[1] != "")
	} else if m := route(routeCommands, http.MethodPut); m != nil {
		f.serveCommands(w, r, m[1], m[2], body)
	} else if m := route(routeGuildChans, http.MethodPost); m != nil {
		f.serveCreateChannel(w, r, m[1], body)
	} else if m := route(routeGuildChans, http.MethodGet); m != nil {
		f.serveListChannels(w, m[1])
	} else if m := route(routeActive, http.MethodGet); m != nil {
		f.serveActiveThreads(w, m[1])
	} else if m := route(routeThreads, http.MethodPost); m != nil {
		f.serveCreateThread(w, r, m[1], body)
	} else if m := route(routeChannel, http.MethodGet); m != nil {
		f.serveGetChannel(w, m[1])
	} else if m := route(routeChannel, http.MethodPatch); m != nil {
		f.serveEditChannel(w, r, m[1], body)
	} else if m := route(routePermission, http.MethodPut); m != nil {
		f.servePermission(w, r, m[1], m[2], body)
	} else if m := route(routeThreadMem, http.MethodPut); m != nil {
		f.serveThreadMember(w, m[1], m[2])
	} else if m := route(routeMessages, http.MethodPost); m != nil {
		f.serveMessage(w, r, m[1], "", body)
	} else if m := route(routeMessage, http.MethodPatch); m != nil {
		f.serveMessage(w, r, m[1], m[2], body)
	} else if m := route(routeCallback, http.MethodPost); m != nil {
		f.serveCallback(w, r, m[1], m[2], body)
	} else if m := route(routeFollowup, http.MethodPost); m != nil {
		f.serveWebhook(w, r, m[1], m[2], false, body)
	} else if m := route(routeOriginal, http.MethodPatch); m != nil {
		f.serveWebhook(w, r, m[1], m[2], true, body)
	} else {
		f.fail("discord fake: unexpected request %s %s", r.Method, p)
		discordError(w, http.StatusNotFound, 0, "404: Not Found", nil)
	}
}

func (f *DiscordFake) serveGatewayInfo(w http.ResponseWriter, bot bool) {
	if !bot {
		writeDiscordJSON(w, http.StatusOK, map[string]any{"url": f.gatewayURL()})
		return
	}
	writeDiscordJSON(w, http.StatusOK, map[string]any{"url": f.gatewayURL(), "shards": 1,
		"session_start_limit": map[string]int{"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}})
}

func (f *DiscordFake) checkGuild(w http.ResponseWriter, guild string) bool {
	if guild != f.GuildID {
		f.fail("discord fake: unknown guild %s", guild)
		discordError(w, http.StatusNotFound, 10004, "Unknown Guild", nil)
		return false
	}
	return true
}

func (f *DiscordFake) serveCommands(w http.ResponseWriter, r *http.Request, app, guild string, body []byte) {
	if app != f.AppID {
		f.fail("discord fake: commands for unknown application %s", app)
		discordError(w, http.StatusForbidden, 50001, "Missing Access", nil)
		return
	}
	if !f.checkGuild(w, guild) {
		return
	}
	var cmds []map[string]any
	if err := json.Unmarshal(body, &cmds); err != nil {
		f.badRequest(w, r, []string{"the body is not a list of commands: " + err.Error()})
		return
	}
	var problems []string
	names := map[string]bool{}
	for i, c := range cmds {
		name, _ := c["name"].(string)
		desc, _ := c["description"].(string)
		if !regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`).MatchString(name) || names[name] {
			problems = append(problems, fmt.Sprintf("%d.name %q: 1-32 lowercase characters, unique", i, name))
		}
		names[name] = true
		if n := len([]rune(desc)); n < 1 || n > 100 {
			problems = append(problems, fmt.Sprintf("%d.description: 1-100 characters, got %d", i, n))
		}
		opts, _ := c["options"].([]any)
		if len(opts) > 25 {
			problems = append(problems, fmt.Sprintf("%d.options: at most 25", i))
		}
		for j, o := range opts {
			om, _ := o.(map[string]any)
			if d, _ := om["description"].(string); len([]rune(d)) < 1 || len([]rune(d)) > 100 {
				problems = append(problems, fmt.Sprintf("%d.options.%d.description: 1-100 characters", i, j))
			}
		}
	}
	if len(problems) > 0 {
		f.badRequest(w, r, problems)
		return
	}
	f.mu.Lock()
	f.commands = f.commands[:0]
	out := make([]map[string]any, 0, len(cmds))
	for _, c := range cmds {
		raw, _ := json.Marshal(c)
		f.commands = append(f.commands, raw)
		c["id"], c["application_id"], c["guild_id"], c["version"] = f.id(), f.AppID, f.GuildID, f.id()
		out = append(out, c)
	}
	f.overwrites++
	f.notify()
	f.mu.Unlock()
	writeDiscordJSON(w, http.StatusOK, out)
}

func auditReason(r *http.Request) string {
	v := r.Header.Get("X-Audit-Log-Reason")
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

func (f *DiscordFake) serveCreateChannel(w http.ResponseWriter, r *http.Request, guild string, body []byte) {
	if !f.checkGuild(w, guild) {
		return
	}
	var in struct {
		Name       string             `json:"name"`
		Type       int                `json:"type"`
		Topic      string             `json:"topic"`
		ParentID   string             `json:"parent_id"`
		Overwrites []DiscordOverwrite `json:"permission_overwrites"`
	}
	if err := strictJSON(body, &in); err != nil {
		f.badRequest(w, r, []string{err.Error()})
		return
	}
	var problems []string
	if !discordChanName.MatchString(in.Name) {
		problems = append(problems, fmt.Sprintf("name %q: 1-100 lowercase letters, digits, - and _", in.Name))
	}
	if in.Type != discordTextChannel {
		problems = append(problems, fmt.Sprintf("type %d: the bot creates text channels (0)", in.Type))
	}
	if n := len16(in.Topic); n > 1024 {
		problems = append(problems, fmt.Sprintf("topic: %d characters, at most 1024", n))
	}
	if r.Header.Get("X-Audit-Log-Reason") == "" {
		problems = append(problems, "no X-Audit-Log-Reason header")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.ParentID != "" {
		if p, ok := f.channels[in.ParentID]; !ok || p.Type != discordCategory {
			problems = append(problems, fmt.Sprintf("parent_id %s is not a category of the guild", in.ParentID))
		}
	}
	for _, o := range in.Overwrites {
		if o.Type != 0 && o.Type != 1 {
			problems = append(problems, fmt.Sprintf("permission_overwrites: type %d", o.Type))
		}
		if _, err := strconv.ParseUint(o.Allow+"0", 10, 64); err != nil {
			problems = append(problems, "permission_overwrites: allow is not a number string")
		}
	}
	for _, c := range f.channels {
		if c.Name == in.Name && c.ParentID == in.ParentID && c.Type == discordTextChannel {
			f.fail("discord fake: channel %q created twice", in.Name)
		}
	}
	if len(problems) > 0 {
		f.mu.Unlock()
		f.badRequest(w, r, problems)
		f.mu.Lock()
		return
	}
	c := f.addChannel(&DiscordChannel{Type: in.Type, Name: in.Name, Topic: in.Topic, ParentID: in.ParentID, Overwrites: in.Overwrites,
		AuditReasons: []string{auditReason(r)}})
	f.notify()
	writeDiscordJSON(w, http.StatusCreated, c)
}

func (f *DiscordFake) serveListChannels(w http.ResponseWriter, guild string) {
	if !f.checkGuild(w, guild) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []*DiscordChannel{}
	for _, id := range f.order {
		if c := f.channels[id]; c.Type == discordTextChannel || c.Type == discordCategory {
			out = append(out, c)
		}
	}
	writeDiscordJSON(w, http.StatusOK, out)
}

func (f *DiscordFake) serveActiveThreads(w http.ResponseWriter, guild string) {
	if !f.checkGuild(w, guild) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	threads := []map[string]any{}
	for _, id := range f.order {
		c := f.channels[id]
		if (c.Type == discordPublicThread || c.Type == discordPrivateThread) && !c.Archived {
			threads = append(threads, f.threadJSON(c))
		}
	}
	writeDiscordJSON(w, http.StatusOK, map[string]any{"threads": threads, "members": []any{}})
}

func (f *DiscordFake) threadJSON(c *DiscordChannel) map[string]any {
	return map[string]any{"id": c.ID, "type": c.Type, "guild_id": c.GuildID, "name": c.Name, "parent_id": c.ParentID,
		"owner_id": c.OwnerID, "thread_metadata": map[string]any{"archived": c.Archived, "locked": c.Locked,
			"auto_archive_duration": 10080, "archive_timestamp": "2026-11-20T10:00:00+00:00"}}
}

func (f *DiscordFake) serveCreateThread(w http.ResponseWriter, r *http.Request, parent string, body []byte) {
	var in struct {
		Name                string `json:"name"`
		Type                int    `json:"type"`
		AutoArchiveDuration int    `json:"auto_archive_duration"`
		Invitable           bool   `json:"invitable"`
		RateLimitPerUser    int    `json:"rate_limit_per_user"`
	}
	if err := strictJSON(body, &in); err != nil {
		f.badRequest(w, r, []string{err.Error()})
		return
	}
	f.mu.Lock()
	p, ok := f.channels[parent]
	f.mu.Unlock()
	if !ok || p.Type != discordTextChannel {
		f.fail("discord fake: thread in unknown channel %s", parent)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	var problems []string
	if n := len16(in.Name); n < 1 || n > 100 {
		problems = append(problems, fmt.Sprintf("name: %d characters, want 1-100", n))
	}
	if in.Type != discordPublicThread && in.Type != discordPrivateThread {
		problems = append(problems, fmt.Sprintf("type %d: want 11 (public) or 12 (private) for a thread without a message", in.Type))
	}
	switch in.AutoArchiveDuration {
	case 0, 60, 1440, 4320, 10080:
	default:
		problems = append(problems, fmt.Sprintf("auto_archive_duration %d: want 60, 1440, 4320 or 10080", in.AutoArchiveDuration))
	}
	if len(problems) > 0 {
		f.badRequest(w, r, problems)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.addChannel(&DiscordChannel{Type: in.Type, Name: in.Name, ParentID: parent, OwnerID: f.AppID, AuditReasons: []string{auditReason(r)}})
	f.notify()
	writeDiscordJSON(w, http.StatusCreated, f.threadJSON(c))
}

func (f *DiscordFake) serveGetChannel(w http.ResponseWriter, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	if !ok {
		f.fail("discord fake: get of unknown channel %s", id)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	if c.Type == discordPublicThread || c.Type == discordPrivateThread {
		writeDiscordJSON(w, http.StatusOK, f.threadJSON(c))
		return
	}
	writeDiscordJSON(w, http.StatusOK, c)
}

// Expire archives a thread as Discord does after its auto-archive duration without
// messages.
func (f *DiscordFake) Expire(threadID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.channels[threadID]; ok {
		c.Archived = true
		f.notify()
	}
}

func (f *DiscordFake) serveEditChannel(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	var in struct {
		ParentID *string `json:"parent_id"`
		Archived *bool   `json:"archived"`
		Locked   *bool   `json:"locked"`
	}
	if err := strictJSON(body, &in); err != nil {
		f.badRequest(w, r, []string{err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	if !ok {
		f.fail("discord fake: edit of unknown channel %s", id)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	thread := c.Type == discordPublicThread || c.Type == discordPrivateThread
	if (in.Archived != nil || in.Locked != nil) && !thread {
		f.mu.Unlock()
		f.badRequest(w, r, []string{"archived and locked apply to threads only"})
		f.mu.Lock()
		return
	}
	if in.ParentID != nil {
		if p, ok := f.channels[*in.ParentID]; thread || !ok || p.Type != discordCategory {
			f.mu.Unlock()
			f.badRequest(w, r, []string{"parent_id: not a category (or the channel is a thread)"})
			f.mu.Lock()
			return
		}
		c.ParentID = *in.ParentID
	}
	if in.Archived != nil {
		c.Archived = *in.Archived
	}
	if in.Locked != nil {
		c.Locked = *in.Locked
	}
	c.AuditReasons = append(c.AuditReasons, auditReason(r))
	f.notify()
	if thread {
		writeDiscordJSON(w, http.StatusOK, f.threadJSON(c))
		return
	}
	writeDiscordJSON(w, http.StatusOK, c)
}

func (f *DiscordFake) servePermission(w http.ResponseWriter, r *http.Request, ch, target string, body []byte) {
	var in struct {
		Type  int    `json:"type"`
		Allow string `json:"allow"`
		Deny  string `json:"deny"`
		ID    string `json:"id"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		f.badRequest(w, r, []string{err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[ch]
	if !ok {
		f.fail("discord fake: permissions of unknown channel %s", ch)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	o := DiscordOverwrite{ID: target, Type: in.Type, Allow: in.Allow, Deny: in.Deny}
	replaced := false
	for i := range c.Overwrites {
		if c.Overwrites[i].ID == target {
			c.Overwrites[i], replaced = o, true
		}
	}
	if !replaced {
		c.Overwrites = append(c.Overwrites, o)
	}
	c.AuditReasons = append(c.AuditReasons, auditReason(r))
	f.notify()
	w.WriteHeader(http.StatusNoContent)
}

func (f *DiscordFake) serveThreadMember(w http.ResponseWriter, ch, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[ch]
	if !ok || (c.Type != discordPublicThread && c.Type != discordPrivateThread) {
		f.fail("discord fake: thread member of unknown thread %s", ch)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	c.Members = append(c.Members, user)
	f.notify()
	w.WriteHeader(http.StatusNoContent)
}

// strictJSON decodes body into v refusing unknown keys.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func len16(s string) int { return len(utf16.Encode([]rune(s))) }

// CheckDiscordBody lists what Discord, or warroom's rule that nothing pings, refuses
// in a message body. create is true for a new message.
func CheckDiscordBody(raw []byte, create bool) []string {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return []string{"the body is not a JSON object: " + err.Error()}
	}
	var problems []string
	for k := range keys {
		if !discordMsgFields[k] {
			problems = append(problems, fmt.Sprintf("unknown message field %q", k))
		}
	}
	var b DiscordBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return append(problems, "body: "+err.Error())
	}
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if n := len16(b.Content); n > 2000 {
		add("content: %d characters, at most 2000", n)
	}
	if create && b.Content == "" && len(b.Embeds) == 0 && len(b.Components) == 0 {
		add("Cannot send an empty message (50006)")
	}
	if am := b.AllowedMentions; am == nil || am.Parse == nil || len(*am.Parse) != 0 || len(am.Roles) > 0 || len(am.Users) > 0 || am.RepliedUser {
		add("allowed_mentions must be {\"parse\": []} on every message, so alert text never pings")
	}
	if len(b.Nonce) > 0 {
		var s string
		if err := json.Unmarshal(b.Nonce, &s); err != nil || len(s) > 25 {
			add("nonce: a string of at most 25 characters")
		}
	}
	if b.EnforceNonce && len(b.Nonce) == 0 {
		add("enforce_nonce without a nonce")
	}
	if len(b.Embeds) > 10 {
		add("embeds: %d, at most 10", len(b.Embeds))
	}
	total := 0
	for i, e := range b.Embeds {
		total += len16(e.Title) + len16(e.Description)
		if n := len16(e.Title); n > 256 {
			add("embeds.%d.title: %d characters, at most 256", i, n)
		}
		if n := len16(e.Description); n > 4096 {
			add("embeds.%d.description: %d characters, at most 4096", i, n)
		}
		if len(e.Fields) > 25 {
			add("embeds.%d.fields: %d, at most 25", i, len(e.Fields))
		}
		for j, fl := range e.Fields {
			total += len16(fl.Name) + len16(fl.Value)
			if n := len16(fl.Name); n < 1 || n > 256 {
				add("embeds.%d.fields.%d.name: %d characters, want 1-256", i, j, n)
			}
			if n := len16(fl.Value); n < 1 || n > 1024 {
				add("embeds.%d.fields.%d.value: %d characters, want 1-1024", i, j, n)
			}
		}
		if e.Footer != nil {
			total += len16(e.Footer.Text)
			if n := len16(e.Footer.Text); n > 2048 {
				add("embeds.%d.footer.text: %d characters, at most 2048", i, n)
			}
		}
		if e.Author != nil {
			total += len16(e.Author.Name)
		}
	}
	if total > 6000 {
		add("embeds: %d characters in all, at most 6000", total)
	}
	if len(b.Components) > 5 {
		add("components: %d action rows, at most 5", len(b.Components))
	}
	ids := map[string]bool{}
	for i, row := range b.Components {
		if row.Type != 1 {
			add("components.%d.type %d: top-level components are action rows (1)", i, row.Type)
		}
		if n := len(row.Components); n < 1 || n > 5 {
			add("components.%d.components: %d buttons, want 1-5", i, n)
		}
		for j, c := range row.Components {
			if c.Type != 2 {
				add("components.%d.components.%d.type %d: want a button (2)", i, j, c.Type)
			}
			if n := len16(c.Label); n > 80 {
				add("components.%d.components.%d.label: %d characters, at most 80", i, j, n)
			}
			switch {
			case c.Style >= 1 && c.Style <= 4:
				if n := len(c.CustomID); n < 1 || n > 100 {
					add("components.%d.components.%d.custom_id: %d characters, want 1-100", i, j, n)
				}
				if ids[c.CustomID] {
					add("components.%d.components.%d.custom_id %q is used twice in the message", i, j, c.CustomID)
				}
				ids[c.CustomID] = true
			case c.Style == 5:
				if c.URL == "" || c.CustomID != "" {
					add("components.%d.components.%d: a link button has a url and no custom_id", i, j)
				}
			default:
				add("components.%d.components.%d.style %d: want 1-5", i, j, c.Style)
			}
		}
	}
	if m := liveMention.FindString(b.Text()); m != "" {
		add("live mention %q in the text: alert text must be escaped", m)
	}
	return problems
}

func (f *DiscordFake) messageJSON(m *DiscordMessage) map[string]any {
	var body map[string]any
	_ = json.Unmarshal(m.Versions[len(m.Versions)-1], &body)
	delete(body, "allowed_mentions")
	delete(body, "enforce_nonce")
	body["id"], body["channel_id"], body["type"] = m.ID, m.ChannelID, 0
	body["author"] = map[string]any{"id": f.AppID, "username": "warroom", "discriminator": "0", "bot": true}
	body["timestamp"] = "2026-11-20T10:00:00.000000+00:00"
	if len(m.Versions) > 1 {
		body["edited_timestamp"] = "2026-11-20T10:00:01.000000+00:00"
	}
	return body
}

// rateLimited answers a 429 if one is due; call with f.mu held.
func (f *DiscordFake) rateLimited(w http.ResponseWriter) bool {
	if f.limitN <= 0 {
		return false
	}
	f.limitN--
	f.limited++
	f.notify()
	secs := f.limitAfter.Seconds()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	w.Header().Set("X-RateLimit-Scope", "user")
	writeDiscordJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": false})
	return true
}

func (f *DiscordFake) serveMessage(w http.ResponseWriter, r *http.Request, ch, id string, body []byte) {
	create := id == ""
	f.mu.Lock()
	if f.rateLimited(w) {
		f.mu.Unlock()
		return
	}
	c, ok := f.channels[ch]
	if !ok || c.Type == discordCategory {
		f.mu.Unlock()
		f.fail("discord fake: message in unknown channel %s", ch)
		discordError(w, http.StatusNotFound, 10003, "Unknown Channel", nil)
		return
	}
	if c.Archived {
		f.mu.Unlock()
		discordError(w, http.StatusBadRequest, 50083, "Thread is archived", nil)
		return
	}
	f.mu.Unlock()
	if problems := CheckDiscordBody(body, create); len(problems) > 0 {
		f.badRequest(w, r, problems)
		return
	}
	var b DiscordBody
	_ = json.Unmarshal(body, &b)
	nonce := ""
	if len(b.Nonce) > 0 {
		_ = json.Unmarshal(b.Nonce, &nonce)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !create {
		m, ok := f.messages[id]
		if !ok || m.ChannelID != ch {
			f.fail("discord fake: edit of unknown message %s in channel %s", id, ch)
			discordError(w, http.StatusNotFound, 10008, "Unknown Message", nil)
			return
		}
		if len(b.Nonce) > 0 || b.EnforceNonce {
			f.fail("discord fake: nonce on an edit of message %s", id)
		}
		m.Versions = append(m.Versions, append(json.RawMessage(nil), body...))
		f.notify()
		writeDiscordJSON(w, http.StatusOK, f.messageJSON(m))
		return
	}
	if b.EnforceNonce {
		for _, mid := range c.Messages {
			if m := f.messages[mid]; m.Nonce == nonce {
				f.deduped++
				f.notify()
				writeDiscordJSON(w, http.StatusOK, f.messageJSON(m))
				return
			}
		}
	}
	m := &DiscordMessage{ID: f.id(), ChannelID: ch, Nonce: nonce, Versions: []json.RawMessage{append(json.RawMessage(nil), body...)}}
	f.messages[m.ID] = m
	c.Messages = append(c.Messages, m.ID)
	f.notify()
	writeDiscordJSON(w, http.StatusOK, f.messageJSON(m))
}

// ExpectRefusals lets the next n requests the fake refuses pass without failing the
// test, for tests of how the client handles Discord's errors.
func (f *DiscordFake) ExpectRefusals(n int) {
	f.emu.Lock()
	f.expected += n
	f.emu.Unlock()
}

// fail reports a request Discord would refuse: a test failure unless expected.
func (f *DiscordFake) fail(format string, args ...any) {
	f.t.Helper()
	f.emu.Lock()
	defer f.emu.Unlock()
	if f.expected > 0 {
		f.expected--
		return
	}
	f.t.Errorf(format, args...)
}

// Changed returns a channel closed at the fake's next change of state.
func (f *DiscordFake) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
