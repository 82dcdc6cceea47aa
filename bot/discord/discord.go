// Package discord is warroom's Discord platform: an adapter over
// github.com/bwmarrin/discordgo that opens a channel (or a thread) per notifiable
// incident in one guild, posts the opening message as embeds with action rows of
// buttons, edits it in place as the incident changes, and turns button clicks and the
// /warroom slash command into bot.Interactions.
//
// Interactions reach warroom one of two ways. In gateway mode the adapter keeps a bot
// connection (discordgo.Session) and handles INTERACTION_CREATE. In http mode Discord
// calls POST /discord/interactions; the request's Ed25519 signature is checked with
// the application's public key, its timestamp must be within five minutes of the
// clock, and an interaction id is accepted once (a durable nonce), so a captured
// request cannot be replayed. Either way a click is acknowledged at once (a deferred
// update, well within Discord's 3 seconds), the work is done after, and the message
// is then edited through the outbox.
//
// Every message goes out with allowed_mentions {"parse": []} and every piece of
// alert text through bot.EscapeDiscord, so an alert can never ping @everyone, a role
// or a user. A 429 answer becomes a bot.Error with the retry_after Discord gave, so
// the outbox waits that long and loses nothing.
//
// api_url: discordgo builds its endpoints from package-level variables rooted at
// https://discord.com. With another api_url, the session's HTTP client carries a
// transport that rewrites every request for https://discord.com/... to
// <api_url>/..., keeping the path (/api/v9/...). The gateway follows: its address is
// whatever GET /api/v9/gateway at api_url answers, so a proxy or a test server that
// answers with its own websocket URL stands in for the gateway too.
package discord

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
)

// Name is the platform's name.
const Name = "discord"

// Modes.
const (
	ModeGateway = "gateway"
	ModeHTTP    = "http"
)

// Permission bits the adapter grants in permission overwrites.
const (
	permView        = discordgo.PermissionViewChannel
	permSend        = discordgo.PermissionSendMessages
	permEmbed       = discordgo.PermissionEmbedLinks
	permHistory     = discordgo.PermissionReadMessageHistory
	permSendThreads = discordgo.PermissionSendMessagesInThreads
)

// NonceStore refuses a key claimed before (store.SQLite).
type NonceStore interface {
	ClaimNonce(ctx context.Context, scope, key string, expires time.Time) (bool, error)
}

// Interactor handles clicks and commands (bot.Bot).
type Interactor interface {
	Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error)
}

// Options configure the adapter.
type Options struct {
	// Token is the bot token, without the "Bot " prefix.
	Token         string
	ApplicationID string
	GuildID       string
	// Mode is ModeGateway or ModeHTTP.
	Mode string
	// PublicKey verifies HTTP interactions (http mode).
	PublicKey ed25519.PublicKey
	// CategoryID holds incident channels; ThreadChannelID, when set, holds a thread
	// per incident instead.
	CategoryID      string
	ThreadChannelID string
	// Private makes every room private; ResponderRoleIDs see private channels.
	Private          bool
	ResponderRoleIDs []string
	// APIURL stands in for https://discord.com (see the package doc).
	APIURL            string
	ArchiveOnClose    bool
	ArchiveCategoryID string
	LockOnClose       bool
	// Nonces refuses replayed HTTP interactions.
	Nonces NonceStore
	Clock  clock.Clock
	Log    *slog.Logger
}

