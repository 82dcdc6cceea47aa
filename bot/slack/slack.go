// Package slack is warroom's Slack adapter: a channel per notifiable incident
// (conversations.create, topic, purpose, invitations, the opening message pinned),
// Block Kit messages built from the chat layer's model within Slack's limits, buttons
// with confirmation dialogs, the /warroom slash command and @-mentions, ephemeral
// refusals, and the identity of whoever clicks (their Slack user id and user groups)
// for roles and the two-person rule.
//
// Slack reaches warroom in one of two modes: the Events API over HTTP (POST
// /slack/events, /slack/interactions, /slack/commands, every request verified with
// the signing secret, v0 signatures within five minutes, replays refused, events
// deduplicated by event_id) or Socket Mode (a websocket warroom dials with the
// app-level token). Both acknowledge at once and do the work after, within Slack's
// three seconds.
//
// slack-go is hidden behind the unexported slackAPI interface; rate limits (429 with
// Retry-After) and outages come back to the outbox as bot.Error, so they delay
// messages and never lose or duplicate them.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
)

// Name is the platform's name.
const Name = "slack"

// slackAPI is the part of slack-go's client the adapter calls.
type slackAPI interface {
	AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error)
	CreateConversationContext(ctx context.Context, params slack.CreateConversationParams) (*slack.Channel, error)
	SetTopicOfConversationContext(ctx context.Context, channelID, topic string) (*slack.Channel, error)
	SetPurposeOfConversationContext(ctx context.Context, channelID, purpose string) (*slack.Channel, error)
	InviteUsersToConversationContext(ctx context.Context, channelID string, users ...string) (*slack.Channel, error)
	JoinConversationContext(ctx context.Context, channelID string) (*slack.Channel, string, []string, error)
	GetConversationsContext(ctx context.Context, params *slack.GetConversationsParameters) ([]slack.Channel, string, error)
	GetConversationHistoryContext(ctx context.Context, params *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
	ArchiveConversationContext(ctx context.Context, channelID string) error
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	AddPinContext(ctx context.Context, channel string, item slack.ItemRef) error
	GetUserGroupsContext(ctx context.Context, options ...slack.GetUserGroupsOption) ([]slack.UserGroup, error)
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

var _ slackAPI = (*slack.Client)(nil)

// NonceStore records signatures and event ids seen (store.SQLite).
type NonceStore interface {
	ClaimNonce(ctx context.Context, scope, key string, expires time.Time) (bool, error)
}

// Interactor handles clicks and commands (bot.Bot).
type Interactor interface {
	Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error)
}

// Options configure the adapter.
type Options struct {
	// BotToken (xoxb-…) calls the Web API at APIURL (default Slack's own).
	BotToken string
	APIURL   string
	// AppToken (xapp-…) opens Socket Mode connections; SocketURL, when set, replaces
	// the websocket URL Slack hands out.
	AppToken  string
	SocketURL string
	// SigningSecret verifies the Events API's HTTP requests.
	SigningSecret string
	// TeamID, when set, refuses requests from other workspaces.
	TeamID string
	// Private opens incident channels as private channels; Prefix goes before every
	// channel name.
	Private bool
	Prefix  string
	// Command is the slash command (default /warroom).
	Command string
	// GroupRefresh is how long user group memberships are cached (default 5m).
	GroupRefresh time.Duration
	// PostBurst and PostInterval pace chat.postMessage per channel: a burst of
	// PostBurst, then one every PostInterval (default 4 and 1s, Slack's "about one
	// message per second per channel").
	PostBurst    int
	PostInterval time.Duration

	Store NonceStore
	Clock clock.Clock
	Log   *slog.Logger
	// HTTPClient calls Slack (default: a client with a 30s timeout).
	HTTPClient *http.Client
}

// Adapter is the Slack platform.
type Adapter struct {
	api    slackAPI
	client *slack.Client // for Socket Mode; nil when built on a fake slackAPI
	o      Options
	http   *http.Client
	apiURL *url.URL

	interact Interactor
	work     sync.WaitGroup

	mu      sync.Mutex
	botUser string
	// team is the workspace of the bot token (auth.test), served when TeamID is
	// unset; teamKnown says auth.test has answered. An Enterprise Grid install
	// leaves team empty: only a configured TeamID limits it.
	team      string
	teamKnown bool
	buckets   map[string]*bucket
	groups    map[string][]string // user id → group ids
	groupsAt  time.Time
	clicks    map[string]string // channel/ts → "who clicked what" line
}

