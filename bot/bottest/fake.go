// Package bottest holds fakes of chat platforms for tests: a recording platform that
// implements bot.Platform and its optional abilities, keeps the rooms and messages it
// received, checks what a real platform would refuse, and can inject outages, rate
// limits and crashes mid-call.
package bottest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
)

// Call is one call the fake received.
type Call struct {
	Op        string // create_room, post, update, invite, archive, ephemeral, find_room, find_message
	Room      string // room id
	RoomName  string
	MessageID string
	Key       string // the message key, or the idempotency key for find_message
	Msg       *bot.Message
}

// Room is a room the fake holds.
type Room struct {
	ID, Name string
	Spec     bot.RoomSpec
	Members  []string
	Archived bool
	// Messages in the order posted.
	Messages []*Message
}

// Message is a message the fake holds, with every version it had.
type Message struct {
	ID             string
	Room           string
	IdempotencyKey string
	Thread         string
	Versions       []*bot.Message
}

// Latest is the message as it reads now.
func (m *Message) Latest() *bot.Message { return m.Versions[len(m.Versions)-1] }

// Fake is a recording chat platform. The zero value is not usable; call New.
type Fake struct {
	t    testing.TB
	name string

	mu       sync.Mutex
	rooms    map[string]*Room
	byName   map[string]*Room
	messages map[string]*Message
	calls    []Call
	nextID   int
	failures []error
	down     error
	// After, when set, runs after the fake applied a call and before it returns; a
	// test can block in it to stop the caller between the platform's change and its
	// record of it (a crash), or return an error to lose the answer.
	after func(Call) error
}

var (
	_ bot.Platform      = (*Fake)(nil)
	_ bot.RoomFinder    = (*Fake)(nil)
	_ bot.MessageFinder = (*Fake)(nil)
	_ bot.Inviter       = (*Fake)(nil)
	_ bot.Archiver      = (*Fake)(nil)
	_ bot.Ephemeral     = (*Fake)(nil)
)

// New returns a fake platform called name. Rule violations fail t.
func New(t testing.TB, name string) *Fake {
	return &Fake{t: t, name: name, rooms: map[string]*Room{}, byName: map[string]*Room{}, messages: map[string]*Message{}}
}

// Name implements bot.Platform.
func (f *Fake) Name() string { return f.name }

// FailNext makes the next calls fail with errs, one each, before they change anything.
func (f *Fake) FailNext(errs ...error) {
	f.mu.Lock()
	f.failures = append(f.failures, errs...)
	f.mu.Unlock()
}

// SetDown makes every call fail with err until SetDown(nil).
func (f *Fake) SetDown(err error) {
	f.mu.Lock()
	f.down = err
	f.mu.Unlock()
}

// After sets the hook run after each applied call (see Fake.after).
func (f *Fake) After(h func(Call) error) {
	f.mu.Lock()
	f.after = h
	f.mu.Unlock()
}

// RateLimited is the error a platform returns on 429 with a Retry-After.
func RateLimited(platform string, retryAfter time.Duration) error {
	return &bot.Error{Platform: platform, Op: "call", RetryAfter: retryAfter, Err: errors.New("429 Too Many Requests")}
}

// Outage is the error of a platform that does not answer.
func Outage(platform string) error {
	return &bot.Error{Platform: platform, Op: "call", Err: errors.New("503 Service Unavailable")}
}

// begin records a call and returns the injected failure, if any.
func (f *Fake) begin(c Call) error {
	f.calls = append(f.calls, c)
	if f.down != nil {
		return f.down
	}
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		return err
	}
	return nil
}

func (f *Fake) end(c Call) error {
	f.mu.Lock()
	h := f.after
	f.mu.Unlock()
	if h != nil {
		return h(c)
	}
	return nil
}

