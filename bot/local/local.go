// Package local is warroom's built-in web chat, the embedded default platform: rooms
// and messages kept in SQLite, served as plain server-rendered HTML on warroom's own
// listener under /chat/, with live updates over server-sent events, buttons and a
// command box. It implements bot.Platform like the Slack and Discord adapters, so the
// rooms go through the same outbox.
//
// Users and roles come from the configuration. On a loopback listen address it may
// run without a login (a user picker); anywhere else it requires passwords (bcrypt)
// or per-user tokens. Sessions are HttpOnly, SameSite=Strict cookies, every POST
// carries a CSRF token, and pages are served with a strict Content-Security-Policy.
package local

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Name is the platform's name.
const Name = "local"

// Store is what the web chat reads and writes.
type Store interface {
	store.Writer
	LocalRooms(ctx context.Context) ([]*store.LocalRoom, error)
	LocalRoom(ctx context.Context, name string) (*store.LocalRoom, error)
	LocalMessages(ctx context.Context, roomID int64) ([]*store.LocalMessage, error)
	LocalMessage(ctx context.Context, id int64) (*store.LocalMessage, error)
	Incident(ctx context.Context, id int64) (*model.Incident, error)
}

// Interactor handles clicks and commands (bot.Bot).
type Interactor interface {
	Interact(ctx context.Context, in bot.Interaction) (bot.Reply, error)
}

// User is a web chat user.
type User struct {
	Name    string
	Display string
	Role    config.Role
	// PasswordHash is the user's bcrypt hash (auth password).
	PasswordHash []byte
	// Token is the user's token (auth token); only its hash is kept.
	Token string
}

// Options configure the web chat.
type Options struct {
	Store Store
	Clock clock.Clock
	Log   *slog.Logger
	// Auth is config.AuthNone, AuthPassword or AuthToken.
	Auth  string
	Users []User
	// Listen is the address warroom listens on: auth none is refused unless it is a
	// loopback address, and cookies are Secure unless it is.
	Listen     string
	SessionTTL time.Duration
}

// Chat is the web chat: a bot.Platform and an http.Handler.
type Chat struct {
	st      Store
	clk     clock.Clock
	log     *slog.Logger
	auth    string
	users   map[string]*user
	order   []string
	secure  bool
	ttl     time.Duration
	hub     *hub
	assets  *assets
	sess    *sessions
	limiter *limiter

	interact Interactor
	drills   atomic.Pointer[drillSource] // the drill report page (drills.go)

	roomsMu    sync.Mutex
	roomsTimer *time.Timer
}

type user struct {
	User
	tokenHash [32]byte
}

var (
	_ bot.Platform  = (*Chat)(nil)
	_ bot.Ephemeral = (*Chat)(nil)
	_ bot.Archiver  = (*Chat)(nil)
)

