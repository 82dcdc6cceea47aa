package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// The chat layer's state: one room per incident and platform, the outbox of platform
// operations delivered in order per room, the tokens behind buttons, the incident
// commander, and the built-in web chat's rooms and messages. Writes go through the
// writer (ChatTx inside an op); reads through the read pool (ChatReader).

// ChatRoom is one incident's room on one chat platform.
type ChatRoom struct {
	Platform   string
	IncidentID int64
	// Name is the room's name: the one intended until the room exists, then the one
	// the platform gave it.
	Name string
	// RoomID is the platform's id of the room; empty until the platform created it.
	RoomID string
	// Closed: the incident is final and the room shows it; no more updates are due.
	Closed bool
	// State is the chat layer's bookkeeping for the room, as JSON.
	State     []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ChatMessage is the platform's id of a message posted in a room, by the message's key.
type ChatMessage struct {
	Platform   string
	IncidentID int64
	Key        string
	MessageID  string
	PostedAt   time.Time
}

// ChatOp is one platform operation in the outbox. Ops of one room (platform and
// incident) are delivered in ID order.
type ChatOp struct {
	ID         int64
	Platform   string
	IncidentID int64
	Kind       string
	// Key names what the op is about, e.g. a message key.
	Key     string
	Payload []byte
	// Rev grows each time a queued op's payload is replaced (see Coalesce).
	Rev      int64
	Attempts int
	// NextAt is the earliest time of the next delivery attempt.
	NextAt    time.Time
	LastError string
	// Dead: the platform refused the op for good; it is kept for inspection and no
	// longer holds up its room.
	Dead      bool
	CreatedAt time.Time
	// Coalesce, when enqueuing: if an op of the same room, kind and key is still
	// queued, replace its payload (and bump its Rev) instead of adding another.
	Coalesce bool
}

// ChatButton maps the opaque token a button carries to what the button does.
type ChatButton struct {
	Token      string
	IncidentID int64
	Verb       string
	// Subject tells apart buttons of one verb on one incident, e.g. an action id.
	Subject   string
	Data      []byte // JSON, owned by the chat layer
	CreatedAt time.Time
}

// RuleCount is how many alerts of one rule an incident holds.
type RuleCount struct {
	Rule        string
	Count       int
	First, Last time.Time // event times
	MaxSeverity model.Severity
	MaxID       int64
}

// ChatAlertStats summarizes an incident's alerts (or those after an alert id).
type ChatAlertStats struct {
	Total       int
	First, Last time.Time
	MaxID       int64
	// Rules, most alerts first (at most 50).
	Rules []RuleCount
	// Links back to the sources, in the order first seen (at most 5).
	Links []string
}

// LocalRoom is a room of the built-in web chat.
type LocalRoom struct {
	ID         int64
	Name       string
	Topic      string
	IncidentID int64
	CreatedAt  time.Time
	ArchivedAt *time.Time
}

// LocalMessage is a message of the built-in web chat.
type LocalMessage struct {
	ID     int64
	RoomID int64
	// Key is the idempotency key of the post that created the message.
	Key       string
	Body      []byte // the message as JSON
	Rev       int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ChatTx is the chat layer's write side inside a transaction. Reads here see the
// transaction's own writes.
type ChatTx interface {
	// ChatRoom returns an incident's room on a platform, or an error wrapping ErrNotFound.
	ChatRoom(platform string, incidentID int64) (*ChatRoom, error)
	// ChatRoomNameTaken reports whether a room of the platform already has this name.
	ChatRoomNameTaken(platform, name string) (bool, error)
	// PutChatRoom inserts or replaces the room of (Platform, IncidentID).
	PutChatRoom(r *ChatRoom) error
	// PutChatMessage records (or replaces) the platform id of a room's message.
	PutChatMessage(m *ChatMessage) error
	// EnqueueChatOp queues op, setting its ID, Rev and CreatedAt (see ChatOp.Coalesce).
	EnqueueChatOp(op *ChatOp) error
	// StartChatOp counts an attempt of op id before the platform is called, so that a
	// crash during the call leaves a trace.
	StartChatOp(id int64) error
	// FinishChatOp removes a delivered op, if its payload is still at rev; it reports
	// false (and keeps the op) when a newer payload replaced it meanwhile.
	FinishChatOp(id, rev int64) (bool, error)
	// DeferChatOp records a failed attempt: the attempt count, when to try again, the
	// error, and whether the op is dead.
	DeferChatOp(id int64, attempts int, nextAt time.Time, lastErr string, dead bool) error
	// ChatButton finds the button of (incident, verb, subject), or ErrNotFound.
	ChatButton(incidentID int64, verb, subject string) (*ChatButton, error)
	// PutChatButton records a new button token.
	PutChatButton(b *ChatButton) error
	// SetIncidentCommander records who commands an incident.
	SetIncidentCommander(incidentID int64, commander, by string, at time.Time) error
	// PutLocalRoom creates a web chat room, or fills r from the room of that name.
	PutLocalRoom(r *LocalRoom) error
	// PutLocalMessage adds a web chat message, or fills m from the message already
	// posted with m.Key; it reports whether it added one.
	PutLocalMessage(m *LocalMessage) (bool, error)
	// UpdateLocalMessage replaces a web chat message's body and returns it.
	UpdateLocalMessage(id int64, body []byte, at time.Time) (*LocalMessage, error)
	// ArchiveLocalRoom marks a web chat room archived.
	ArchiveLocalRoom(id int64, at time.Time) error
}

// ChatReader is the chat layer's read side.
type ChatReader interface {
	ChatRoom(ctx context.Context, platform string, incidentID int64) (*ChatRoom, error)
	// ChatRoomByID finds a room by the platform's id, or ErrNotFound.
	ChatRoomByID(ctx context.Context, platform, roomID string) (*ChatRoom, error)
	// ChatRooms lists a platform's rooms ("" for every platform), optionally only those
	// not closed, by incident id.
	ChatRooms(ctx context.Context, platform string, openOnly bool) ([]*ChatRoom, error)
	ChatMessage(ctx context.Context, platform string, incidentID int64, key string) (*ChatMessage, error)
	// ChatOutboxHeads returns, for each room of the platform with queued ops, the
	// first op that is not dead, soonest due first: at most limit (0: all).
	ChatOutboxHeads(ctx context.Context, platform string, limit int) ([]*ChatOp, error)
	// ChatOutbox lists queued ops (dead ones included), in order; platform "" for all.
	ChatOutbox(ctx context.Context, platform string) ([]*ChatOp, error)
	// ChatButtonByToken looks a button up by its token, or ErrNotFound.
	ChatButtonByToken(ctx context.Context, token string) (*ChatButton, error)
	// IncidentCommander returns the incident's commander, "" when none.
	IncidentCommander(ctx context.Context, incidentID int64) (string, error)
	// ChatAlertStats summarizes the incident's alerts with id > afterAlertID.
	ChatAlertStats(ctx context.Context, incidentID, afterAlertID int64) (*ChatAlertStats, error)
	// ChatAlertStatsSince answers what ChatAlertStats(ctx, incidentID, 0) would, from
	// prev (an earlier answer for the same incident, or nil) and the alerts newer than
	// prev.MaxID, so that its cost follows the new alerts rather than the incident's
	// size. It counts everything again when prev listed the full 50 rules or when the
	// incident holds alerts prev missed that are not newer (moved in by a merge).
	ChatAlertStatsSince(ctx context.Context, incidentID int64, prev *ChatAlertStats) (*ChatAlertStats, error)
	LocalRooms(ctx context.Context) ([]*LocalRoom, error)
	// LocalRoom finds a web chat room by name, or ErrNotFound.
	LocalRoom(ctx context.Context, name string) (*LocalRoom, error)
	LocalMessages(ctx context.Context, roomID int64) ([]*LocalMessage, error)
	LocalMessage(ctx context.Context, id int64) (*LocalMessage, error)
}

var (
	_ ChatTx     = (*writeTx)(nil)
	_ ChatReader = (*SQLite)(nil)
)

// --- write side ---------------------------------------------------------------

func (t *writeTx) chatExec(q string, args ...any) (int64, error) {
	if t.err != nil {
		return 0, t.err
	}
	t.w.written++
	res, err := t.w.conn.ExecContext(context.Background(), q, named(args))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// chatQuery runs q on the write connection and returns every row.
func (t *writeTx) chatQuery(q string, args ...any) ([][]driver.Value, error) {
	if t.err != nil {
		return nil, t.err
	}
	rows, err := t.w.conn.QueryContext(context.Background(), q, named(args))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := len(rows.Columns())
	var out [][]driver.Value
	for {
		vals := make([]driver.Value, n)
		if err := rows.Next(vals); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		out = append(out, vals)
	}
}

func named(args []any) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

func vInt(v driver.Value) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func vStr(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func vBytes(v driver.Value) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []byte:
		return append([]byte(nil), x...)
	}
	return nil
}

func vTime(v driver.Value) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.Unix(0, vInt(v)).UTC()
}

func textOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

const chatRoomCols = "platform, incident_id, name, room_id, closed, state, created_at, updated_at"

func chatRoomFrom(v []driver.Value) *ChatRoom {
	return &ChatRoom{Platform: vStr(v[0]), IncidentID: vInt(v[1]), Name: vStr(v[2]), RoomID: vStr(v[3]),
		Closed: vInt(v[4]) != 0, State: vBytes(v[5]), CreatedAt: vTime(v[6]), UpdatedAt: vTime(v[7])}
}

func (t *writeTx) ChatRoom(platform string, incidentID int64) (*ChatRoom, error) {
	rows, err := t.chatQuery("SELECT "+chatRoomCols+" FROM chat_rooms WHERE platform = ? AND incident_id = ?", platform, incidentID)
	if err != nil {
		return nil, t.poison(fmt.Errorf("read the %s room of incident %d: %w", platform, incidentID, err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s room of incident %d: %w", platform, incidentID, ErrNotFound)
	}
	return chatRoomFrom(rows[0]), nil
}

func (t *writeTx) ChatRoomNameTaken(platform, name string) (bool, error) {
	rows, err := t.chatQuery("SELECT 1 FROM chat_rooms WHERE platform = ? AND name = ?", platform, name)
	if err != nil {
		return false, t.poison(fmt.Errorf("look up %s room name %q: %w", platform, name, err))
	}
	return len(rows) > 0, nil
}

func (t *writeTx) PutChatRoom(r *ChatRoom) error {
	if r == nil || r.Platform == "" || r.IncidentID <= 0 || r.Name == "" {
		return errors.New("store: put chat room: platform, incident id and name are required")
	}
	now := t.stamp(time.Time{})
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.UpdatedAt = now
	_, err := t.chatExec("INSERT INTO chat_rooms ("+chatRoomCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"+
		" ON CONFLICT (platform, incident_id) DO UPDATE SET name = excluded.name, room_id = excluded.room_id,"+
		" closed = excluded.closed, state = excluded.state, updated_at = excluded.updated_at",
		r.Platform, r.IncidentID, r.Name, r.RoomID, boolInt(r.Closed), textOrNil(r.State),
		r.CreatedAt.UnixNano(), r.UpdatedAt.UnixNano())
	if err != nil {
		return t.poison(fmt.Errorf("write the %s room of incident %d: %w", r.Platform, r.IncidentID, err))
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (t *writeTx) PutChatMessage(m *ChatMessage) error {
	if m == nil || m.Platform == "" || m.IncidentID <= 0 || m.Key == "" || m.MessageID == "" {
		return errors.New("store: put chat message: platform, incident id, key and message id are required")
	}
	if m.PostedAt.IsZero() {
		m.PostedAt = t.stamp(time.Time{})
	}
	_, err := t.chatExec("INSERT INTO chat_messages (platform, incident_id, key, message_id, posted_at) VALUES (?, ?, ?, ?, ?)"+
		" ON CONFLICT (platform, incident_id, key) DO UPDATE SET message_id = excluded.message_id",
		m.Platform, m.IncidentID, m.Key, m.MessageID, m.PostedAt.UnixNano())
	if err != nil {
		return t.poison(fmt.Errorf("record %s message %q of incident %d: %w", m.Platform, m.Key, m.IncidentID, err))
	}
	return nil
}

const chatOpCols = "id, platform, incident_id, kind, key, payload, rev, attempts, next_at, last_error, dead, created_at"

func chatOpFrom(v []driver.Value) *ChatOp {
	return &ChatOp{ID: vInt(v[0]), Platform: vStr(v[1]), IncidentID: vInt(v[2]), Kind: vStr(v[3]), Key: vStr(v[4]),
		Payload: vBytes(v[5]), Rev: vInt(v[6]), Attempts: int(vInt(v[7])), NextAt: vTime(v[8]), LastError: vStr(v[9]),
		Dead: vInt(v[10]) != 0, CreatedAt: vTime(v[11])}
}

func (t *writeTx) EnqueueChatOp(op *ChatOp) error {
	if op == nil || op.Platform == "" || op.IncidentID <= 0 || op.Kind == "" {
		return errors.New("store: enqueue chat op: platform, incident id and kind are required")
	}
	if len(op.Payload) == 0 {
		return fmt.Errorf("store: enqueue chat op %s: empty payload", op.Kind)
	}
	now := t.stamp(time.Time{})
	if op.Coalesce {
		rows, err := t.chatQuery("SELECT id, rev, created_at FROM chat_outbox WHERE platform = ? AND incident_id = ? AND kind = ? AND key = ? AND dead = 0 ORDER BY id DESC LIMIT 1",
			op.Platform, op.IncidentID, op.Kind, op.Key)
		if err != nil {
			return t.poison(fmt.Errorf("look up queued %s ops: %w", op.Platform, err))
		}
		if len(rows) == 1 {
			id, rev := vInt(rows[0][0]), vInt(rows[0][1])+1
			if _, err := t.chatExec("UPDATE chat_outbox SET payload = ?, rev = ? WHERE id = ?", string(op.Payload), rev, id); err != nil {
				return t.poison(fmt.Errorf("replace queued %s op %d: %w", op.Platform, id, err))
			}
			op.ID, op.Rev, op.CreatedAt = id, rev, vTime(rows[0][2])
			return nil
		}
	}
	next := op.NextAt
	if next.IsZero() {
		next = now
	}
	if _, err := t.chatExec("INSERT INTO chat_outbox (platform, incident_id, kind, key, payload, rev, attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?)",
		op.Platform, op.IncidentID, op.Kind, op.Key, string(op.Payload), next.UnixNano(), now.UnixNano()); err != nil {
		return t.poison(fmt.Errorf("queue a %s %s op: %w", op.Platform, op.Kind, err))
	}
	rows, err := t.chatQuery("SELECT last_insert_rowid()")
	if err != nil || len(rows) != 1 {
		return t.poison(fmt.Errorf("queue a %s %s op: read its id: %v", op.Platform, op.Kind, err))
	}
	op.ID, op.Rev, op.NextAt, op.CreatedAt = vInt(rows[0][0]), 1, next, now
	return nil
}

func (t *writeTx) StartChatOp(id int64) error {
	if _, err := t.chatExec("UPDATE chat_outbox SET attempts = attempts + 1 WHERE id = ?", id); err != nil {
		return t.poison(fmt.Errorf("count an attempt of chat op %d: %w", id, err))
	}
	return nil
}

func (t *writeTx) FinishChatOp(id, rev int64) (bool, error) {
	n, err := t.chatExec("DELETE FROM chat_outbox WHERE id = ? AND rev = ?", id, rev)
	if err != nil {
		return false, t.poison(fmt.Errorf("remove delivered chat op %d: %w", id, err))
	}
	return n == 1, nil
}

func (t *writeTx) DeferChatOp(id int64, attempts int, nextAt time.Time, lastErr string, dead bool) error {
	if err := checkTime("next_at", nextAt); err != nil {
		return fmt.Errorf("store: defer chat op %d: %w", id, err)
	}
	if len(lastErr) > 2000 {
		lastErr = lastErr[:2000]
	}
	if _, err := t.chatExec("UPDATE chat_outbox SET attempts = ?, next_at = ?, last_error = ?, dead = ? WHERE id = ?",
		int64(attempts), nextAt.UnixNano(), lastErr, boolInt(dead), id); err != nil {
		return t.poison(fmt.Errorf("reschedule chat op %d: %w", id, err))
	}
	return nil
}

const chatButtonCols = "token, incident_id, verb, subject, data, created_at"

func chatButtonFrom(v []driver.Value) *ChatButton {
	return &ChatButton{Token: vStr(v[0]), IncidentID: vInt(v[1]), Verb: vStr(v[2]), Subject: vStr(v[3]),
		Data: vBytes(v[4]), CreatedAt: vTime(v[5])}
}

func (t *writeTx) ChatButton(incidentID int64, verb, subject string) (*ChatButton, error) {
	rows, err := t.chatQuery("SELECT "+chatButtonCols+" FROM chat_buttons WHERE incident_id = ? AND verb = ? AND subject = ?", incidentID, verb, subject)
	if err != nil {
		return nil, t.poison(fmt.Errorf("look up a button of incident %d: %w", incidentID, err))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("button %s %s of incident %d: %w", verb, subject, incidentID, ErrNotFound)
	}
	return chatButtonFrom(rows[0]), nil
}

func (t *writeTx) PutChatButton(b *ChatButton) error {
	if b == nil || b.Token == "" || b.IncidentID <= 0 || b.Verb == "" {
		return errors.New("store: put chat button: token, incident id and verb are required")
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = t.stamp(time.Time{})
	}
	if _, err := t.chatExec("INSERT INTO chat_buttons ("+chatButtonCols+") VALUES (?, ?, ?, ?, ?, ?)",
		b.Token, b.IncidentID, b.Verb, b.Subject, textOrNil(b.Data), b.CreatedAt.UnixNano()); err != nil {
		return t.poison(fmt.Errorf("record a button of incident %d: %w", b.IncidentID, err))
	}
	return nil
}

func (t *writeTx) SetIncidentCommander(incidentID int64, commander, by string, at time.Time) error {
	if incidentID <= 0 || commander == "" {
		return errors.New("store: set incident commander: incident id and commander are required")
	}
	at = t.stamp(at)
	if _, err := t.chatExec("INSERT INTO incident_commanders (incident_id, commander, set_by, set_at) VALUES (?, ?, ?, ?)"+
		" ON CONFLICT (incident_id) DO UPDATE SET commander = excluded.commander, set_by = excluded.set_by, set_at = excluded.set_at",
		incidentID, commander, by, at.UnixNano()); err != nil {
		return t.poison(fmt.Errorf("record the commander of incident %d: %w", incidentID, err))
	}
	return nil
}

const localRoomCols = "id, name, topic, incident_id, created_at, archived_at"

func localRoomFrom(v []driver.Value) *LocalRoom {
	r := &LocalRoom{ID: vInt(v[0]), Name: vStr(v[1]), Topic: vStr(v[2]), IncidentID: vInt(v[3]), CreatedAt: vTime(v[4])}
	if v[5] != nil {
		at := vTime(v[5])
		r.ArchivedAt = &at
	}
	return r
}

func (t *writeTx) PutLocalRoom(r *LocalRoom) error {
	if r == nil || r.Name == "" {
		return errors.New("store: put local room: the name is required")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = t.stamp(time.Time{})
	}
	if _, err := t.chatExec("INSERT OR IGNORE INTO local_rooms (name, topic, incident_id, created_at) VALUES (?, ?, ?, ?)",
		r.Name, r.Topic, r.IncidentID, r.CreatedAt.UnixNano()); err != nil {
		return t.poison(fmt.Errorf("create web chat room %q: %w", r.Name, err))
	}
	rows, err := t.chatQuery("SELECT "+localRoomCols+" FROM local_rooms WHERE name = ?", r.Name)
	if err != nil || len(rows) != 1 {
		return t.poison(fmt.Errorf("read web chat room %q back: %v", r.Name, err))
	}
	*r = *localRoomFrom(rows[0])
	return nil
}

const localMessageCols = "id, room_id, key, body, rev, created_at, updated_at"

func localMessageFrom(v []driver.Value) *LocalMessage {
	return &LocalMessage{ID: vInt(v[0]), RoomID: vInt(v[1]), Key: vStr(v[2]), Body: vBytes(v[3]), Rev: vInt(v[4]),
		CreatedAt: vTime(v[5]), UpdatedAt: vTime(v[6])}
}

func (t *writeTx) PutLocalMessage(m *LocalMessage) (bool, error) {
	if m == nil || m.RoomID <= 0 || m.Key == "" || len(m.Body) == 0 {
		return false, errors.New("store: put local message: room id, key and body are required")
	}
	now := t.stamp(m.CreatedAt)
	n, err := t.chatExec("INSERT OR IGNORE INTO local_messages (room_id, key, body, rev, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)",
		m.RoomID, m.Key, string(m.Body), now.UnixNano(), now.UnixNano())
	if err != nil {
		return false, t.poison(fmt.Errorf("post a web chat message: %w", err))
	}
	rows, err := t.chatQuery("SELECT "+localMessageCols+" FROM local_messages WHERE key = ?", m.Key)
	if err != nil || len(rows) != 1 {
		return false, t.poison(fmt.Errorf("read web chat message %q back: %v", m.Key, err))
	}
	*m = *localMessageFrom(rows[0])
	return n == 1, nil
}

func (t *writeTx) UpdateLocalMessage(id int64, body []byte, at time.Time) (*LocalMessage, error) {
	if len(body) == 0 {
		return nil, errors.New("store: update local message: empty body")
	}
	at = t.stamp(at)
	n, err := t.chatExec("UPDATE local_messages SET body = ?, rev = rev + 1, updated_at = ? WHERE id = ?", string(body), at.UnixNano(), id)
	if err != nil {
		return nil, t.poison(fmt.Errorf("update web chat message %d: %w", id, err))
	}
	if n == 0 {
		return nil, fmt.Errorf("web chat message %d: %w", id, ErrNotFound)
	}
	rows, err := t.chatQuery("SELECT "+localMessageCols+" FROM local_messages WHERE id = ?", id)
	if err != nil || len(rows) != 1 {
		return nil, t.poison(fmt.Errorf("read web chat message %d back: %v", id, err))
	}
	return localMessageFrom(rows[0]), nil
}

func (t *writeTx) ArchiveLocalRoom(id int64, at time.Time) error {
	at = t.stamp(at)
	if _, err := t.chatExec("UPDATE local_rooms SET archived_at = ? WHERE id = ? AND archived_at IS NULL", at.UnixNano(), id); err != nil {
		return t.poison(fmt.Errorf("archive web chat room %d: %w", id, err))
	}
	return nil
}

// --- read side ----------------------------------------------------------------

// queryAll runs q on the read pool and hands each row's raw values to fn.
func (s *SQLite) queryAll(ctx context.Context, q string, args []any, fn func([]driver.Value)) error {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		raw := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		vals := make([]driver.Value, len(cols))
		for i, v := range raw {
			if b, ok := v.([]byte); ok {
				v = append([]byte(nil), b...)
			}
			vals[i] = v
		}
		fn(vals)
	}
	return rows.Err()
}

func (s *SQLite) ChatRoom(ctx context.Context, platform string, incidentID int64) (*ChatRoom, error) {
	var r *ChatRoom
	err := s.queryAll(ctx, "SELECT "+chatRoomCols+" FROM chat_rooms WHERE platform = ? AND incident_id = ?",
		[]any{platform, incidentID}, func(v []driver.Value) { r = chatRoomFrom(v) })
	if err != nil {
		return nil, fmt.Errorf("read the %s room of incident %d: %w", platform, incidentID, err)
	}
	if r == nil {
		return nil, fmt.Errorf("%s room of incident %d: %w", platform, incidentID, ErrNotFound)
	}
	return r, nil
}

func (s *SQLite) ChatRoomByID(ctx context.Context, platform, roomID string) (*ChatRoom, error) {
	var r *ChatRoom
	if roomID == "" {
		return nil, fmt.Errorf("%s room with an empty id: %w", platform, ErrNotFound)
	}
	err := s.queryAll(ctx, "SELECT "+chatRoomCols+" FROM chat_rooms WHERE platform = ? AND room_id = ?",
		[]any{platform, roomID}, func(v []driver.Value) { r = chatRoomFrom(v) })
	if err != nil {
		return nil, fmt.Errorf("read %s room %q: %w", platform, roomID, err)
	}
	if r == nil {
		return nil, fmt.Errorf("%s room %q: %w", platform, roomID, ErrNotFound)
	}
	return r, nil
}

func (s *SQLite) ChatRooms(ctx context.Context, platform string, openOnly bool) ([]*ChatRoom, error) {
	q := "SELECT " + chatRoomCols + " FROM chat_rooms WHERE (? = '' OR platform = ?)"
	if openOnly {
		q += " AND closed = 0"
	}
	q += " ORDER BY incident_id, platform"
	var out []*ChatRoom
	if err := s.queryAll(ctx, q, []any{platform, platform}, func(v []driver.Value) { out = append(out, chatRoomFrom(v)) }); err != nil {
		return nil, fmt.Errorf("list chat rooms: %w", err)
	}
	return out, nil
}

func (s *SQLite) ChatMessage(ctx context.Context, platform string, incidentID int64, key string) (*ChatMessage, error) {
	var m *ChatMessage
	err := s.queryAll(ctx, "SELECT platform, incident_id, key, message_id, posted_at FROM chat_messages WHERE platform = ? AND incident_id = ? AND key = ?",
		[]any{platform, incidentID, key}, func(v []driver.Value) {
			m = &ChatMessage{Platform: vStr(v[0]), IncidentID: vInt(v[1]), Key: vStr(v[2]), MessageID: vStr(v[3]), PostedAt: vTime(v[4])}
		})
	if err != nil {
		return nil, fmt.Errorf("read %s message %q of incident %d: %w", platform, key, incidentID, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s message %q of incident %d: %w", platform, key, incidentID, ErrNotFound)
	}
	return m, nil
}

// ChatOutboxHeads returns the first live op of each room of the platform, soonest due
// first: at most limit of them (all with limit 0).
func (s *SQLite) ChatOutboxHeads(ctx context.Context, platform string, limit int) ([]*ChatOp, error) {
	var out []*ChatOp
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	err := s.queryAll(ctx, "SELECT "+chatOpCols+" FROM chat_outbox WHERE id IN"+
		" (SELECT MIN(id) FROM chat_outbox WHERE platform = ? AND dead = 0 GROUP BY incident_id) ORDER BY next_at, id LIMIT ?",
		[]any{platform, limit}, func(v []driver.Value) { out = append(out, chatOpFrom(v)) })
	if err != nil {
		return nil, fmt.Errorf("read the %s outbox: %w", platform, err)
	}
	return out, nil
}

func (s *SQLite) ChatOutbox(ctx context.Context, platform string) ([]*ChatOp, error) {
	var out []*ChatOp
	err := s.queryAll(ctx, "SELECT "+chatOpCols+" FROM chat_outbox WHERE (? = '' OR platform = ?) ORDER BY id",
		[]any{platform, platform}, func(v []driver.Value) { out = append(out, chatOpFrom(v)) })
	if err != nil {
		return nil, fmt.Errorf("read the chat outbox: %w", err)
	}
	return out, nil
}

func (s *SQLite) ChatButtonByToken(ctx context.Context, token string) (*ChatButton, error) {
	var b *ChatButton
	err := s.queryAll(ctx, "SELECT "+chatButtonCols+" FROM chat_buttons WHERE token = ?", []any{token},
		func(v []driver.Value) { b = chatButtonFrom(v) })
	if err != nil {
		return nil, fmt.Errorf("look up a button: %w", err)
	}
	if b == nil {
		return nil, fmt.Errorf("button: %w", ErrNotFound)
	}
	return b, nil
}

// ChatOpCounts is what a platform's outbox holds: ops waiting to be delivered (or
// retried), and ops the platform refused for good, kept for inspection.
type ChatOpCounts struct {
	Pending, Dead int
}

// CountChatOps counts the outbox's ops by platform.
func (s *SQLite) CountChatOps(ctx context.Context) (map[string]ChatOpCounts, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT platform, dead, COUNT(*) FROM chat_outbox GROUP BY platform, dead")
	if err != nil {
		return nil, fmt.Errorf("count the chat outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]ChatOpCounts{}
	for rows.Next() {
		var (
			platform string
			dead     bool
			n        int
		)
		if err := rows.Scan(&platform, &dead, &n); err != nil {
			return nil, fmt.Errorf("count the chat outbox: %w", err)
		}
		c := out[platform]
		if dead {
			c.Dead += n
		} else {
			c.Pending += n
		}
		out[platform] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count the chat outbox: %w", err)
	}
	return out, nil
}

func (s *SQLite) IncidentCommander(ctx context.Context, incidentID int64) (string, error) {
	var c string
	err := s.rdb.QueryRowContext(ctx, "SELECT commander FROM incident_commanders WHERE incident_id = ?", incidentID).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the commander of incident %d: %w", incidentID, err)
	}
	return c, nil
}

func (s *SQLite) ChatAlertStats(ctx context.Context, incidentID, afterAlertID int64) (*ChatAlertStats, error) {
	var st *ChatAlertStats
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		st, err = chatAlertStats(ctx, tx, incidentID, afterAlertID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("summarize the alerts of incident %d: %w", incidentID, err)
	}
	return st, nil
}

func (s *SQLite) ChatAlertStatsSince(ctx context.Context, incidentID int64, prev *ChatAlertStats) (*ChatAlertStats, error) {
	var st *ChatAlertStats
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if prev == nil || len(prev.Rules) >= MaxStatsRules {
			st, err = chatAlertStats(ctx, tx, incidentID, 0)
			return err
		}
		var count int
		if err := tx.QueryRowContext(ctx, "SELECT alert_count FROM incidents WHERE id = ?", incidentID).Scan(&count); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		add, err := chatAlertStats(ctx, tx, incidentID, prev.MaxID)
		if err != nil {
			return err
		}
		if st = mergeAlertStats(prev, add); st != nil && st.Total == count {
			return nil
		}
		// Alerts prev did not see and that are not newer than it: moved in by a
		// merge. Count everything again.
		st, err = chatAlertStats(ctx, tx, incidentID, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("summarize the alerts of incident %d: %w", incidentID, err)
	}
	return st, nil
}

// MaxStatsRules is how many rules ChatAlertStats lists; a summary listing that many
// may have left some out.
const MaxStatsRules = 50

// mergeAlertStats combines the statistics of an incident's alerts up to prev.MaxID
// with those of the alerts after it, or returns nil when add's rule list was cut (the
// merged list could then be wrong). Neither argument is modified.
func mergeAlertStats(prev, add *ChatAlertStats) *ChatAlertStats {
	if len(add.Rules) >= MaxStatsRules {
		return nil
	}
	out := &ChatAlertStats{Total: prev.Total + add.Total, MaxID: max(prev.MaxID, add.MaxID)}
	out.First, out.Last = widenSpan(prev.First, prev.Last, add.First, add.Last)
	out.Rules = append(make([]RuleCount, 0, len(prev.Rules)+len(add.Rules)), prev.Rules...)
	for _, r := range add.Rules {
		i := slices.IndexFunc(out.Rules, func(o RuleCount) bool { return o.Rule == r.Rule })
		if i < 0 {
			out.Rules = append(out.Rules, r)
			continue
		}
		o := &out.Rules[i]
		o.Count += r.Count
		o.First, o.Last = widenSpan(o.First, o.Last, r.First, r.Last)
		o.MaxSeverity = max(o.MaxSeverity, r.MaxSeverity)
		o.MaxID = max(o.MaxID, r.MaxID)
	}
	slices.SortStableFunc(out.Rules, func(a, b RuleCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	if len(out.Rules) > MaxStatsRules {
		out.Rules = out.Rules[:MaxStatsRules]
	}
	out.Links = append([]string(nil), prev.Links...)
	for _, u := range add.Links {
		if len(out.Links) < 5 && !slices.Contains(out.Links, u) {
			out.Links = append(out.Links, u)
		}
	}
	return out
}

// widenSpan returns the span from first to last widened to take in f..l; a zero
// first time stands for none.
func widenSpan(first, last, f, l time.Time) (time.Time, time.Time) {
	if first.IsZero() || (!f.IsZero() && f.Before(first)) {
		first = f
	}
	if l.After(last) {
		last = l
	}
	return first, last
}

// chatAlertStats is ChatAlertStats inside a read transaction.
func chatAlertStats(ctx context.Context, tx *sql.Tx, incidentID, afterAlertID int64) (*ChatAlertStats, error) {
	st := &ChatAlertStats{}
	err := func() error {
		rows, err := tx.QueryContext(ctx, "SELECT rule, COUNT(*), MIN(event_time), MAX(event_time), MAX(severity), MAX(id) FROM alerts"+
			" WHERE id IN ("+incidentAlertIDs+") GROUP BY rule ORDER BY COUNT(*) DESC, rule", incidentID, afterAlertID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				rc          RuleCount
				first, last sql.NullInt64
				sev         int64
			)
			if err := rows.Scan(&rc.Rule, &rc.Count, &first, &last, &sev, &rc.MaxID); err != nil {
				return err
			}
			rc.First, rc.Last, rc.MaxSeverity = timeFrom(first), timeFrom(last), model.Severity(sev)
			st.Total += rc.Count
			st.First, st.Last = widenSpan(st.First, st.Last, rc.First, rc.Last)
			st.MaxID = max(st.MaxID, rc.MaxID)
			if len(st.Rules) < MaxStatsRules {
				st.Rules = append(st.Rules, rc)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		lrows, err := tx.QueryContext(ctx, "SELECT url FROM alerts WHERE id IN ("+incidentAlertIDs+") AND url <> '' GROUP BY url ORDER BY MIN(id) LIMIT 5",
			incidentID, afterAlertID)
		if err != nil {
			return err
		}
		defer lrows.Close()
		for lrows.Next() {
			var u string
			if err := lrows.Scan(&u); err != nil {
				return err
			}
			st.Links = append(st.Links, u)
		}
		return lrows.Err()
	}()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *SQLite) LocalRooms(ctx context.Context) ([]*LocalRoom, error) {
	var out []*LocalRoom
	if err := s.queryAll(ctx, "SELECT "+localRoomCols+" FROM local_rooms ORDER BY id", nil,
		func(v []driver.Value) { out = append(out, localRoomFrom(v)) }); err != nil {
		return nil, fmt.Errorf("list web chat rooms: %w", err)
	}
	return out, nil
}

func (s *SQLite) LocalRoom(ctx context.Context, name string) (*LocalRoom, error) {
	var r *LocalRoom
	if err := s.queryAll(ctx, "SELECT "+localRoomCols+" FROM local_rooms WHERE name = ?", []any{name},
		func(v []driver.Value) { r = localRoomFrom(v) }); err != nil {
		return nil, fmt.Errorf("read web chat room %q: %w", name, err)
	}
	if r == nil {
		return nil, fmt.Errorf("web chat room %q: %w", name, ErrNotFound)
	}
	return r, nil
}

func (s *SQLite) LocalMessages(ctx context.Context, roomID int64) ([]*LocalMessage, error) {
	var out []*LocalMessage
	if err := s.queryAll(ctx, "SELECT "+localMessageCols+" FROM local_messages WHERE room_id = ? ORDER BY id", []any{roomID},
		func(v []driver.Value) { out = append(out, localMessageFrom(v)) }); err != nil {
		return nil, fmt.Errorf("read the messages of web chat room %d: %w", roomID, err)
	}
	return out, nil
}

func (s *SQLite) LocalMessage(ctx context.Context, id int64) (*LocalMessage, error) {
	var m *LocalMessage
	if err := s.queryAll(ctx, "SELECT "+localMessageCols+" FROM local_messages WHERE id = ?", []any{id},
		func(v []driver.Value) { m = localMessageFrom(v) }); err != nil {
		return nil, fmt.Errorf("read web chat message %d: %w", id, err)
	}
	if m == nil {
		return nil, fmt.Errorf("web chat message %d: %w", id, ErrNotFound)
	}
	return m, nil
}