var roomName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,79}$`)

// CreateRoom implements bot.Platform. Like Slack, a second room with a taken name is
// refused (name_taken); the test fails, since the bot must never create a room twice.
func (f *Fake) CreateRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, error) {
	c := Call{Op: "create_room", RoomName: spec.Name}
	f.mu.Lock()
	if err := f.begin(c); err != nil {
		f.mu.Unlock()
		return bot.RoomRef{}, err
	}
	if !roomName.MatchString(spec.Name) {
		f.mu.Unlock()
		f.t.Errorf("%s: create_room with invalid name %q (lowercase letters, digits, - and _, at most 80)", f.name, spec.Name)
		return bot.RoomRef{}, &bot.Error{Platform: f.name, Op: "create_room", Permanent: true, Err: errors.New("invalid_name")}
	}
	if _, ok := f.byName[spec.Name]; ok {
		f.mu.Unlock()
		f.t.Errorf("%s: room %q created twice", f.name, spec.Name)
		return bot.RoomRef{}, &bot.Error{Platform: f.name, Op: "create_room", Permanent: true, Err: errors.New("name_taken")}
	}
	f.nextID++
	r := &Room{ID: fmt.Sprintf("R%03d", f.nextID), Name: spec.Name, Spec: spec}
	f.rooms[r.ID], f.byName[r.Name] = r, r
	c.Room = r.ID
	f.mu.Unlock()
	ref := bot.RoomRef{ID: r.ID, Name: r.Name}
	return ref, f.end(c)
}

// FindRoom implements bot.RoomFinder.
func (f *Fake) FindRoom(ctx context.Context, spec bot.RoomSpec) (bot.RoomRef, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(Call{Op: "find_room", RoomName: spec.Name}); err != nil {
		return bot.RoomRef{}, false, err
	}
	r, ok := f.byName[spec.Name]
	if !ok || r.Spec.IncidentID != spec.IncidentID {
		return bot.RoomRef{}, false, nil
	}
	return bot.RoomRef{ID: r.ID, Name: r.Name}, true, nil
}

func (f *Fake) room(id string) (*Room, error) {
	r, ok := f.rooms[id]
	if !ok {
		f.t.Errorf("%s: call on unknown room %q", f.name, id)
		return nil, &bot.Error{Platform: f.name, Op: "call", Permanent: true, Err: errors.New("channel_not_found")}
	}
	return r, nil
}

func checkMessage(t testing.TB, platform string, m *bot.Message) {
	if m == nil || m.Key == "" || m.Fallback == "" && m.Text == "" && m.Header == "" {
		t.Errorf("%s: message without a key or any text: %+v", platform, m)
	}
	for _, b := range m.Buttons {
		if b.ActionID == "" || len(b.ActionID) > 100 || b.Label == "" {
			t.Errorf("%s: bad button %+v", platform, b)
		}
	}
}

// Post implements bot.Platform. It does not deduplicate (as Slack does not): a message
// posted twice shows up twice.
func (f *Fake) Post(ctx context.Context, room bot.RoomRef, msg *bot.Message, opts bot.PostOptions) (bot.MessageRef, error) {
	c := Call{Op: "post", Room: room.ID, Key: msg.Key, Msg: msg}
	f.mu.Lock()
	if err := f.begin(c); err != nil {
		f.mu.Unlock()
		return bot.MessageRef{}, err
	}
	r, err := f.room(room.ID)
	if err != nil {
		f.mu.Unlock()
		return bot.MessageRef{}, err
	}
	checkMessage(f.t, f.name, msg)
	if opts.IdempotencyKey == "" {
		f.t.Errorf("%s: post of %q without an idempotency key", f.name, msg.Key)
	}
	f.nextID++
	m := &Message{ID: fmt.Sprintf("M%03d", f.nextID), Room: r.ID, IdempotencyKey: opts.IdempotencyKey, Thread: opts.Thread.ID,
		Versions: []*bot.Message{msg}}
	f.messages[m.ID] = m
	r.Messages = append(r.Messages, m)
	c.MessageID = m.ID
	f.mu.Unlock()
	return bot.MessageRef{ID: m.ID}, f.end(c)
}

// FindMessage implements bot.MessageFinder, by idempotency key (as a Slack adapter
// would search message metadata).
func (f *Fake) FindMessage(ctx context.Context, room bot.RoomRef, key string) (bot.MessageRef, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(Call{Op: "find_message", Room: room.ID, Key: key}); err != nil {
		return bot.MessageRef{}, false, err
	}
	r, err := f.room(room.ID)
	if err != nil {
		return bot.MessageRef{}, false, err
	}
	for _, m := range r.Messages {
		if m.IdempotencyKey == key {
			return bot.MessageRef{ID: m.ID}, true, nil
		}
	}
	return bot.MessageRef{}, false, nil
}

// Update implements bot.Platform.
func (f *Fake) Update(ctx context.Context, room bot.RoomRef, ref bot.MessageRef, msg *bot.Message) error {
	c := Call{Op: "update", Room: room.ID, MessageID: ref.ID, Key: msg.Key, Msg: msg}
	f.mu.Lock()
	if err := f.begin(c); err != nil {
		f.mu.Unlock()
		return err
	}
	m, ok := f.messages[ref.ID]
	if !ok || m.Room != room.ID {
		f.mu.Unlock()
		f.t.Errorf("%s: update of unknown message %q in room %q", f.name, ref.ID, room.ID)
		return &bot.Error{Platform: f.name, Op: "update", Permanent: true, Err: errors.New("message_not_found")}
	}
	checkMessage(f.t, f.name, msg)
	m.Versions = append(m.Versions, msg)
	f.mu.Unlock()
	return f.end(c)
}

// Invite implements bot.Inviter.
func (f *Fake) Invite(ctx context.Context, room bot.RoomRef, users []string) error {
	c := Call{Op: "invite", Room: room.ID}
	f.mu.Lock()
	if err := f.begin(c); err != nil {
		f.mu.Unlock()
		return err
	}
	r, err := f.room(room.ID)
	if err == nil {
		r.Members = append(r.Members, users...)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.end(c)
}

// Archive implements bot.Archiver.
func (f *Fake) Archive(ctx context.Context, room bot.RoomRef) error {
	c := Call{Op: "archive", Room: room.ID}
	f.mu.Lock()
	if err := f.begin(c); err != nil {
		f.mu.Unlock()
		return err
	}
	r, err := f.room(room.ID)
	if err == nil {
		r.Archived = true
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.end(c)
}

// PostEphemeral implements bot.Ephemeral.
func (f *Fake) PostEphemeral(ctx context.Context, room bot.RoomRef, user bot.User, msg *bot.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.begin(Call{Op: "ephemeral", Room: room.ID, Key: user.ID, Msg: msg})
}

// Rooms returns the rooms, in creation order.
func (f *Fake) Rooms() []*Room {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Room, 0, len(f.rooms))
	for i := 1; i <= f.nextID; i++ {
		for _, r := range f.rooms {
			if r.ID == fmt.Sprintf("R%03d", i) {
				out = append(out, r)
			}
		}
	}
	return out
}

// RoomByName returns the room of that name.
func (f *Fake) RoomByName(name string) (*Room, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.byName[name]
	return r, ok
}

// Calls returns every call received, failed ones included.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Keys lists the keys of a room's messages in the order posted.
func (r *Room) Keys() []string {
	out := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		out[i] = m.Versions[0].Key
	}
	return out
}

// Message returns the room's message of that key.
func (r *Room) Message(key string) (*Message, bool) {
	for _, m := range r.Messages {
		if m.Versions[0].Key == key {
			return m, true
		}
	}
	return nil, false
}

// Basic wraps f so that it offers only the bot.Platform methods, none of the
// optional abilities.
func Basic(f *Fake) bot.Platform { return basic{f} }

type basic struct{ f *Fake }

func (b basic) Name() string { return b.f.Name() }
func (b basic) CreateRoom(ctx context.Context, s bot.RoomSpec) (bot.RoomRef, error) {
	return b.f.CreateRoom(ctx, s)
}
func (b basic) Post(ctx context.Context, r bot.RoomRef, m *bot.Message, o bot.PostOptions) (bot.MessageRef, error) {
	return b.f.Post(ctx, r, m, o)
}
func (b basic) Update(ctx context.Context, r bot.RoomRef, ref bot.MessageRef, m *bot.Message) error {
	return b.f.Update(ctx, r, ref, m)
}
