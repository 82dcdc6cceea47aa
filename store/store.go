// Package store is warroom's durable state and the only package that writes SQL.
// The SQLite implementation (mattn/go-sqlite3, WAL) has one writer goroutine with group
// commit: whatever is queued when it wakes is committed in one transaction, and each
// submitter is answered only after that commit. Reads go through a separate pool.
// The interfaces here are narrow enough for a PostgreSQL implementation to follow.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by Submit once the store is closed.
var ErrClosed = errors.New("store is closed")

// ErrAuditBroken is returned by VerifyAudit when the audit chain does not verify.
var ErrAuditBroken = errors.New("audit chain broken")

// ErrBadCursor is returned when a listing's cursor was not made by this store.
var ErrBadCursor = errors.New("bad cursor: pass the next value of the previous page unchanged")

// Store is the whole durable state: the writer and the readers.
type Store interface {
	Writer
	Reader
	Close() error
}

// Writer serialises every change through one writer with group commit.
type Writer interface {
	// Submit queues op and blocks until the transaction holding it is committed (nil)
	// or has failed (the error). Ops run one after another on the single writer
	// goroutine, so an op may keep in-memory state without locks; they must not block.
	// When an op returns an error, the batch is rolled back and every other op in it is
	// run again in a transaction of its own, so one bad op fails alone. Ops must
	// therefore not mutate outside state before they know they succeed, or must be
	// idempotent (see Tx.OnRollback).
	Submit(ctx context.Context, op Op) error
}

// Op is one unit of work run inside a write transaction.
type Op func(tx Tx) error

// Tx is the write side inside one transaction. IDs are assigned by the Tx's
// counters so callers can answer with them before commit returns.
type Tx interface {
	// NextAlertID and NextIncidentID hand out the next ids (monotonic, never reused
	// once committed).
	NextAlertID() int64
	NextIncidentID() int64
	// InsertAlerts writes alerts whose ID is already set.
	InsertAlerts(alerts []*model.Alert) error
	// UpsertIncident writes the incident row (insert or full update).
	UpsertIncident(inc *model.Incident) error
	// AddIncidentEntities records entities seen in an incident (ignores ones already there).
	AddIncidentEntities(incidentID int64, ents []model.Entity) error
	// MoveAlerts re-points every alert and entity of incident from at incident to (merge).
	MoveAlerts(from, to int64) error
	// AppendTimeline adds a timeline event; its ID is assigned.
	AppendTimeline(ev *model.TimelineEvent) error
	// AppendAudit adds an audit entry, computing Seq, PrevHash and Hash.
	AppendAudit(e *model.AuditEntry) error
	// OnRollback registers f to run if this transaction does not commit, so an op can
	// undo in-memory changes it made.
	OnRollback(f func())
	ActionTx
	ChatTx  // the chat layer's write side (chat.go)
	DrillTx // gap drill runs (drills.go)
}

// ActionTx is the write side of containment actions (see actions.go).
type ActionTx interface {
	// Action reads one action inside the transaction (seeing this transaction's own
	// writes), or returns an error wrapping ErrNotFound.
	Action(id int64) (*model.Action, error)
	// IncidentActions reads an incident's actions inside the transaction, oldest first.
	IncidentActions(incidentID int64) ([]*model.Action, error)
	// PutAction inserts the action when its ID is 0 (assigning the next id) and
	// updates it otherwise.
	PutAction(a *model.Action) error
	// SetIncidentPlaybook records the playbook an incident matched ("" for none).
	SetIncidentPlaybook(incidentID int64, playbook string) error
}

// Reader is the read side; it never blocks the writer.
type Reader interface {
	Alert(ctx context.Context, id int64) (*model.Alert, error)
	// Alerts lists alerts newest first; Page.Cursor continues a listing.
	Alerts(ctx context.Context, f AlertFilter) ([]*model.Alert, string, error)
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	// Incidents lists incidents newest first.
	Incidents(ctx context.Context, f IncidentFilter) ([]*model.Incident, string, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
	// LiveIncidents returns every incident whose status is live (open, acknowledged,
	// contained), with entities, for rebuilding in-memory state at start.
	LiveIncidents(ctx context.Context) ([]*model.Incident, error)
	// ScanAlerts calls fn for each alert with event_time >= since, in id order (for
	// rebuilding correlation state). A non-nil error from fn stops the scan.
	ScanAlerts(ctx context.Context, since time.Time, fn func(*model.Alert) error) error
	// CountIncidentsByStatus returns the number of incidents in each status.
	CountIncidentsByStatus(ctx context.Context) (map[model.Status]int, error)
	// VerifyAudit walks the audit chain and returns how many entries it checked, or an
	// error naming the first entry that breaks it.
	VerifyAudit(ctx context.Context) (int64, error)
	// Audit lists audit entries with Seq > after, at most limit.
	Audit(ctx context.Context, after int64, limit int) ([]model.AuditEntry, error)
	ActionReader
	ChatReader  // the chat layer's read side (chat.go)
	DrillReader // gap drill runs (drills.go)
}

// ActionReader reads containment actions (see actions.go).
type ActionReader interface {
	// Action returns one action, or an error wrapping ErrNotFound.
	Action(ctx context.Context, id int64) (*model.Action, error)
	// Actions lists an incident's actions, oldest first.
	Actions(ctx context.Context, incidentID int64) ([]*model.Action, error)
	// ActionsDue lists the succeeded actions whose expiry is at or before before,
	// soonest first: the ones the TTL scheduler must roll back.
	ActionsDue(ctx context.Context, before time.Time) ([]*model.Action, error)
	// NextActionExpiry returns the earliest expiry of a succeeded action, if any.
	NextActionExpiry(ctx context.Context) (time.Time, bool, error)
	// ActionsInState lists the actions in state, oldest first.
	ActionsInState(ctx context.Context, state model.ActionState) ([]*model.Action, error)
}

// AlertFilter selects alerts. Zero fields do not filter.
type AlertFilter struct {
	IncidentID int64
	Limit      int    // default 100, at most 1000
	Cursor     string // from a previous page
	// NoRaw leaves out each alert's raw payload (Alert.Raw nil): for readers that
	// only look at the normalized fields, such as playbook matching.
	NoRaw bool
}

// IncidentFilter selects incidents. Zero fields do not filter.
type IncidentFilter struct {
	Status   model.Status
	Severity model.Severity // exact severity
	Kind     model.Kind
	Limit    int    // default 50, at most 500
	Cursor   string // from a previous page
}

// BatchObserver, when set in Options, is told the size of each committed batch (ops
// and rows), for metrics.
type BatchObserver func(ops int, dur time.Duration)
