package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

// The outbox: every platform operation is first written to SQLite (store.ChatOp) in
// the same transaction as the state change that calls for it, then delivered by a
// worker per platform, in order per room. A failed delivery is retried with backoff,
// or after the platform's Retry-After; a platform outage only delays messages.
//
// No duplicates: a room is created once (its intent is recorded before the platform
// is called; after a crash a RoomFinder finds it), and a message key is posted once
// (later versions of it are edits). Posting carries an idempotency key that is the
// same on every attempt, and an attempt is counted durably before a non-idempotent
// call, so a retry after a crash asks a MessageFinder first.

// Outbox op kinds.
const (
	OpCreateRoom = "create_room"
	OpPut        = "put" // post a message, or edit it once posted
	OpInvite     = "invite"
	OpArchive    = "archive"
)

type putPayload struct {
	Message *Message `json:"message"`
}

type invitePayload struct {
	Users []string `json:"users"`
}

// OutboxStore is what the outbox needs from the store.
type OutboxStore interface {
	store.Writer
	ChatRoom(ctx context.Context, platform string, incidentID int64) (*store.ChatRoom, error)
	ChatMessage(ctx context.Context, platform string, incidentID int64, key string) (*store.ChatMessage, error)
	// ChatOutboxHeads returns the first live op of each room, soonest due first, at
	// most limit of them.
	ChatOutboxHeads(ctx context.Context, platform string, limit int) ([]*store.ChatOp, error)
}

// passSize is how many rooms' head ops one delivery pass reads: a backlog of
// thousands of rooms is delivered in passes of this many, not read all at once.
const passSize = 256

// Backoff is the delay before retry n (1-based): Base·2^(n-1), at most Max.
type Backoff struct {
	Base, Max time.Duration
}

// Delay returns the wait before attempt n+1 after n failed attempts.
func (b Backoff) Delay(n int) time.Duration {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Outbox delivers queued platform operations.
type Outbox struct {
	st        OutboxStore
	platforms map[string]Platform
	names     []string
	clk       clock.Clock
	log       *slog.Logger
	backoff   Backoff
	timeout   time.Duration

	mu     sync.Mutex
	paused map[string]time.Time // platform-wide Retry-After
	wake   map[string]chan struct{}
	// OnDelivered, when set, is called after each delivered op (for tests and metrics).
	OnDelivered func(platform string, op *store.ChatOp)
}

// NewOutbox returns an outbox over st delivering to platforms.
func NewOutbox(st OutboxStore, platforms []Platform, clk clock.Clock, log *slog.Logger, b Backoff) *Outbox {
	o := &Outbox{st: st, platforms: map[string]Platform{}, clk: clk, log: log, backoff: b, timeout: 30 * time.Second,
		paused: map[string]time.Time{}, wake: map[string]chan struct{}{}}
	for _, p := range platforms {
		o.platforms[p.Name()] = p
		o.names = append(o.names, p.Name())
		o.wake[p.Name()] = make(chan struct{}, 1)
	}
	return o
}

// Wake tells the platform's worker that ops were queued.
func (o *Outbox) Wake(platform string) {
	if ch, ok := o.wake[platform]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, one worker per platform.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range o.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.runPlatform(ctx, name)
		}()
	}
	wg.Wait()
}

