package bottest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SlackFake is a strict fake of Slack's Web API (the methods warroom calls) and of
// Socket Mode, on a loopback httptest server. It follows Slack's documented wire
// format: form-encoded POSTs with the token in the Authorization header or the form,
// {"ok": false, "error": "…"} refusals, 429 with Retry-After, channel name rules and
// Block Kit limits. A request Slack would refuse because the caller got it wrong (a
// wrong path, method, content type, token, missing argument, or blocks over a limit)
// fails the test and gets Slack's own error answer. It keeps the channels, messages,
// ephemeral messages and response_url answers it received, and can inject rate
// limits, errors, outages, channels archived by hand and the bot removed.
type SlackFake struct {
	t   testing.TB
	srv *httptest.Server

	// BotToken and AppToken are the tokens the fake accepts.
	BotToken, AppToken string
	TeamID             string
	BotUserID          string
	// AllowBadAuth: a wrong token is answered invalid_auth without failing the test
	// (for tests of that answer).
	AllowBadAuth bool

	mu         sync.Mutex
	seq        int
	tsSeq      int64
	channels   map[string]*SlackChannel
	order      []string
	users      map[string]string // id → name
	groups     []*SlackGroup
	calls      []SlackCall
	ephemerals []SlackEphemeral
	responses  []SlackResponse
	down       bool
	rate       map[string][]time.Duration
	fail       map[string][]string
	notify     chan struct{}

	sock *slackSocket
}

// SlackChannel is a channel the fake holds.
type SlackChannel struct {
	ID, Name, Creator string
	Private, Archived bool
	Topic, Purpose    string
	Members           map[string]bool
	Messages          []*SlackMessage
	Pins              []string
}

// SlackMessage is a message the fake holds, with every version it had.
type SlackMessage struct {
	TS, Channel, ThreadTS, User string
	// Metadata is the message's metadata JSON, if any.
	Metadata json.RawMessage
	Versions []SlackVersion
}

// SlackVersion is one version of a message: its text and blocks.
type SlackVersion struct {
	Text   string
	Blocks json.RawMessage
}

// Latest is the message as it reads now.
func (m *SlackMessage) Latest() SlackVersion { return m.Versions[len(m.Versions)-1] }

// SlackGroup is a user group.
type SlackGroup struct {
	ID, Handle string
	Users      []string
}

// SlackCall is one Web API request the fake received.
type SlackCall struct {
	Method string
	Args   url.Values
	// Answer is the error code answered ("" for ok, "429", "503").
	Answer string
}

// SlackEphemeral is an ephemeral message (chat.postEphemeral).
type SlackEphemeral struct {
	Channel, User, Text string
	Blocks              json.RawMessage
}