// New builds the web chat. It refuses auth none on an address other machines can
// reach, and users without the credential their auth mode needs.
func New(o Options) (*Chat, error) {
	if o.Store == nil || o.Clock == nil || o.Log == nil {
		return nil, errors.New("web chat: Store, Clock and Log are required")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	lc := config.LocalChat{Enabled: true, Auth: o.Auth}
	if err := lc.CheckListen(o.Listen); err != nil {
		return nil, err
	}
	c := &Chat{st: o.Store, clk: o.Clock, log: o.Log, auth: o.Auth, users: map[string]*user{},
		secure: !config.IsLoopback(o.Listen), ttl: o.SessionTTL, hub: newHub(),
		sess: newSessions(o.Clock, o.SessionTTL), limiter: newLimiter(o.Clock)}
	for _, u := range o.Users {
		if _, dup := c.users[u.Name]; dup {
			return nil, fmt.Errorf("web chat: user %q is listed twice", u.Name)
		}
		if u.Role.Rank() == 0 {
			return nil, fmt.Errorf("web chat: user %q: role %q: want viewer, responder, approver or admin", u.Name, u.Role)
		}
		uu := &user{User: u}
		switch o.Auth {
		case config.AuthNone:
		case config.AuthPassword:
			if _, err := bcrypt.Cost(u.PasswordHash); err != nil {
				return nil, fmt.Errorf("web chat: user %q: the password hash is not a bcrypt hash (it starts $2a$, $2b$ or $2y$): %w", u.Name, err)
			}
		case config.AuthToken:
			if len(u.Token) < 16 {
				return nil, fmt.Errorf("web chat: user %q: the token is shorter than 16 characters; use a long random one", u.Name)
			}
			uu.tokenHash = sha256.Sum256([]byte(u.Token))
			uu.Token = ""
		default:
			return nil, fmt.Errorf("web chat: auth %q: want none, password or token", o.Auth)
		}
		if uu.Display == "" {
			uu.Display = u.Name
		}
		c.users[u.Name] = uu
		c.order = append(c.order, u.Name)
	}
	if o.Auth != config.AuthNone && len(c.users) == 0 {
		return nil, fmt.Errorf("web chat: auth %s needs at least one user", o.Auth)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	c.assets = a
	return c, nil
}

// Attach sets who handles clicks and commands (the bot, built after the platform).
func (c *Chat) Attach(i Interactor) { c.interact = i }

// Name implements bot.Platform.
func (c *Chat) Name() string { return Name }

// CreateRoom implements bot.Platform: idempotent by name.
func (c *Chat) CreateRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, error) {
	r := &store.LocalRoom{Name: spec.Name, Topic: spec.Topic, IncidentID: spec.IncidentID}
	err := c.st.Submit(ctx, func(tx store.Tx) error {
		*r = store.LocalRoom{Name: spec.Name, Topic: spec.Topic, IncidentID: spec.IncidentID}
		return tx.PutLocalRoom(r)
	})
	if err != nil {
		return bot.RoomRef{}, &bot.Error{Platform: Name, Op: "create_room", Err: err}
	}
	c.publishRooms(ctx)
	return bot.RoomRef{ID: strconv.FormatInt(r.ID, 10), Name: r.Name}, nil
}

// body is a stored message.
type body struct {
	Message *bot.Message `json:"message"`
	Thread  string       `json:"thread,omitempty"`
}

// Post implements bot.Platform: idempotent by the idempotency key.
func (c *Chat) Post(ctx context.Context, room bot.RoomRef, msg *bot.Message, opts bot.PostOptions) (bot.MessageRef, error) {
	rid, err := strconv.ParseInt(room.ID, 10, 64)
	if err != nil {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "post", Permanent: true, Err: fmt.Errorf("room id %q", room.ID)}
	}
	raw, err := json.Marshal(body{Message: msg, Thread: opts.Thread.ID})
	if err != nil {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "post", Permanent: true, Err: err}
	}
	key := opts.IdempotencyKey
	if key == "" {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "post", Permanent: true, Err: errors.New("no idempotency key")}
	}
	var m store.LocalMessage
	err = c.st.Submit(ctx, func(tx store.Tx) error {
		m = store.LocalMessage{RoomID: rid, Key: key, Body: raw}
		_, err := tx.PutLocalMessage(&m)
		return err
	})
	if err != nil {
		return bot.MessageRef{}, &bot.Error{Platform: Name, Op: "post", Err: err}
	}
	c.publishMessage(ctx, &m)
	return bot.MessageRef{ID: strconv.FormatInt(m.ID, 10)}, nil
}