// rest is the part of discordgo.Session the adapter uses.
type rest interface {
	GuildChannelCreateComplex(guildID string, data discordgo.GuildChannelCreateData, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	GuildChannels(guildID string, options ...discordgo.RequestOption) ([]*discordgo.Channel, error)
	ThreadStartComplex(channelID string, data *discordgo.ThreadStart, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	GuildThreadsActive(guildID string, options ...discordgo.RequestOption) (*discordgo.ThreadsList, error)
	Channel(channelID string, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	ChannelEdit(channelID string, data *discordgo.ChannelEdit, options ...discordgo.RequestOption) (*discordgo.Channel, error)
	ChannelPermissionSet(channelID, targetID string, targetType discordgo.PermissionOverwriteType, allow, deny int64, options ...discordgo.RequestOption) error
	RequestWithBucketID(method, urlStr string, data interface{}, bucketID string, options ...discordgo.RequestOption) ([]byte, error)
	ApplicationCommandBulkOverwrite(appID string, guildID string, commands []*discordgo.ApplicationCommand, options ...discordgo.RequestOption) ([]*discordgo.ApplicationCommand, error)
	InteractionRespond(interaction *discordgo.Interaction, resp *discordgo.InteractionResponse, options ...discordgo.RequestOption) error
	InteractionResponseEdit(interaction *discordgo.Interaction, newresp *discordgo.WebhookEdit, options ...discordgo.RequestOption) (*discordgo.Message, error)
	FollowupMessageCreate(interaction *discordgo.Interaction, wait bool, data *discordgo.WebhookParams, options ...discordgo.RequestOption) (*discordgo.Message, error)
}

var _ rest = (*discordgo.Session)(nil)

// Adapter is the Discord platform.
type Adapter struct {
	o   Options
	s   *discordgo.Session
	api rest
	clk clock.Clock
	log *slog.Logger
	mu  sync.Mutex
	in  Interactor
	// closed holds the rooms closed at their incident's close, by this process.
	closed map[string]bool
	work   sync.WaitGroup
	// base is the context interaction work runs under (Run's); until Run, a
	// background one.
	base context.Context
}

var (
	_ bot.Platform   = (*Adapter)(nil)
	_ bot.RoomFinder = (*Adapter)(nil)
	_ bot.Archiver   = (*Adapter)(nil)
	_ bot.Inviter    = (*Adapter)(nil)
)

// New builds the adapter. Nothing is sent to Discord until Run.
func New(o Options) (*Adapter, error) {
	if o.Clock == nil || o.Log == nil {
		return nil, errors.New("discord: Clock and Log are required")
	}
	if o.Token == "" || o.ApplicationID == "" || o.GuildID == "" {
		return nil, errors.New("discord: the bot token, the application id and the guild id are required")
	}
	switch o.Mode {
	case ModeGateway:
	case ModeHTTP:
		if len(o.PublicKey) != ed25519.PublicKeySize {
			return nil, errors.New("discord: http mode needs the application's Ed25519 public key")
		}
		if o.Nonces == nil {
			return nil, errors.New("discord: http mode needs a nonce store to refuse replayed interactions")
		}
	default:
		return nil, fmt.Errorf("discord: mode %q: want gateway or http", o.Mode)
	}
	s, err := discordgo.New("Bot " + o.Token)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	// 429s go back to the outbox, which waits and retries durably; 502s too.
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	s.StateEnabled = false
	s.Identify.Intents = discordgo.IntentsGuilds
	s.Client = &http.Client{Timeout: 20 * time.Second}
	if o.APIURL != "" && strings.TrimSuffix(o.APIURL, "/") != strings.TrimSuffix(discordgo.EndpointDiscord, "/") {
		base, err := url.Parse(strings.TrimSuffix(o.APIURL, "/"))
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("discord: api_url %q: want an http(s) URL", o.APIURL)
		}
		if base.Scheme != "https" && !config.IsLoopback(base.Host) {
			return nil, fmt.Errorf("discord: api_url http://%s would carry the bot token unencrypted; use https:// (plain http is allowed only for a loopback address)", base.Host)
		}
		s.Client.Transport = &Rewrite{Base: base, Next: http.DefaultTransport}
	}
	s.LogLevel = discordgo.LogError
	a := &Adapter{o: o, s: s, api: s, clk: o.Clock, log: o.Log, base: context.Background(), closed: map[string]bool{}}
	return a, nil
}

// Rewrite is an http.RoundTripper that sends requests for https://discord.com to
// Base instead, keeping the path under Base's.
type Rewrite struct {
	Base *url.URL
	Next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" || r.URL.Host != "discord.com" {
		return t.Next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = t.Base.Scheme, t.Base.Host
	u.Path = t.Base.Path + u.Path
	if u.RawPath != "" {
		u.RawPath = t.Base.Path + u.RawPath
	}
	r2.URL, r2.Host = &u, t.Base.Host
	return t.Next.RoundTrip(r2)
}

// Attach sets who handles clicks and commands (the bot, built after the platform).
func (a *Adapter) Attach(in Interactor) {
	a.mu.Lock()
	a.in = in
	a.mu.Unlock()
}

func (a *Adapter) interactor() Interactor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.in
}

// Name implements bot.Platform.
func (a *Adapter) Name() string { return Name }

// Session returns the discordgo session (for its state in gateway mode).
func (a *Adapter) Session() *discordgo.Session { return a.s }

// classify turns a discordgo error into a bot.Error the outbox understands.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &bot.Error{Platform: Name, Op: op, Err: err}
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		e.RetryAfter = rl.RetryAfter
		if e.RetryAfter <= 0 {
			e.RetryAfter = time.Second
		}
		return e
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		e.Err = fmt.Errorf("HTTP %d: %s", code, restMessage(re))
		e.Permanent = code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
	}
	return e
}