func (o *Outbox) runPlatform(ctx context.Context, name string) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		_, moved, next, err := o.pass(ctx, name)
		if ctx.Err() != nil {
			return
		}
		wait := time.Minute
		switch {
		case err != nil:
			o.log.Warn("chat outbox: delivery pass failed", "platform", name, "err", err)
			wait = time.Second
		case moved:
			continue
		case !next.IsZero():
			wait = max(next.Sub(o.clk.Now()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-o.wake[name]:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

// DeliverDue delivers every op that is due now on every platform, until none is
// left, and returns how many it delivered. Tests drive the outbox with it on a fake
// clock.
func (o *Outbox) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		progress := false
		for _, name := range o.names {
			n, moved, _, err := o.pass(ctx, name)
			total += n
			if err != nil {
				return total, err
			}
			progress = progress || moved
		}
		if !progress {
			return total, nil
		}
	}
}

// NextDue returns the earliest time an op of any platform is due; zero when none is
// queued.
func (o *Outbox) NextDue(ctx context.Context) (time.Time, error) {
	var next time.Time
	for _, name := range o.names {
		heads, err := o.st.ChatOutboxHeads(ctx, name, 1) // the soonest due
		if err != nil {
			return time.Time{}, err
		}
		for _, h := range heads {
			at := h.NextAt
			if p := o.pausedUntil(name); p.After(at) {
				at = p
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return next, nil
}

func (o *Outbox) pausedUntil(name string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.paused[name]
}

// pass tries the head op of each room of a platform once. It returns how many ops it
// delivered, whether any queue moved (an op delivered, set aside, or due again at
// once), and when the next op is due.
func (o *Outbox) pass(ctx context.Context, name string) (int, bool, time.Time, error) {
	heads, err := o.st.ChatOutboxHeads(ctx, name, passSize)
	if err != nil {
		return 0, false, time.Time{}, err
	}
	p := o.platforms[name]
	n, moved := 0, false
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, op := range heads {
		now := o.clk.Now()
		if until := o.pausedUntil(name); now.Before(until) {
			later(until)
			continue
		}
		if now.Before(op.NextAt) {
			later(op.NextAt)
			continue
		}
		before := op.Attempts
		done, err := o.deliver(ctx, p, op)
		if ctx.Err() != nil {
			return n, moved, next, ctx.Err()
		}
		if err != nil {
			dead, serr := o.fail(ctx, name, op, before, err)
			if serr != nil {
				return n, moved, next, serr
			}
			moved = moved || dead
			continue
		}
		moved = true // delivered, or replaced during delivery and due again now
		if done {
			n++
			if o.OnDelivered != nil {
				o.OnDelivered(name, op)
			}
		}
	}
	return n, moved, next, nil
}

var errNoRoom = errors.New("the room is not created yet")

// deliver performs op on p and records the outcome. It reports false when the op was
// replaced by a newer version during delivery and must go again.
func (o *Outbox) deliver(ctx context.Context, p Platform, op *store.ChatOp) (bool, error) {
	name := p.Name()
	room, err := o.st.ChatRoom(ctx, name, op.IncidentID)
	if err != nil {
		return false, fmt.Errorf("read the room: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch op.Kind {
	case OpCreateRoom:
		return o.createRoom(cctx, ctx, p, op, room)
	case OpPut:
		if room.RoomID == "" {
			return false, errNoRoom
		}
		return o.put(cctx, ctx, p, op, room)
	case OpInvite:
		if room.RoomID == "" {
			return false, errNoRoom
		}
		if inv, ok := p.(Inviter); ok {
			var pl invitePayload
			if err := json.Unmarshal(op.Payload, &pl); err != nil {
				return false, &Error{Platform: name, Op: op.Kind, Permanent: true, Err: err}
			}
			if err := inv.Invite(cctx, RoomRef{ID: room.RoomID, Name: room.Name}, pl.Users); err != nil {
				return false, err
			}
		}
		return o.finish(ctx, op, nil)
	case OpArchive:
		if room.RoomID == "" {
			return o.finish(ctx, op, nil)
		}
		if ar, ok := p.(Archiver); ok {
			if err := ar.Archive(cctx, RoomRef{ID: room.RoomID, Name: room.Name}); err != nil {
				return false, err
			}
		}
		return o.finish(ctx, op, nil)
	}
	return false, &Error{Platform: name, Op: op.Kind, Permanent: true, Err: fmt.Errorf("unknown op kind %q", op.Kind)}
}

func (o *Outbox) createRoom(cctx, ctx context.Context, p Platform, op *store.ChatOp, room *store.ChatRoom) (bool, error) {
	if room.RoomID != "" {
		return o.finish(ctx, op, nil)
	}
	var spec RoomSpec
	if err := json.Unmarshal(op.Payload, &spec); err != nil {
		return false, &Error{Platform: p.Name(), Op: op.Kind, Permanent: true, Err: err}
	}
	spec.Name = room.Name
	var ref RoomRef
	found := false
	if f, ok := p.(RoomFinder); ok && op.Attempts > 0 {
		// An earlier attempt may have created the room before the process stopped.
		r, ok, err := f.FindRoom(cctx, spec)
		if err != nil {
			return false, err
		}
		ref, found = r, ok
	}
	if !found {
		if err := o.st.Submit(ctx, func(tx store.Tx) error { return tx.StartChatOp(op.ID) }); err != nil {
			return false, fmt.Errorf("count the attempt: %w", err)
		}
		op.Attempts++
		r, err := p.CreateRoom(cctx, spec)
		if err != nil {
			return false, err
		}
		ref = r
	}
	if ref.ID == "" {
		return false, &Error{Platform: p.Name(), Op: op.Kind, Err: errors.New("the platform returned a room without an id")}
	}
	return o.finish(ctx, op, func(tx store.Tx) error {
		r, err := tx.ChatRoom(p.Name(), op.IncidentID)
		if err != nil {
			return err
		}
		r.RoomID = ref.ID
		if ref.Name != "" {
			r.Name = ref.Name
		}
		return tx.PutChatRoom(r)
	})
}

// IdempotencyKey is the key a message is posted with: the same on every attempt.
func IdempotencyKey(platform string, incidentID int64, key string) string {
	return "warroom:" + platform + ":" + strconv.FormatInt(incidentID, 10) + ":" + key
}

func (o *Outbox) put(cctx, ctx context.Context, p Platform, op *store.ChatOp, room *store.ChatRoom) (bool, error) {
	var pl putPayload
	if err := json.Unmarshal(op.Payload, &pl); err != nil || pl.Message == nil {
		return false, &Error{Platform: p.Name(), Op: op.Kind, Permanent: true, Err: fmt.Errorf("bad payload: %v", err)}
	}
	msg := pl.Message
	rref := RoomRef{ID: room.RoomID, Name: room.Name}
	existing, err := o.st.ChatMessage(ctx, p.Name(), op.IncidentID, msg.Key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("read message %s: %w", msg.Key, err)
	}
	if existing != nil {
		if err := p.Update(cctx, rref, MessageRef{ID: existing.MessageID}, msg); err != nil {
			return false, err
		}
		return o.finish(ctx, op, nil)
	}
	idem := IdempotencyKey(p.Name(), op.IncidentID, msg.Key)
	if f, ok := p.(MessageFinder); ok && op.Attempts > 0 {
		ref, found, err := f.FindMessage(cctx, rref, idem)
		if err != nil {
			return false, err
		}
		if found {
			// Posted before the process stopped; bring it up to date.
			if err := p.Update(cctx, rref, ref, msg); err != nil {
				return false, err
			}
			return o.finish(ctx, op, recordMessage(p.Name(), op.IncidentID, msg.Key, ref))
		}
	}
	var thread MessageRef
	if msg.ThreadKey != "" {
		if t, err := o.st.ChatMessage(ctx, p.Name(), op.IncidentID, msg.ThreadKey); err == nil {
			thread = MessageRef{ID: t.MessageID}
		}
	}
	if err := o.st.Submit(ctx, func(tx store.Tx) error { return tx.StartChatOp(op.ID) }); err != nil {
		return false, fmt.Errorf("count the attempt: %w", err)
	}
	op.Attempts++
	ref, err := p.Post(cctx, rref, msg, PostOptions{IdempotencyKey: idem, Thread: thread})
	if err != nil {
		return false, err
	}
	if ref.ID == "" {
		return false, &Error{Platform: p.Name(), Op: op.Kind, Err: errors.New("the platform returned a message without an id")}
	}
	return o.finish(ctx, op, recordMessage(p.Name(), op.IncidentID, msg.Key, ref))
}

func recordMessage(platform string, incidentID int64, key string, ref MessageRef) func(store.Tx) error {
	return func(tx store.Tx) error {
		return tx.PutChatMessage(&store.ChatMessage{Platform: platform, IncidentID: incidentID, Key: key, MessageID: ref.ID})
	}
}

// finish records a delivered op (and what the platform answered) in one transaction.
func (o *Outbox) finish(ctx context.Context, op *store.ChatOp, record func(store.Tx) error) (bool, error) {
	var done bool
	err := o.st.Submit(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if record != nil {
			if err := record(tx); err != nil {
				return err
			}
		}
		var err error
		done, err = tx.FinishChatOp(op.ID, op.Rev)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record the delivery: %w", err)
	}
	return done, nil
}

// fail reschedules op after a failed delivery, or sets it aside when retrying cannot
// help, and reports whether it did. before is op.Attempts before this delivery.
// Only store errors are returned.
func (o *Outbox) fail(ctx context.Context, platform string, op *store.ChatOp, before int, err error) (bool, error) {
	now := o.clk.Now()
	attempts := op.Attempts
	if attempts == before {
		attempts++ // the attempt was not counted before the call
	}
	// A put at the head of its room's queue without a room: the room's creation was
	// set aside as dead, so nothing can be posted there.
	dead := IsPermanent(err) || errors.Is(err, errNoRoom)
	next := now.Add(o.backoff.Delay(attempts))
	if d, ok := RetryAfter(err); ok {
		next = now.Add(d)
		var pe *Error
		if errors.As(err, &pe) && pe.Global {
			o.mu.Lock()
			o.paused[platform] = next
			o.mu.Unlock()
		}
	}
	level := slog.LevelWarn
	if dead {
		level = slog.LevelError
	}
	o.log.Log(ctx, level, "chat outbox: delivery failed", "platform", platform, "op", op.Kind, "key", op.Key,
		"incident", op.IncidentID, "attempts", attempts, "dead", dead, "retry_at", next, "err", err)
	serr := o.st.Submit(context.WithoutCancel(ctx), func(tx store.Tx) error {
		return tx.DeferChatOp(op.ID, attempts, next, err.Error(), dead)
	})
	if serr != nil {
		return false, fmt.Errorf("reschedule a %s op: %w", platform, serr)
	}
	return dead, nil
}