// Update implements bot.Platform.
func (c *Chat) Update(ctx context.Context, room bot.RoomRef, ref bot.MessageRef, msg *bot.Message) error {
	id, err := strconv.ParseInt(ref.ID, 10, 64)
	if err != nil {
		return &bot.Error{Platform: Name, Op: "update", Permanent: true, Err: fmt.Errorf("message id %q", ref.ID)}
	}
	old, err := c.st.LocalMessage(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &bot.Error{Platform: Name, Op: "update", Permanent: true, Err: err}
	}
	if err != nil {
		return &bot.Error{Platform: Name, Op: "update", Err: err}
	}
	var b body
	_ = json.Unmarshal(old.Body, &b)
	b.Message = msg
	raw, err := json.Marshal(b)
	if err != nil {
		return &bot.Error{Platform: Name, Op: "update", Permanent: true, Err: err}
	}
	var m *store.LocalMessage
	err = c.st.Submit(ctx, func(tx store.Tx) (err error) {
		m, err = tx.UpdateLocalMessage(id, raw, time.Time{})
		return err
	})
	if err != nil {
		return &bot.Error{Platform: Name, Op: "update", Err: err}
	}
	c.publishMessage(ctx, m)
	return nil
}

// PostEphemeral implements bot.Ephemeral: the message goes to the user's open pages
// only and is not kept.
func (c *Chat) PostEphemeral(ctx context.Context, room bot.RoomRef, u bot.User, msg *bot.Message) error {
	text := msg.Text
	if text == "" {
		text = msg.Fallback
	}
	c.hub.publish(event{name: "private", user: u.ID, data: mustJSON(map[string]string{"room": room.Name, "text": text})})
	return nil
}

// Archive implements bot.Archiver.
func (c *Chat) Archive(ctx context.Context, room bot.RoomRef) error {
	id, err := strconv.ParseInt(room.ID, 10, 64)
	if err != nil {
		return &bot.Error{Platform: Name, Op: "archive", Permanent: true, Err: fmt.Errorf("room id %q", room.ID)}
	}
	if err := c.st.Submit(ctx, func(tx store.Tx) error { return tx.ArchiveLocalRoom(id, time.Time{}) }); err != nil {
		return &bot.Error{Platform: Name, Op: "archive", Err: err}
	}
	c.publishRooms(ctx)
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// roomsDelay gathers room list changes: the list is rendered (one incident read per
// room) and sent at most once per delay, however many messages change meanwhile.
const roomsDelay = 200 * time.Millisecond

// publishRooms sends the room list to every open page, shortly.
func (c *Chat) publishRooms(context.Context) {
	if c.hub.idle() {
		return
	}
	c.roomsMu.Lock()
	defer c.roomsMu.Unlock()
	if c.roomsTimer != nil {
		return // a send is already scheduled and will see this change
	}
	c.roomsTimer = time.AfterFunc(roomsDelay, func() {
		c.roomsMu.Lock()
		c.roomsTimer = nil
		c.roomsMu.Unlock()
		if c.hub.idle() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		html, err := c.roomsFragment(ctx, "")
		if err != nil {
			c.log.Warn("web chat: render the room list", "err", err)
			return
		}
		c.hub.publish(event{name: "rooms", data: mustJSON(map[string]string{"html": html})})
	})
}

// publishMessage sends a new or changed message to every open page, and the room list
// (whose severities and statuses may have changed with it).
func (c *Chat) publishMessage(ctx context.Context, m *store.LocalMessage) {
	if c.hub.idle() {
		return
	}
	room, html, err := c.messageFragment(ctx, m)
	if err != nil {
		c.log.Warn("web chat: render a message", "id", m.ID, "err", err)
		return
	}
	c.hub.publish(event{name: "message", data: mustJSON(map[string]any{"room": room, "id": m.ID, "html": html}), csrf: true})
	c.publishRooms(ctx)
}

// CloseStreams ends every live update stream (at shutdown, so the server need not
// wait for them) and any pending room list send.
func (c *Chat) CloseStreams() {
	c.roomsMu.Lock()
	if c.roomsTimer != nil {
		c.roomsTimer.Stop()
		c.roomsTimer = nil
	}
	c.roomsMu.Unlock()
	c.hub.closeAll()
}