func restMessage(re *discordgo.RESTError) string {
	if re.Message != nil && re.Message.Message != "" {
		return fmt.Sprintf("%s (code %d)", re.Message.Message, re.Message.Code)
	}
	return bot.Truncate(string(re.ResponseBody), 300)
}

// reason is the audit-log reason of a change, URL-encoded as Discord wants it.
func reason(text string) discordgo.RequestOption {
	return discordgo.WithAuditLogReason(url.PathEscape(bot.Truncate(text, 400)))
}

func topic(spec bot.RoomSpec) string {
	t := spec.Topic
	if !strings.HasPrefix(t, spec.Number) {
		t = spec.Number + " " + t
	}
	return cut(bot.EscapeDiscord(t), MaxChannelTopic)
}

// CreateRoom implements bot.Platform: a text channel in the category, or a thread in
// the thread channel.
func (a *Adapter) CreateRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, error) {
	name := cut(spec.Name, MaxChannelName)
	why := reason("warroom: room of incident " + spec.Number)
	private := a.o.Private || spec.Private
	if a.o.ThreadChannelID != "" {
		typ := discordgo.ChannelTypeGuildPublicThread
		if private {
			typ = discordgo.ChannelTypeGuildPrivateThread
		}
		ch, err := a.api.ThreadStartComplex(a.o.ThreadChannelID, &discordgo.ThreadStart{Name: name, Type: typ,
			AutoArchiveDuration: 10080, Invitable: false}, why, discordgo.WithContext(ctx))
		if err != nil {
			return bot.RoomRef{}, classify("create_thread", err)
		}
		return bot.RoomRef{ID: ch.ID, Name: ch.Name}, nil
	}
	data := discordgo.GuildChannelCreateData{Name: name, Type: discordgo.ChannelTypeGuildText, Topic: topic(spec), ParentID: a.o.CategoryID}
	if private {
		data.PermissionOverwrites = a.privateOverwrites()
	}
	ch, err := a.api.GuildChannelCreateComplex(a.o.GuildID, data, why, discordgo.WithContext(ctx))
	if err != nil {
		return bot.RoomRef{}, classify("create_channel", err)
	}
	return bot.RoomRef{ID: ch.ID, Name: ch.Name}, nil
}

// privateOverwrites hide a channel from @everyone (whose role id is the guild's) and
// show it to the bot and the responder roles.
func (a *Adapter) privateOverwrites() []*discordgo.PermissionOverwrite {
	ow := []*discordgo.PermissionOverwrite{
		{ID: a.o.GuildID, Type: discordgo.PermissionOverwriteTypeRole, Deny: permView},
		{ID: a.o.ApplicationID, Type: discordgo.PermissionOverwriteTypeMember, Allow: permView | permSend | permEmbed | permHistory},
	}
	for _, r := range a.o.ResponderRoleIDs {
		ow = append(ow, &discordgo.PermissionOverwrite{ID: r, Type: discordgo.PermissionOverwriteTypeRole, Allow: permView | permSend | permHistory})
	}
	return ow
}