var (
	_ bot.Platform      = (*Adapter)(nil)
	_ bot.Inviter       = (*Adapter)(nil)
	_ bot.Archiver      = (*Adapter)(nil)
	_ bot.Ephemeral     = (*Adapter)(nil)
	_ bot.RoomFinder    = (*Adapter)(nil)
	_ bot.MessageFinder = (*Adapter)(nil)
)

// New builds the adapter on slack-go's client.
func New(o Options) (*Adapter, error) {
	if o.BotToken == "" {
		return nil, errors.New("slack: a bot token is required")
	}
	if o.APIURL == "" {
		o.APIURL = "https://slack.com/api/"
	}
	if !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	if err := encrypted("api_url", o.APIURL, "https"); err != nil {
		return nil, err
	}
	if o.SocketURL != "" {
		if err := encrypted("socket_url", o.SocketURL, "wss"); err != nil {
			return nil, err
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []slack.Option{slack.OptionAPIURL(o.APIURL), slack.OptionHTTPClient(socketURLClient{c: o.HTTPClient, url: o.SocketURL})}
	if o.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(o.AppToken))
	}
	c := slack.New(o.BotToken, opts...)
	a, err := newAdapter(c, o)
	if err != nil {
		return nil, err
	}
	a.client = c
	return a, nil
}

// encrypted refuses a URL the tokens would travel over unencrypted: the scheme must
// be secure (https, wss) unless the host is a loopback address (a test server, a
// local proxy).
func encrypted(key, raw, secure string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("slack: %s %q is not an absolute URL", key, raw)
	}
	if u.Scheme == secure || config.IsLoopback(u.Host) {
		return nil
	}
	return fmt.Errorf("slack: %s %s://%s would carry the tokens unencrypted; use %s:// (plain %s is allowed only for a loopback address)",
		key, u.Scheme, u.Host, secure, u.Scheme)
}