// SlackResponse is a POST to a response_url.
type SlackResponse struct {
	ID           string
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// NewSlack starts a fake Slack with a bot token, an app-level token, a workspace and
// the bot's user; it stops when the test ends.
func NewSlack(t testing.TB) *SlackFake {
	f := &SlackFake{t: t, BotToken: "test-bot-token-not-a-secret", AppToken: "test-app-token-not-a-secret",
		TeamID: "T0FAKE001", BotUserID: "U0WARROOM", channels: map[string]*SlackChannel{}, users: map[string]string{},
		rate: map[string][]time.Duration{}, fail: map[string][]string{}, notify: make(chan struct{}, 1)}
	f.users[f.BotUserID] = "warroom"
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.sock = newSlackSocket(f)
	t.Cleanup(func() {
		f.sock.closeAll()
		f.srv.Close()
	})
	return f
}

// APIURL is the Web API base URL to configure (api_url).
func (f *SlackFake) APIURL() string { return f.srv.URL + "/api/" }

// URL is the server's base URL.
func (f *SlackFake) URL() string { return f.srv.URL }

// AddUser adds a workspace member.
func (f *SlackFake) AddUser(id, name string) {
	f.mu.Lock()
	f.users[id] = name
	f.mu.Unlock()
}

// AddGroup adds a user group with its members.
func (f *SlackFake) AddGroup(id, handle string, users ...string) {
	f.mu.Lock()
	f.groups = append(f.groups, &SlackGroup{ID: id, Handle: handle, Users: users})
	f.mu.Unlock()
}

// AddChannel adds a channel someone else created (for name_taken) and returns its id.
func (f *SlackFake) AddChannel(name, creator string, private bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newChannel(name, creator, private).ID
}

func (f *SlackFake) newChannel(name, creator string, private bool) *SlackChannel {
	f.seq++
	prefix := "C"
	if private {
		prefix = "G"
	}
	c := &SlackChannel{ID: fmt.Sprintf("%s%07d", prefix, f.seq), Name: name, Creator: creator, Private: private,
		Members: map[string]bool{creator: true}}
	f.channels[c.ID] = c
	f.order = append(f.order, c.ID)
	return c
}

// SetDown makes every Web API call answer 503 (an outage) until SetDown(false).
func (f *SlackFake) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// RateLimit makes the next calls of method answer 429 with these Retry-After values,
// one each.
func (f *SlackFake) RateLimit(method string, retryAfter ...time.Duration) {
	f.mu.Lock()
	f.rate[method] = append(f.rate[method], retryAfter...)
	f.mu.Unlock()
}

// FailNext makes the next calls of method answer ok:false with these error codes, one
// each ("missing_scope" names the scope the method needs).
func (f *SlackFake) FailNext(method string, codes ...string) {
	f.mu.Lock()
	f.fail[method] = append(f.fail[method], codes...)
	f.mu.Unlock()
}

// ArchiveByHand archives a channel as a person would in Slack.
func (f *SlackFake) ArchiveByHand(id string) {
	f.mu.Lock()
	if c := f.channels[id]; c != nil {
		c.Archived = true
	}
	f.mu.Unlock()
}

// RemoveBot removes the bot from a channel, as /remove @warroom would.
func (f *SlackFake) RemoveBot(id string) {
	f.mu.Lock()
	if c := f.channels[id]; c != nil {
		delete(c.Members, f.BotUserID)
	}
	f.mu.Unlock()
}

// copyOf is a copy of a channel's fields, safe to read while the fake runs (its
// messages are read with Snapshot).
func (c *SlackChannel) copyOf() *SlackChannel {
	cp := *c
	cp.Members = map[string]bool{}
	for u := range c.Members {
		cp.Members[u] = true
	}
	cp.Pins = append([]string(nil), c.Pins...)
	cp.Messages = nil
	return &cp
}

// Channels returns copies of the channels, in creation order.
func (f *SlackFake) Channels() []*SlackChannel {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*SlackChannel, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, f.channels[id].copyOf())
	}
	return out
}

// Channel returns a copy of a channel, by id.
func (f *SlackFake) Channel(id string) (*SlackChannel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	if !ok {
		return nil, false
	}
	return c.copyOf(), true
}

// ChannelByName returns a copy of a channel, by name.
func (f *SlackFake) ChannelByName(name string) (*SlackChannel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.order {
		if c := f.channels[id]; c.Name == name {
			return c.copyOf(), true
		}
	}
	return nil, false
}

// Snapshot returns a copy of a channel's messages, safe to read while the fake runs.
func (f *SlackFake) Snapshot(id string) []SlackMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[id]
	if c == nil {
		return nil
	}
	out := make([]SlackMessage, len(c.Messages))
	for i, m := range c.Messages {
		out[i] = *m
		out[i].Versions = append([]SlackVersion(nil), m.Versions...)
	}
	return out
}

// Members returns a channel's members, sorted.
func (f *SlackFake) Members(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if c := f.channels[id]; c != nil {
		for u := range c.Members {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// Calls returns the Web API calls received.
func (f *SlackFake) Calls() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SlackCall(nil), f.calls...)
}

// CallCount counts the calls of a method answered ok.
func (f *SlackFake) CallCount(method string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Method == method && c.Answer == "" {
			n++
		}
	}
	return n
}

// Ephemerals returns the ephemeral messages posted.
func (f *SlackFake) Ephemerals() []SlackEphemeral {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SlackEphemeral(nil), f.ephemerals...)
}

// Responses returns what was posted to response_urls.
func (f *SlackFake) Responses() []SlackResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SlackResponse(nil), f.responses...)
}

// Changed returns a channel that receives a value after each change to the fake's
// state (a call answered ok), to await a condition without sleeping.
func (f *SlackFake) Changed() <-chan struct{} { return f.notify }

// Await polls cond after each change until it holds, failing the test after d.
func (f *SlackFake) Await(d time.Duration, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-f.notify:
		case <-tick.C:
		case <-deadline.C:
			f.t.Fatalf("fake Slack: %s did not happen within %s", what, d)
		}
	}
}