// FindRoom implements bot.RoomFinder: a channel of the room's name in the category
// whose topic starts with the incident number, or an active thread of that name the
// bot owns in the thread channel. A private room is found only where it is private:
// a channel hidden from @everyone and open to the bot, or a private thread. Anybody
// who may create channels in the category could make a public lookalike, and the
// incident's evidence must not go there.
func (a *Adapter) FindRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, bool, error) {
	name := cut(spec.Name, MaxChannelName)
	private := a.o.Private || spec.Private
	if a.o.ThreadChannelID != "" {
		list, err := a.api.GuildThreadsActive(a.o.GuildID, discordgo.WithContext(ctx))
		if err != nil {
			return bot.RoomRef{}, false, classify("find_thread", err)
		}
		for _, th := range list.Threads {
			if th.Name != name || th.ParentID != a.o.ThreadChannelID || th.OwnerID != a.o.ApplicationID {
				continue
			}
			if private && th.Type != discordgo.ChannelTypeGuildPrivateThread {
				a.log.Warn("discord: a public thread has the name of a private incident room; not using it",
					"incident", spec.Number, "thread", th.ID)
				continue
			}
			return bot.RoomRef{ID: th.ID, Name: th.Name}, true, nil
		}
		return bot.RoomRef{}, false, nil
	}
	chs, err := a.api.GuildChannels(a.o.GuildID, discordgo.WithContext(ctx))
	if err != nil {
		return bot.RoomRef{}, false, classify("find_channel", err)
	}
	prefix := bot.EscapeDiscord(spec.Number) + " "
	for _, ch := range chs {
		if ch.Name != name || ch.ParentID != a.o.CategoryID || !strings.HasPrefix(ch.Topic, prefix) {
			continue
		}
		if private && !a.hidden(ch) {
			a.log.Warn("discord: a channel visible to @everyone has the name of a private incident room; not using it",
				"incident", spec.Number, "channel", ch.ID)
			continue
		}
		return bot.RoomRef{ID: ch.ID, Name: ch.Name}, true, nil
	}
	return bot.RoomRef{}, false, nil
}

// hidden reports whether ch is private the way CreateRoom makes it: @everyone (the
// guild's role) denied the view, the bot allowed it.
func (a *Adapter) hidden(ch *discordgo.Channel) bool {
	var everyoneDenied, botAllowed bool
	for _, o := range ch.PermissionOverwrites {
		switch {
		case o.ID == a.o.GuildID && o.Type == discordgo.PermissionOverwriteTypeRole:
			everyoneDenied = o.Deny&permView != 0
		case o.ID == a.o.ApplicationID && o.Type == discordgo.PermissionOverwriteTypeMember:
			botAllowed = o.Allow&permView != 0
		}
	}
	return everyoneDenied && botAllowed
}

// Nonce is the message nonce for an idempotency key: at most 25 characters, the same
// on every attempt, so Discord returns the message it already created.
func Nonce(idempotencyKey string) string {
	h := sha256.Sum256([]byte(idempotencyKey))
	return hex.EncodeToString(h[:12])
}