// newAdapter builds the adapter on any slackAPI.
func newAdapter(api slackAPI, o Options) (*Adapter, error) {
	if o.Store == nil || o.Clock == nil || o.Log == nil {
		return nil, errors.New("slack: Store, Clock and Log are required")
	}
	if o.Command == "" {
		o.Command = "/warroom"
	}
	if o.GroupRefresh <= 0 {
		o.GroupRefresh = 5 * time.Minute
	}
	if o.PostBurst <= 0 {
		o.PostBurst = 4
	}
	if o.PostInterval <= 0 {
		o.PostInterval = time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.APIURL == "" {
		o.APIURL = "https://slack.com/api/"
	}
	u, err := url.Parse(o.APIURL)
	if err != nil {
		return nil, fmt.Errorf("slack: api_url: %w", err)
	}
	return &Adapter{api: api, o: o, http: o.HTTPClient, apiURL: u, buckets: map[string]*bucket{}, clicks: map[string]string{}}, nil
}

// Attach sets who handles clicks and commands (the bot, built after the platform).
func (a *Adapter) Attach(i Interactor) { a.interact = i }

// Name implements bot.Platform.
func (a *Adapter) Name() string { return Name }

// Wait waits for the interactions being handled to finish.
func (a *Adapter) Wait() { a.work.Wait() }

// Check calls auth.test: the token works, and who the bot is.
func (a *Adapter) Check(ctx context.Context) (string, error) {
	r, err := a.api.AuthTestContext(ctx)
	if err != nil {
		return "", wrap("auth.test", err)
	}
	a.mu.Lock()
	a.botUser = r.UserID
	if r.EnterpriseID == "" {
		a.team = r.TeamID
	}
	a.teamKnown = true
	a.mu.Unlock()
	if r.EnterpriseID != "" && a.o.TeamID == "" {
		a.o.Log.Warn("slack: an Enterprise Grid install serves every workspace of the organisation; set platforms.slack.team_id to limit it to one",
			"enterprise", r.EnterpriseID)
	}
	return r.UserID, nil
}

// self returns the bot's user id, asking Slack the first time.
func (a *Adapter) self(ctx context.Context) (string, error) {
	a.mu.Lock()
	id := a.botUser
	a.mu.Unlock()
	if id != "" {
		return id, nil
	}
	return a.Check(ctx)
}

// marker is written into each channel's purpose: it tells the channels this bot
// opened for an incident from others of the same name.
func marker(incidentID int64) string {
	return "[warroom incident " + strconv.FormatInt(incidentID, 10) + "]"
}

// channelName is the name to ask for: the prefix, the room name, and a suffix on the
// n-th try (n > 1) after name_taken.
func (a *Adapter) channelName(name string, n int) string {
	name = a.o.Prefix + name
	suffix := ""
	if n > 1 {
		suffix = "-" + strconv.Itoa(n)
	}
	if r := []rune(name); len(r)+len(suffix) > bot.MaxRoomName {
		name = strings.TrimRight(string(r[:bot.MaxRoomName-len(suffix)]), "-_")
	}
	return name + suffix
}

// maxNameTries bounds the suffixes tried when a channel name is taken.
const maxNameTries = 20

// CreateRoom implements bot.Platform: conversations.create with the room's name
// (prefixed), a numbered suffix when the name is taken by a channel that is not this
// incident's, then the topic and purpose. A channel this bot already opened for the
// incident is returned as it is.
func (a *Adapter) CreateRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, error) {
	private := a.o.Private || spec.Private
	if wait := a.spend(createKey, createBurst, createInterval); wait > 0 {
		return bot.RoomRef{}, &bot.Error{Platform: Name, Op: "conversations.create", RetryAfter: wait, Global: true,
			Err: errors.New("pacing channel creation to Slack's Tier 2 limit (about 20 a minute)")}
	}
	for n := 1; n <= maxNameTries; n++ {
		name := a.channelName(spec.Name, n)
		ch, err := a.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name, IsPrivate: private})
		if err == nil {
			a.decorate(ctx, ch.ID, spec)
			return bot.RoomRef{ID: ch.ID, Name: ch.Name}, nil
		}
		if slackErr(err) != "name_taken" {
			return bot.RoomRef{}, wrap("conversations.create", err)
		}
		// Taken: by this incident's own channel (an earlier attempt whose answer was
		// lost), or by someone else's.
		if ref, ok, ferr := a.findExact(ctx, name, spec); ferr != nil {
			return bot.RoomRef{}, ferr
		} else if ok {
			return ref, nil
		}
	}
	return bot.RoomRef{}, &bot.Error{Platform: Name, Op: "conversations.create", Permanent: true,
		Err: fmt.Errorf("channel names %s to %s are all taken; archive or rename old channels", a.channelName(spec.Name, 1), a.channelName(spec.Name, maxNameTries))}
}

// decorate sets a new channel's topic and purpose. The topic comes from alert text,
// so it is escaped like any message text: no mention or link can form. The channel exists whatever
// happens here, so failures are logged, not returned (a retry would open a second
// channel).
func (a *Adapter) decorate(ctx context.Context, channel string, spec bot.RoomSpec) {
	if spec.Topic != "" {
		if _, err := a.api.SetTopicOfConversationContext(ctx, channel, bot.Truncate(bot.EscapeSlack(spec.Topic), 250)); err != nil {
			a.o.Log.Warn("slack: set the channel topic", "channel", channel, "err", wrap("conversations.setTopic", err))
		}
	}
	purpose := "Incident room for " + spec.Number + ", opened by warroom. " + marker(spec.IncidentID)
	if _, err := a.api.SetPurposeOfConversationContext(ctx, channel, bot.Truncate(purpose, 250)); err != nil {
		a.o.Log.Warn("slack: set the channel purpose", "channel", channel, "err", wrap("conversations.setPurpose", err))
	}
}

