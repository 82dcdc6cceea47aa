package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// Platform is a chat platform the bot opens incident rooms on. Implementations are
// called from the outbox worker only, one operation at a time per platform.
type Platform interface {
	// Name is the platform's name in the configuration: "local", "slack", "discord".
	Name() string
	// CreateRoom opens a room for an incident. It must be idempotent by name where
	// the platform allows: creating a room that already exists for this spec returns
	// it. The returned ref's Name is the name the room really got.
	CreateRoom(ctx context.Context, spec RoomSpec) (RoomRef, error)
	// Post adds a message to a room. Platforms that can deduplicate do so by
	// opts.IdempotencyKey, which is the same on every retry of one message.
	Post(ctx context.Context, room RoomRef, msg *Message, opts PostOptions) (MessageRef, error)
	// Update replaces a message's content in place.
	Update(ctx context.Context, room RoomRef, ref MessageRef, msg *Message) error
}

// Optional abilities, checked by type assertion.

// Inviter adds people to a room.
type Inviter interface {
	Invite(ctx context.Context, room RoomRef, users []string) error
}

// Archiver closes a room once its incident is over.
type Archiver interface {
	Archive(ctx context.Context, room RoomRef) error
}

// Ephemeral shows a message to one user only.
type Ephemeral interface {
	PostEphemeral(ctx context.Context, room RoomRef, user User, msg *Message) error
}

// RoomFinder finds a room this bot already created for spec (after a crash between
// the platform's answer and the record of it). It must not return a room someone
// else made under the same name.
type RoomFinder interface {
	FindRoom(ctx context.Context, spec RoomSpec) (RoomRef, bool, error)
}

// MessageFinder finds a message already posted with an idempotency key.
type MessageFinder interface {
	FindMessage(ctx context.Context, room RoomRef, idempotencyKey string) (MessageRef, bool, error)
}

// RoomSpec describes the room to open for an incident.
type RoomSpec struct {
	Name       string         `json:"name"`
	Topic      string         `json:"topic"`
	IncidentID int64          `json:"incident_id"`
	Number     string         `json:"number"`
	Kind       model.Kind     `json:"kind"`
	Severity   model.Severity `json:"severity"`
	Private    bool           `json:"private,omitempty"`
}

// RoomRef is a room on a platform.
type RoomRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// MessageRef is a message on a platform (a Slack ts, a Discord message id...).
type MessageRef struct {
	ID string `json:"id"`
}

// PostOptions tune one Post.
type PostOptions struct {
	// IdempotencyKey is the same on every attempt to post one message.
	IdempotencyKey string
	// Thread is the message to reply under, for platforms with threads; zero for none.
	Thread MessageRef
}

// Error is a platform's refusal, classified for the outbox: how long the platform
// asked to wait (429 Retry-After), whether retrying can help at all, and whether the
// limit covers the whole platform or one room.
type Error struct {
	Platform string
	Op       string
	// RetryAfter is how long the platform asked to wait before the next attempt.
	RetryAfter time.Duration
	// Permanent: retrying cannot help (a bad request, a missing scope, a deleted
	// message). The operation is set aside and the room's queue moves on.
	Permanent bool
	// Global: the limit applies to every room of the platform.
	Global bool
	Err    error
}

func (e *Error) Error() string {
	s := e.Platform + " " + e.Op
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter returns how long err asks to wait, if it is an *Error that says.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsPermanent reports whether err is an *Error marked permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