func (f *SlackFake) changed() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// ResponseURL returns a response_url for a command or interaction payload.
func (f *SlackFake) ResponseURL(id string) string { return f.srv.URL + "/hooks/response/" + id }

// slackAnswer is an API answer.
type slackAnswer map[string]any

func (f *SlackFake) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		f.serveAPI(w, r, strings.TrimPrefix(r.URL.Path, "/api/"))
	case strings.HasPrefix(r.URL.Path, "/hooks/response/"):
		f.serveResponse(w, r, strings.TrimPrefix(r.URL.Path, "/hooks/response/"))
	case r.URL.Path == "/socket":
		f.sock.serve(w, r)
	default:
		f.t.Errorf("fake Slack: request to unknown path %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func (f *SlackFake) serveResponse(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		ResponseType string          `json:"response_type"`
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("fake Slack: response_url wants POST application/json, got %s %q", r.Method, r.Header.Get("Content-Type"))
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Text == "" && len(body.Blocks) == 0) {
		f.t.Errorf("fake Slack: response_url body without text or blocks: %v", err)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if body.ResponseType != "" && body.ResponseType != "ephemeral" && body.ResponseType != "in_channel" {
		f.t.Errorf("fake Slack: response_type %q", body.ResponseType)
	}
	if len(body.Blocks) > 0 {
		if probs := checkBlocks(body.Blocks); len(probs) > 0 {
			f.t.Errorf("fake Slack: response_url blocks: %s", strings.Join(probs, "; "))
		}
	}
	f.mu.Lock()
	f.responses = append(f.responses, SlackResponse{ID: id, ResponseType: body.ResponseType, Text: body.Text})
	f.mu.Unlock()
	f.changed()
	w.Write([]byte("ok"))
}

// jsonMethods are sent as JSON bodies; the rest as forms.
var jsonMethods = map[string]bool{"apps.connections.open": true}

func (f *SlackFake) serveAPI(w http.ResponseWriter, r *http.Request, method string) {
	if r.Method != http.MethodPost {
		f.t.Errorf("fake Slack: %s %s; the Web API methods warroom calls are POSTs", r.Method, method)
		writeSlack(w, slackAnswer{"ok": false, "error": "invalid_request"})
		return
	}
	if r.URL.Query().Has("token") {
		f.t.Errorf("fake Slack: %s: token in the query string (Slack refuses it for new apps)", method)
	}
	ct := r.Header.Get("Content-Type")
	args := url.Values{}
	if jsonMethods[method] {
		if ct != "application/json" {
			f.t.Errorf("fake Slack: %s wants application/json, got %q", method, ct)
		}
	} else {
		if ct != "application/x-www-form-urlencoded" {
			f.t.Errorf("fake Slack: %s wants application/x-www-form-urlencoded, got %q", method, ct)
			writeSlack(w, slackAnswer{"ok": false, "error": "invalid_form_data"})
			return
		}
		if err := r.ParseForm(); err != nil {
			f.t.Errorf("fake Slack: %s: unreadable form: %v", method, err)
			writeSlack(w, slackAnswer{"ok": false, "error": "invalid_form_data"})
			return
		}
		args = r.PostForm
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = args.Get("token")
	}
	args.Del("token")
	want := f.BotToken
	if method == "apps.connections.open" {
		want = f.AppToken
	}
	f.mu.Lock()
	call := SlackCall{Method: method, Args: args}
	answer := func(code string) {
		call.Answer = code
		f.calls = append(f.calls, call)
	}
	if f.down {
		answer("503")
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("<html><body>Slack is having trouble</body></html>"))
		return
	}
	if token != want {
		answer("invalid_auth")
		f.mu.Unlock()
		if !f.AllowBadAuth {
			f.t.Errorf("fake Slack: %s with a wrong or missing token", method)
		}
		code := "invalid_auth"
		if token == "" {
			code = "not_authed"
		}
		writeSlack(w, slackAnswer{"ok": false, "error": code})
		return
	}
	if ra := f.rate[method]; len(ra) > 0 {
		f.rate[method] = ra[1:]
		answer("429")
		f.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(ra[0]/time.Second)))
		w.WriteHeader(http.StatusTooManyRequests)
		writeSlackBody(w, slackAnswer{"ok": false, "error": "ratelimited"})
		return
	}
	if codes := f.fail[method]; len(codes) > 0 {
		f.fail[method] = codes[1:]
		answer(codes[0])
		f.mu.Unlock()
		a := slackAnswer{"ok": false, "error": codes[0]}
		if codes[0] == "missing_scope" {
			a["needed"], a["provided"] = neededScope[method], "chat:write"
		}
		writeSlack(w, a)
		return
	}
	h, ok := slackMethods[method]
	if !ok {
		answer("unknown_method")
		f.mu.Unlock()
		f.t.Errorf("fake Slack: unknown or unexpected method %s", method)
		writeSlack(w, slackAnswer{"ok": false, "error": "unknown_method"})
		return
	}
	res, code := h(f, args, r)
	answer(code)
	f.mu.Unlock()
	if code != "" {
		writeSlack(w, slackAnswer{"ok": false, "error": code})
		return
	}
	res["ok"] = true
	writeSlack(w, res)
	f.changed()
}