// FindRoom implements bot.RoomFinder: a channel named for the room (with or without a
// suffix) that this bot created for this incident.
func (a *Adapter) FindRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, bool, error) {
	base := a.channelName(spec.Name, 1)
	return a.find(ctx, &spec, func(name string) bool {
		return name == base || strings.HasPrefix(name, strings.TrimRight(base, "-_")+"-") && isNumber(name[strings.LastIndexByte(name, '-')+1:])
	})
}

func (a *Adapter) findExact(ctx context.Context, name string, spec bot.RoomSpec) (bot.RoomRef, bool, error) {
	return a.find(ctx, &spec, func(n string) bool { return n == name })
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != ""
}

// find lists the channels the bot can see for one it created for the incident.
// Archived channels are skipped: an incident does not go back to a closed room.
func (a *Adapter) find(ctx context.Context, spec *bot.RoomSpec, match func(string) bool) (bot.RoomRef, bool, error) {
	incidentID := spec.IncidentID
	me, err := a.self(ctx)
	if err != nil {
		return bot.RoomRef{}, false, err
	}
	types := []string{"public_channel"}
	if a.o.Private {
		types = append(types, "private_channel")
	}
	cursor := ""
	for page := 0; page < 50; page++ {
		chs, next, err := a.api.GetConversationsContext(ctx, &slack.GetConversationsParameters{Cursor: cursor, Limit: 1000, Types: types, ExcludeArchived: true})
		if err != nil {
			return bot.RoomRef{}, false, wrap("conversations.list", err)
		}
		for _, ch := range chs {
			if !match(ch.Name) || ch.Creator != me || ch.IsArchived {
				continue
			}
			// The purpose marks the incident; a channel without one is this bot's,
			// created just before the process stopped, before its purpose was set.
			if strings.Contains(ch.Purpose.Value, marker(incidentID)) {
				return bot.RoomRef{ID: ch.ID, Name: ch.Name}, true, nil
			}
			if ch.Purpose.Value == "" {
				a.decorate(ctx, ch.ID, *spec)
				return bot.RoomRef{ID: ch.ID, Name: ch.Name}, true, nil
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return bot.RoomRef{}, false, nil
}

// bucket paces posts in one channel.
type bucket struct {
	tokens float64
	at     time.Time
}

// take spends a post from the channel's budget, or says how long to wait.
func (a *Adapter) take(channel string) time.Duration {
	return a.spend(channel, a.o.PostBurst, a.o.PostInterval)
}

// Channel creation is a Tier 2 method: about 20 a minute for the workspace.
const (
	createBurst    = 20
	createInterval = 3 * time.Second
	createKey      = "\x00conversations.create"
)

// spend takes one token from the bucket under key (burst tokens, one more every
// interval), or says how long to wait for one.
func (a *Adapter) spend(key string, burst int, interval time.Duration) time.Duration {
	now := a.o.Clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), at: now}
		a.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(d)/float64(interval))
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(interval))
}

// metadataType marks the messages warroom posts; their payload holds the idempotency
// key FindMessage looks for.
const metadataType = "warroom_message"