// Post implements bot.Platform. Posting is idempotent by opts.IdempotencyKey through
// the message nonce (enforce_nonce).
func (a *Adapter) Post(ctx context.Context, room bot.RoomRef, msg *bot.Message, opts bot.PostOptions) (bot.MessageRef, error) {
	w := Render(msg)
	if opts.IdempotencyKey != "" {
		w.Nonce, w.EnforceNonce = Nonce(opts.IdempotencyKey), true
	}
	var b []byte
	err := a.inRoom(ctx, room, func() (err error) {
		b, err = a.api.RequestWithBucketID(http.MethodPost, discordgo.EndpointChannelMessages(room.ID), w,
			discordgo.EndpointChannelMessages(room.ID), discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return bot.MessageRef{}, classify("post", err)
	}
	var m discordgo.Message
	if err := discordgo.Unmarshal(b, &m); err != nil || m.ID == "" {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "post", Err: fmt.Errorf("unreadable answer: %v", err)}
	}
	return bot.MessageRef{ID: m.ID}, a.closeIfOver(ctx, room, msg)
}

// Update implements bot.Platform.
func (a *Adapter) Update(ctx context.Context, room bot.RoomRef, ref bot.MessageRef, msg *bot.Message) error {
	w := Render(msg)
	err := a.inRoom(ctx, room, func() error {
		_, err := a.api.RequestWithBucketID(http.MethodPatch, discordgo.EndpointChannelMessage(room.ID, ref.ID), w,
			discordgo.EndpointChannelMessage(room.ID, ""), discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return classify("update", err)
	}
	return a.closeIfOver(ctx, room, msg)
}

// codeThreadArchived is Discord's error code for a message in an archived thread.
const codeThreadArchived = 50083

// inRoom runs call; in thread mode, when the thread is archived (closed with its
// incident, or archived by Discord after a week without messages) and something is
// still to be said (a closing summary, news of a reopened incident), it unarchives
// the thread and runs call again. A thread warroom closed (locked, or closed by this
// process) is closed again after.
func (a *Adapter) inRoom(ctx context.Context, room bot.RoomRef, call func() error) error {
	err := call()
	var re *discordgo.RESTError
	if a.o.ThreadChannelID == "" || !errors.As(err, &re) || re.Message == nil || re.Message.Code != codeThreadArchived {
		return err
	}
	ch, err := a.api.Channel(room.ID, discordgo.WithContext(ctx))
	if err != nil {
		return err
	}
	a.mu.Lock()
	reclose := a.closed[room.ID] || (ch.ThreadMetadata != nil && ch.ThreadMetadata.Locked)
	a.mu.Unlock()
	f := false
	if _, err := a.api.ChannelEdit(room.ID, &discordgo.ChannelEdit{Archived: &f, Locked: &f}, reason("warroom: the incident has news"),
		discordgo.WithContext(ctx)); err != nil {
		return err
	}
	if err := call(); err != nil {
		return err
	}
	if reclose {
		return a.Archive(ctx, room)
	}
	return nil
}

// closeIfOver archives or locks the room (per the options) when msg is the opening
// message of a closed incident.
func (a *Adapter) closeIfOver(ctx context.Context, room bot.RoomRef, msg *bot.Message) error {
	if msg.Key != bot.KeyOpening || (!a.o.ArchiveOnClose && !a.o.LockOnClose) {
		return nil
	}
	switch msg.Status {
	case "resolved", "false_positive", "merged":
		if err := a.Archive(ctx, room); err != nil {
			return err
		}
		a.mu.Lock()
		a.closed[room.ID] = true
		a.mu.Unlock()
		return nil
	}
	a.mu.Lock()
	delete(a.closed, room.ID) // reopened
	a.mu.Unlock()
	return nil
}

// Invite implements bot.Inviter: in thread mode users are added to the thread; in
// channel mode a private channel gets a member overwrite for each.
func (a *Adapter) Invite(ctx context.Context, room bot.RoomRef, users []string) error {
	for _, u := range users {
		var err error
		if a.o.ThreadChannelID != "" {
			_, err = a.api.RequestWithBucketID(http.MethodPut, discordgo.EndpointThreadMember(room.ID, u), nil,
				discordgo.EndpointThreadMember(room.ID, ""), discordgo.WithContext(ctx))
		} else {
			err = a.api.ChannelPermissionSet(room.ID, u, discordgo.PermissionOverwriteTypeMember, permView|permSend|permHistory, 0,
				reason("warroom: invited to the incident room"), discordgo.WithContext(ctx))
		}
		if err != nil {
			return classify("invite", err)
		}
	}
	return nil
}

// Archive implements bot.Archiver, and runs when the opening message shows the
// incident closed: with archive_on_close a thread is archived and a channel moved to
// the archive category; with lock_on_close the room becomes read-only for everyone
// but the bot. It is idempotent.
func (a *Adapter) Archive(ctx context.Context, room bot.RoomRef) error {
	why := reason("warroom: the incident is closed")
	if a.o.ThreadChannelID != "" {
		if !a.o.ArchiveOnClose && !a.o.LockOnClose {
			return nil
		}
		t := true
		edit := &discordgo.ChannelEdit{}
		if a.o.LockOnClose {
			edit.Locked = &t
		}
		if a.o.ArchiveOnClose {
			edit.Archived = &t
		}
		_, err := a.api.ChannelEdit(room.ID, edit, why, discordgo.WithContext(ctx))
		return classify("archive", err)
	}
	if a.o.LockOnClose {
		// The bot keeps its voice in the locked channel.
		if err := a.api.ChannelPermissionSet(room.ID, a.o.ApplicationID, discordgo.PermissionOverwriteTypeMember,
			permView|permSend|permEmbed|permHistory, 0, why, discordgo.WithContext(ctx)); err != nil {
			return classify("lock", err)
		}
		// The overwrite replaces @everyone's: a private channel stays hidden.
		deny := int64(permSend | permSendThreads)
		if a.o.Private {
			deny |= permView
		}
		if err := a.api.ChannelPermissionSet(room.ID, a.o.GuildID, discordgo.PermissionOverwriteTypeRole, 0, deny,
			why, discordgo.WithContext(ctx)); err != nil {
			return classify("lock", err)
		}
	}
	if a.o.ArchiveOnClose && a.o.ArchiveCategoryID != "" {
		_, err := a.api.ChannelEdit(room.ID, &discordgo.ChannelEdit{ParentID: a.o.ArchiveCategoryID}, why, discordgo.WithContext(ctx))
		return classify("archive", err)
	}
	return nil
}
