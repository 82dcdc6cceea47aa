// Package sinks is warroom's SIEM feedback loop: every incident transition and every
// action result becomes an Event that is delivered, at least once, to each configured
// sink (Splunk HEC, Elasticsearch _bulk, syslog, a signed webhook) so that the SIEM sees
// what the network side did.
//
// Delivery goes through a durable Queue: Publish stores an event once per sink, and the
// Dispatcher sends each sink's queue in order, in batches, removing events only after the
// sink accepted them. A sink outage delays events, never drops them; retries back off
// exponentially (bounded, with jitter) and honour Retry-After. Sinks classify their
// errors: retryable by default, Permanent when a human has to fix the sink (a bad token,
// a wrong URL: the sink is halted and its events wait), Rejected when the receiver refuses
// the content of a request (the events it names are dropped and counted), and a
// BatchError when only some events of a batch failed.
//
// One sub-package per sink type registers itself in init (splunk, elastic, syslog,
// webhook); sinktest holds strict fakes of the receivers and an in-memory Queue.
package sinks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/warroom/warroom/internal/clock"
)

// Type says what happened: "incident.opened", "action.succeeded", ...
type Type string

// The event types warroom sends. Others of the same shape (lowercase words joined by
// dots, at most 32 characters) are allowed, so receivers should not reject unknown ones.
const (
	IncidentOpened     Type = "incident.opened"
	IncidentStatus     Type = "incident.status"
	IncidentMerged     Type = "incident.merged"
	IncidentPlaybook   Type = "incident.playbook"
	ActionProposed     Type = "action.proposed"
	ActionApproved     Type = "action.approved"
	ActionRejected     Type = "action.rejected"
	ActionSucceeded    Type = "action.succeeded"
	ActionFailed       Type = "action.failed"
	ActionReverted     Type = "action.reverted"
	ActionExpired      Type = "action.expired"
	ActionVerified     Type = "action.verified"
	ActionVerifyFailed Type = "action.verify_failed"
	DrillCompleted     Type = "drill.completed"
)

const (
	maxTypeLen                 = 32 // RFC 5424 MSGID
	maxIDLen                   = 64
	maxIncidentLen             = 64
	maxActorLen                = 256
	maxFields                  = 64
	maxFieldValueLen           = 4096
	maxFieldNameLen            = 32 // RFC 5424 PARAM-NAME
	eventTimeYearMin           = 1970
	eventTimeYearMax           = 9999
	idAlphabet                 = "A-Za-z0-9._:-"
	fieldNameFirstCharAlphabet = "A-Za-z_"
)

var (
	typeRE      = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	idRE        = regexp.MustCompile(`^[` + idAlphabet + `]+$`)
	fieldNameRE = regexp.MustCompile(`^[` + fieldNameFirstCharAlphabet + `][A-Za-z0-9_.-]*$`)
)

// Event is one record for the SIEM. It is JSON-serialisable as is; receivers
// deduplicate on ID, which stays the same however often the event is delivered.
type Event struct {
	// ID is unique per event (a UUIDv7 from NewEvent): the key for deduplication at the
	// receiver, and the Elasticsearch document _id.
	ID string `json:"id"`
	// Time is when the transition happened.
	Time time.Time `json:"time"`
	// Type says what happened.
	Type Type `json:"type"`
	// Incident is the incident's human number (INC-0042), if the event concerns one.
	Incident string `json:"incident,omitempty"`
	// Actor is who caused it: a user identity, an API token identity, "warroom" for the
	// engine itself.
	Actor string `json:"actor,omitempty"`
	// Fields carry the details: status, action id, kind, target, connector, ttl, error...
	// Names are 1 to 32 characters of letters, digits, '_', '.', '-' starting with a
	// letter or '_' (so they are valid syslog structured-data names everywhere).
	Fields map[string]string `json:"fields,omitempty"`
}

// NewEvent returns an event of type typ stamped with c's time and a fresh ID.
func NewEvent(c clock.Clock, typ Type, incident, actor string, fields map[string]string) Event {
	now := c.Now().UTC().Round(0)
	return Event{ID: NewID(now), Time: now, Type: typ, Incident: incident, Actor: actor, Fields: fields}
}

// NewID returns a UUIDv7 (RFC 9562) for time t: time-ordered, 74 random bits.
func NewID(t time.Time) string {
	var u [16]byte
	if _, err := rand.Read(u[6:]); err != nil {
		panic(fmt.Sprintf("sinks: crypto/rand failed: %v", err)) // cannot happen on supported platforms
	}
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Validate checks that every sink can carry the event: an ID of at most 64 characters
// from [A-Za-z0-9._:-], a time between 1970 and 9999, a type like "incident.opened" of
// at most 32 characters, printable incident and actor, and at most 64 fields with valid
// names and UTF-8 values of at most 4096 bytes.
func (e *Event) Validate() error {
	switch {
	case e.ID == "":
		return errors.New("event has no id: create events with sinks.NewEvent")
	case len(e.ID) > maxIDLen || !idRE.MatchString(e.ID):
		return fmt.Errorf("event id %q: want 1 to %d characters from %s", trunc(e.ID, 80), maxIDLen, idAlphabet)
	case e.Time.IsZero():
		return fmt.Errorf("event %s has no time", e.ID)
	case e.Time.UTC().Year() < eventTimeYearMin || e.Time.UTC().Year() > eventTimeYearMax:
		return fmt.Errorf("event %s: time %s is outside the years %d to %d", e.ID, e.Time.UTC().Format(time.RFC3339), eventTimeYearMin, eventTimeYearMax)
	case len(e.Type) > maxTypeLen || !typeRE.MatchString(string(e.Type)):
		return fmt.Errorf("event %s: type %q: want lowercase words joined by dots, like %q, at most %d characters", e.ID, trunc(string(e.Type), 80), IncidentOpened, maxTypeLen)
	}
	if err := checkText("incident", e.Incident, maxIncidentLen); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if err := checkText("actor", e.Actor, maxActorLen); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if len(e.Fields) > maxFields {
		return fmt.Errorf("event %s: %d fields: at most %d are allowed", e.ID, len(e.Fields), maxFields)
	}
	for k, v := range e.Fields {
		if len(k) > maxFieldNameLen || !fieldNameRE.MatchString(k) {
			return fmt.Errorf("event %s: field name %q: want 1 to %d letters, digits, '_', '.', '-', starting with a letter or '_'", e.ID, trunc(k, 80), maxFieldNameLen)
		}
		if len(v) > maxFieldValueLen {
			return fmt.Errorf("event %s: field %s: value of %d bytes exceeds %d", e.ID, k, len(v), maxFieldValueLen)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("event %s: field %s: value is not valid UTF-8", e.ID, k)
		}
	}
	return nil
}

func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s of %d bytes exceeds %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s %q contains a control character", what, s)
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Sink delivers events to one receiver.
type Sink interface {
	// Name is the sink's configured name: the key of its queue, and what logs and
	// metrics call it.
	Name() string
	// Send delivers a batch, in order. nil means the receiver accepted every event. An
	// error is retryable unless marked Permanent or Rejected; a *BatchError says which
	// events to send again and which the receiver refused for good. Send must not
	// retry by itself: the Dispatcher does.
	Send(ctx context.Context, events []Event) error
}

// Closer is implemented by sinks that hold connections (syslog over TCP).
type Closer interface {
	Close() error
}