// Post implements bot.Platform: chat.postMessage with the Block Kit blocks, the
// fallback text and the idempotency key in the message's metadata. The opening
// message is pinned. Text cut to fit Slack follows in the thread. Posts are paced per
// channel; past the budget the outbox is asked to come back (bot.Error.RetryAfter).
func (a *Adapter) Post(ctx context.Context, room bot.RoomRef, msg *bot.Message, opts bot.PostOptions) (bot.MessageRef, error) {
	if wait := a.take(room.ID); wait > 0 {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "chat.postMessage", RetryAfter: wait,
			Err: fmt.Errorf("pacing posts in %s to about one a second", room.ID)}
	}
	r := Render(msg)
	mo := []slack.MsgOption{slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(r.Blocks...)}
	if opts.IdempotencyKey != "" {
		mo = append(mo, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType,
			EventPayload: map[string]any{"key": opts.IdempotencyKey}}))
	}
	if opts.Thread.ID != "" {
		mo = append(mo, slack.MsgOptionTS(opts.Thread.ID))
	}
	_, ts, err := a.api.PostMessageContext(ctx, room.ID, mo...)
	if code := slackErr(err); code == "not_in_channel" || code == "channel_not_found" && a.o.Private {
		if jerr := a.rejoin(ctx, room); jerr != nil {
			return bot.MessageRef{}, jerr
		}
		_, ts, err = a.api.PostMessageContext(ctx, room.ID, mo...)
	}
	if err != nil {
		return bot.MessageRef{}, wrap("chat.postMessage", err)
	}
	if msg.Key == bot.KeyOpening {
		if err := a.api.AddPinContext(ctx, room.ID, slack.ItemRef{Channel: room.ID, Timestamp: ts}); err != nil && slackErr(err) != "already_pinned" {
			a.o.Log.Warn("slack: pin the opening message", "channel", room.ID, "err", wrap("pins.add", err))
		}
	}
	for _, more := range r.Overflow {
		for _, part := range chunks(more, MaxSectionText) {
			if _, _, err := a.api.PostMessageContext(ctx, room.ID, slack.MsgOptionText(part, false), slack.MsgOptionTS(ts)); err != nil {
				a.o.Log.Warn("slack: post the rest of a long message in its thread", "channel", room.ID, "err", wrap("chat.postMessage", err))
				break
			}
		}
	}
	return bot.MessageRef{ID: ts}, nil
}

// chunks splits s into pieces of at most n runes.
func chunks(s string, n int) []string {
	r := []rune(s)
	var out []string
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

// rejoin puts the bot back into a public channel it was removed from
// (conversations.join). From a private channel only a member can invite it back.
func (a *Adapter) rejoin(ctx context.Context, room bot.RoomRef) error {
	if a.o.Private {
		return &bot.Error{Platform: Name, Op: "chat.postMessage", Permanent: true,
			Err: fmt.Errorf("the bot was removed from the private channel #%s (%s), or it was deleted; a member must invite it back (/invite @warroom)", room.Name, room.ID)}
	}
	if _, _, _, err := a.api.JoinConversationContext(ctx, room.ID); err != nil {
		return wrap("conversations.join", err)
	}
	a.o.Log.Info("slack: rejoined a channel the bot was removed from", "channel", room.ID, "name", room.Name)
	return nil
}

// Update implements bot.Platform: chat.update, keeping the line that says who clicked
// last on this message.
func (a *Adapter) Update(ctx context.Context, room bot.RoomRef, ref bot.MessageRef, msg *bot.Message) error {
	r := Render(msg)
	a.mu.Lock()
	line := a.clicks[room.ID+"/"+ref.ID]
	a.mu.Unlock()
	blocks := withClick(r.Blocks, line)
	_, _, _, err := a.api.UpdateMessageContext(ctx, room.ID, ref.ID, slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(blocks...))
	if code := slackErr(err); code == "not_in_channel" || code == "channel_not_found" && a.o.Private {
		if jerr := a.rejoin(ctx, room); jerr != nil {
			return jerr
		}
		_, _, _, err = a.api.UpdateMessageContext(ctx, room.ID, ref.ID, slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(blocks...))
	}
	return wrap("chat.update", err)
}

// clickBlock is the block id of the "who clicked" line.
const clickBlock = "wr-clicked"

// withClick returns blocks with the "who clicked" line, replacing an earlier one, just
// before the buttons and small print at the end.
func withClick(blocks []slack.Block, line string) []slack.Block {
	out := make([]slack.Block, 0, len(blocks)+1)
	for _, b := range blocks {
		if c, ok := b.(*slack.ContextBlock); ok && c.BlockID == clickBlock {
			continue
		}
		out = append(out, b)
	}
	if line == "" {
		return out
	}
	if len(out) >= MaxBlocks {
		return out
	}
	at := len(out)
	for at > 0 {
		switch b := out[at-1].(type) {
		case *slack.ActionBlock:
			at--
			continue
		case *slack.ContextBlock:
			if b.BlockID == "wr-context" {
				at--
				continue
			}
		}
		break
	}
	cb := slack.NewContextBlock(clickBlock, mrkdwn(line))
	return append(out[:at], append([]slack.Block{cb}, out[at:]...)...)
}

// Invite implements bot.Inviter: conversations.invite of the users, and of the
// members of user groups (ids starting with S).
func (a *Adapter) Invite(ctx context.Context, room bot.RoomRef, users []string) error {
	me, err := a.self(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{me: true}
	var ids []string
	for _, u := range users {
		if strings.HasPrefix(u, "S") {
			members, err := a.api.GetUserGroupMembersContext(ctx, u)
			if err != nil {
				return wrap("usergroups.users.list", err)
			}
			for _, m := range members {
				if !seen[m] {
					seen[m] = true
					ids = append(ids, m)
				}
			}
			continue
		}
		if !seen[u] {
			seen[u] = true
			ids = append(ids, u)
		}
	}
	for i := 0; i < len(ids); i += 1000 {
		_, err := a.api.InviteUsersToConversationContext(ctx, room.ID, ids[i:min(i+1000, len(ids))]...)
		switch slackErr(err) {
		case "", "already_in_channel", "cant_invite_self":
		default:
			return wrap("conversations.invite", err)
		}
	}
	return nil
}

// Archive implements bot.Archiver.
func (a *Adapter) Archive(ctx context.Context, room bot.RoomRef) error {
	err := a.api.ArchiveConversationContext(ctx, room.ID)
	if slackErr(err) == "already_archived" {
		return nil
	}
	return wrap("conversations.archive", err)
}

// PostEphemeral implements bot.Ephemeral: chat.postEphemeral, seen by the user alone.
func (a *Adapter) PostEphemeral(ctx context.Context, room bot.RoomRef, user bot.User, msg *bot.Message) error {
	r := Render(msg)
	_, err := a.api.PostEphemeralContext(ctx, room.ID, user.ID, slack.MsgOptionText(r.Text, false), slack.MsgOptionBlocks(r.Blocks...))
	return wrap("chat.postEphemeral", err)
}

// FindMessage implements bot.MessageFinder: the channel's recent history, by the
// idempotency key in the messages' metadata.
func (a *Adapter) FindMessage(ctx context.Context, room bot.RoomRef, key string) (bot.MessageRef, bool, error) {
	cursor := ""
	for page := 0; page < 5; page++ {
		h, err := a.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: room.ID, Cursor: cursor,
			Limit: 200, IncludeAllMetadata: true})
		if err != nil {
			return bot.MessageRef{}, false, wrap("conversations.history", err)
		}
		for _, m := range h.Messages {
			if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["key"] == key {
				return bot.MessageRef{ID: m.Timestamp}, true, nil
			}
		}
		if !h.HasMore || h.ResponseMetaData.NextCursor == "" {
			break
		}
		cursor = h.ResponseMetaData.NextCursor
	}
	return bot.MessageRef{}, false, nil
}