func writeSlack(w http.ResponseWriter, a slackAnswer) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	writeSlackBody(w, a)
}

func writeSlackBody(w http.ResponseWriter, a slackAnswer) {
	json.NewEncoder(w).Encode(a)
}

// neededScope is the scope named in a missing_scope answer.
var neededScope = map[string]string{
	"conversations.create": "channels:manage", "chat.postMessage": "chat:write", "chat.update": "chat:write",
	"conversations.invite": "channels:manage", "pins.add": "pins:write", "usergroups.list": "usergroups:read",
	"conversations.history": "channels:history", "conversations.list": "channels:read", "conversations.join": "channels:join",
	"conversations.archive": "channels:manage", "chat.postEphemeral": "chat:write",
}

// A method handler runs under f.mu and returns the answer's fields or an error code.
type slackMethod func(f *SlackFake, args url.Values, r *http.Request) (slackAnswer, string)

var slackMethods map[string]slackMethod

func init() {
	slackMethods = map[string]slackMethod{
		"auth.test":                (*SlackFake).authTest,
		"conversations.create":     (*SlackFake).create,
		"conversations.setTopic":   (*SlackFake).setTopic,
		"conversations.setPurpose": (*SlackFake).setPurpose,
		"conversations.invite":     (*SlackFake).invite,
		"conversations.join":       (*SlackFake).join,
		"conversations.list":       (*SlackFake).list,
		"conversations.history":    (*SlackFake).history,
		"conversations.archive":    (*SlackFake).archive,
		"chat.postMessage":         (*SlackFake).postMessage,
		"chat.update":              (*SlackFake).update,
		"chat.postEphemeral":       (*SlackFake).postEphemeral,
		"pins.add":                 (*SlackFake).pin,
		"usergroups.list":          (*SlackFake).groupsList,
		"usergroups.users.list":    (*SlackFake).groupUsers,
		"apps.connections.open":    (*SlackFake).connectionsOpen,
	}
}

// need fails the test when a required argument is missing.
func (f *SlackFake) need(method string, args url.Values, names ...string) bool {
	for _, n := range names {
		if args.Get(n) == "" {
			f.t.Errorf("fake Slack: %s without the required argument %s (got %v)", method, n, keys(args))
			return false
		}
	}
	return true
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *SlackFake) authTest(args url.Values, _ *http.Request) (slackAnswer, string) {
	return slackAnswer{"url": "https://fake.slack.com/", "team": "Fake", "user": "warroom", "team_id": f.TeamID,
		"user_id": f.BotUserID, "bot_id": "B0WARROOM"}, ""
}

func (c *SlackChannel) json() map[string]any {
	return map[string]any{"id": c.ID, "name": c.Name, "name_normalized": c.Name, "is_channel": !c.Private, "is_group": false,
		"is_private": c.Private, "is_archived": c.Archived, "creator": c.Creator, "created": 1763630000,
		"topic": map[string]any{"value": c.Topic}, "purpose": map[string]any{"value": c.Purpose}, "is_member": true}
}