// Groups returns the user groups a user belongs to, from usergroups.list, cached for
// GroupRefresh. When Slack cannot be asked, the last answer is used; without one, the
// user has no groups (and so no role from a group).
func (a *Adapter) Groups(ctx context.Context, user string) []string {
	now := a.o.Clock.Now()
	a.mu.Lock()
	fresh := a.groups != nil && now.Sub(a.groupsAt) < a.o.GroupRefresh
	g := a.groups[user]
	a.mu.Unlock()
	if fresh {
		return g
	}
	list, err := a.api.GetUserGroupsContext(ctx, slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		a.o.Log.Warn("slack: read user groups for roles; using the last known memberships", "err", wrap("usergroups.list", err))
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.groups[user]
	}
	m := map[string][]string{}
	for _, ug := range list {
		if ug.DateDelete != 0 {
			continue
		}
		for _, u := range ug.Users {
			m[u] = append(m[u], ug.ID)
		}
	}
	a.mu.Lock()
	a.groups, a.groupsAt = m, now
	a.mu.Unlock()
	return m[user]
}

// socketURLClient replaces the websocket URL in apps.connections.open's answer when
// a socket URL is configured.
type socketURLClient struct {
	c   *http.Client
	url string
}

func (s socketURLClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := s.c.Do(req)
	if err != nil || s.url == "" || !strings.HasSuffix(req.URL.Path, "/apps.connections.open") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	return rewriteSocketURL(resp, s.url)
}