// slackChannelName is Slack's rule for channel names: lowercase, no spaces or
// periods, at most 80 characters.
var slackChannelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,79}$`)

func (f *SlackFake) create(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("conversations.create", args, "name") {
		return nil, "invalid_arguments"
	}
	name := args.Get("name")
	if !slackChannelName.MatchString(name) {
		f.t.Errorf("fake Slack: conversations.create with an invalid name %q (lowercase letters, digits, - and _, at most 80)", name)
		return nil, "invalid_name_specials"
	}
	if p := args.Get("is_private"); p != "" && p != "true" && p != "false" {
		f.t.Errorf("fake Slack: is_private %q", p)
	}
	for _, c := range f.channels {
		if c.Name == name {
			return nil, "name_taken"
		}
	}
	c := f.newChannel(name, f.BotUserID, args.Get("is_private") == "true")
	return slackAnswer{"channel": c.json()}, ""
}

// memberChannel finds a channel the bot may act in.
func (f *SlackFake) memberChannel(method string, args url.Values) (*SlackChannel, string) {
	if !f.need(method, args, "channel") {
		return nil, "invalid_arguments"
	}
	c, ok := f.channels[args.Get("channel")]
	if !ok {
		f.t.Errorf("fake Slack: %s on unknown channel %q", method, args.Get("channel"))
		return nil, "channel_not_found"
	}
	if c.Private && !c.Members[f.BotUserID] {
		return nil, "channel_not_found" // a private channel is invisible to non-members
	}
	if c.Archived {
		return nil, "is_archived"
	}
	if !c.Members[f.BotUserID] {
		return nil, "not_in_channel"
	}
	return c, ""
}

func (f *SlackFake) setTopic(args url.Values, _ *http.Request) (slackAnswer, string) {
	c, code := f.memberChannel("conversations.setTopic", args)
	if code != "" {
		return nil, code
	}
	if len([]rune(args.Get("topic"))) > 250 {
		f.t.Errorf("fake Slack: topic longer than 250 characters")
		return nil, "too_long"
	}
	c.Topic = args.Get("topic")
	return slackAnswer{"channel": c.json()}, ""
}

func (f *SlackFake) setPurpose(args url.Values, _ *http.Request) (slackAnswer, string) {
	c, code := f.memberChannel("conversations.setPurpose", args)
	if code != "" {
		return nil, code
	}
	if len([]rune(args.Get("purpose"))) > 250 {
		f.t.Errorf("fake Slack: purpose longer than 250 characters")
		return nil, "too_long"
	}
	c.Purpose = args.Get("purpose")
	return slackAnswer{"channel": c.json()}, ""
}

func (f *SlackFake) invite(args url.Values, _ *http.Request) (slackAnswer, string) {
	c, code := f.memberChannel("conversations.invite", args)
	if code != "" {
		return nil, code
	}
	if !f.need("conversations.invite", args, "users") {
		return nil, "invalid_arguments"
	}
	users := strings.Split(args.Get("users"), ",")
	if len(users) > 1000 {
		f.t.Errorf("fake Slack: conversations.invite of %d users; at most 1000", len(users))
		return nil, "too_many_users"
	}
	added := 0
	for _, u := range users {
		if u == f.BotUserID {
			f.t.Errorf("fake Slack: the bot invites itself")
			return nil, "cant_invite_self"
		}
		if _, ok := f.users[u]; !ok {
			return nil, "user_not_found"
		}
		if !c.Members[u] {
			added++
		}
	}
	if added == 0 {
		return nil, "already_in_channel"
	}
	for _, u := range users {
		c.Members[u] = true
	}
	return slackAnswer{"channel": c.json()}, ""
}

func (f *SlackFake) join(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("conversations.join", args, "channel") {
		return nil, "invalid_arguments"
	}
	c, ok := f.channels[args.Get("channel")]
	switch {
	case !ok:
		return nil, "channel_not_found"
	case c.Private:
		return nil, "method_not_supported_for_channel_type"
	case c.Archived:
		return nil, "is_archived"
	}
	c.Members[f.BotUserID] = true
	return slackAnswer{"channel": c.json()}, ""
}

func (f *SlackFake) list(args url.Values, _ *http.Request) (slackAnswer, string) {
	types := map[string]bool{}
	for _, t := range strings.Split(firstArg(args.Get("types"), "public_channel"), ",") {
		switch t {
		case "public_channel", "private_channel", "mpim", "im":
			types[t] = true
		default:
			f.t.Errorf("fake Slack: conversations.list types %q", t)
			return nil, "invalid_types"
		}
	}
	limit := 100
	if l := args.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			f.t.Errorf("fake Slack: conversations.list limit %q; want 1 to 1000", l)
			return nil, "invalid_limit"
		}
		limit = n
	}
	start := 0
	if cur := args.Get("cursor"); cur != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cur, "cur-"))
		if err != nil {
			f.t.Errorf("fake Slack: conversations.list cursor %q was not handed out", cur)
			return nil, "invalid_cursor"
		}
		start = n
	}
	var chs []map[string]any
	next := ""
	for i := start; i < len(f.order); i++ {
		c := f.channels[f.order[i]]
		if args.Get("exclude_archived") == "true" && c.Archived {
			continue
		}
		if c.Private && (!types["private_channel"] || !c.Members[f.BotUserID]) || !c.Private && !types["public_channel"] {
			continue
		}
		if len(chs) == limit {
			next = "cur-" + strconv.Itoa(i)
			break
		}
		chs = append(chs, c.json())
	}
	return slackAnswer{"channels": chs, "response_metadata": map[string]any{"next_cursor": next}}, ""
}

func (f *SlackFake) history(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("conversations.history", args, "channel") {
		return nil, "invalid_arguments"
	}
	c, ok := f.channels[args.Get("channel")]
	if !ok {
		f.t.Errorf("fake Slack: conversations.history on unknown channel %q", args.Get("channel"))
		return nil, "channel_not_found"
	}
	if !c.Members[f.BotUserID] {
		return nil, "not_in_channel"
	}
	if l := args.Get("limit"); l != "" {
		if n, err := strconv.Atoi(l); err != nil || n < 1 || n > 999 {
			f.t.Errorf("fake Slack: conversations.history limit %q; want 1 to 999", l)
			return nil, "invalid_limit"
		}
	}
	meta := args.Get("include_all_metadata") == "1" || args.Get("include_all_metadata") == "true"
	var msgs []map[string]any
	for i := len(c.Messages) - 1; i >= 0; i-- {
		m := c.Messages[i]
		if m.ThreadTS != "" {
			continue // replies are in conversations.replies
		}
		j := map[string]any{"type": "message", "ts": m.TS, "user": m.User, "text": m.Latest().Text, "bot_id": "B0WARROOM"}
		if meta && len(m.Metadata) > 0 {
			j["metadata"] = m.Metadata
		}
		msgs = append(msgs, j)
	}
	return slackAnswer{"messages": msgs, "has_more": false, "response_metadata": map[string]any{"next_cursor": ""}}, ""
}

func (f *SlackFake) archive(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("conversations.archive", args, "channel") {
		return nil, "invalid_arguments"
	}
	c, ok := f.channels[args.Get("channel")]
	if !ok {
		f.t.Errorf("fake Slack: conversations.archive on unknown channel %q", args.Get("channel"))
		return nil, "channel_not_found"
	}
	if c.Archived {
		return nil, "already_archived"
	}
	if !c.Members[f.BotUserID] {
		return nil, "not_in_channel"
	}
	c.Archived = true
	return slackAnswer{}, ""
}

func (f *SlackFake) nextTS() string {
	f.tsSeq++
	return fmt.Sprintf("1763640000.%06d", f.tsSeq)
}

// checkText checks text and blocks of a message and returns the blocks.
func (f *SlackFake) checkMessage(method string, args url.Values) (json.RawMessage, string) {
	text, blocks := args.Get("text"), args.Get("blocks")
	if text == "" && blocks == "" {
		f.t.Errorf("fake Slack: %s without text or blocks", method)
		return nil, "no_text"
	}
	if len([]rune(text)) > 40000 {
		f.t.Errorf("fake Slack: %s text longer than 40,000 characters", method)
		return nil, "msg_too_long"
	}
	if blocks == "" {
		return nil, ""
	}
	if text == "" {
		f.t.Errorf("fake Slack: %s with blocks but no fallback text (notifications would be empty)", method)
	}
	if probs := checkBlocks(json.RawMessage(blocks)); len(probs) > 0 {
		f.t.Errorf("fake Slack: %s: invalid blocks: %s", method, strings.Join(probs, "; "))
		return nil, "invalid_blocks"
	}
	return json.RawMessage(blocks), ""
}

func (f *SlackFake) postMessage(args url.Values, _ *http.Request) (slackAnswer, string) {
	blocks, code := f.checkMessage("chat.postMessage", args)
	if code != "" {
		return nil, code
	}
	c, code := f.memberChannel("chat.postMessage", args)
	if code != "" {
		return nil, code
	}
	m := &SlackMessage{TS: f.nextTS(), Channel: c.ID, User: f.BotUserID, ThreadTS: args.Get("thread_ts"),
		Versions: []SlackVersion{{Text: args.Get("text"), Blocks: blocks}}}
	if m.ThreadTS != "" && c.message(m.ThreadTS) == nil {
		f.t.Errorf("fake Slack: chat.postMessage thread_ts %q is no message of %s", m.ThreadTS, c.ID)
	}
	if md := args.Get("metadata"); md != "" {
		var meta struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal([]byte(md), &meta); err != nil || meta.EventType == "" || meta.EventPayload == nil {
			f.t.Errorf("fake Slack: chat.postMessage metadata %q; want {event_type, event_payload}", md)
			return nil, "invalid_metadata_format"
		}
		m.Metadata = json.RawMessage(md)
	}
	c.Messages = append(c.Messages, m)
	return slackAnswer{"channel": c.ID, "ts": m.TS, "message": map[string]any{"type": "message", "ts": m.TS, "text": args.Get("text")}}, ""
}

func (c *SlackChannel) message(ts string) *SlackMessage {
	for _, m := range c.Messages {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func (f *SlackFake) update(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("chat.update", args, "channel", "ts") {
		return nil, "invalid_arguments"
	}
	blocks, code := f.checkMessage("chat.update", args)
	if code != "" {
		return nil, code
	}
	c, code := f.memberChannel("chat.update", args)
	if code != "" {
		return nil, code
	}
	m := c.message(args.Get("ts"))
	if m == nil {
		f.t.Errorf("fake Slack: chat.update of unknown message %s in %s", args.Get("ts"), c.ID)
		return nil, "message_not_found"
	}
	if m.User != f.BotUserID {
		return nil, "cant_update_message"
	}
	m.Versions = append(m.Versions, SlackVersion{Text: args.Get("text"), Blocks: blocks})
	return slackAnswer{"channel": c.ID, "ts": m.TS, "text": args.Get("text")}, ""
}

func (f *SlackFake) postEphemeral(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("chat.postEphemeral", args, "channel", "user") {
		return nil, "invalid_arguments"
	}
	blocks, code := f.checkMessage("chat.postEphemeral", args)
	if code != "" {
		return nil, code
	}
	c, code := f.memberChannel("chat.postEphemeral", args)
	if code != "" {
		return nil, code
	}
	if _, ok := f.users[args.Get("user")]; !ok {
		return nil, "user_not_found"
	}
	f.ephemerals = append(f.ephemerals, SlackEphemeral{Channel: c.ID, User: args.Get("user"), Text: args.Get("text"), Blocks: blocks})
	return slackAnswer{"message_ts": f.nextTS()}, ""
}

func (f *SlackFake) pin(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("pins.add", args, "channel", "timestamp") {
		return nil, "invalid_arguments"
	}
	c, code := f.memberChannel("pins.add", args)
	if code != "" {
		return nil, code
	}
	ts := args.Get("timestamp")
	if c.message(ts) == nil {
		f.t.Errorf("fake Slack: pins.add of unknown message %s", ts)
		return nil, "message_not_found"
	}
	for _, p := range c.Pins {
		if p == ts {
			return nil, "already_pinned"
		}
	}
	c.Pins = append(c.Pins, ts)
	return slackAnswer{}, ""
}

func (f *SlackFake) groupsList(args url.Values, _ *http.Request) (slackAnswer, string) {
	var out []map[string]any
	for _, g := range f.groups {
		j := map[string]any{"id": g.ID, "team_id": f.TeamID, "handle": g.Handle, "name": g.Handle, "is_usergroup": true, "date_delete": 0}
		if args.Get("include_users") == "true" {
			j["users"] = g.Users
		}
		out = append(out, j)
	}
	return slackAnswer{"usergroups": out}, ""
}

func (f *SlackFake) groupUsers(args url.Values, _ *http.Request) (slackAnswer, string) {
	if !f.need("usergroups.users.list", args, "usergroup") {
		return nil, "invalid_arguments"
	}
	for _, g := range f.groups {
		if g.ID == args.Get("usergroup") {
			return slackAnswer{"users": g.Users}, ""
		}
	}
	return nil, "no_such_subteam"
}

func (f *SlackFake) connectionsOpen(args url.Values, r *http.Request) (slackAnswer, string) {
	f.seq++
	return slackAnswer{"url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/socket?ticket=" + strconv.Itoa(f.seq)}, ""
}

func firstArg(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SignSlack signs a request body as Slack does (v0, HMAC-SHA256 of
// "v0:{ts}:{body}" with the signing secret) and returns the two headers' values.
func SignSlack(secret string, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(mac.Sum(nil))
}
