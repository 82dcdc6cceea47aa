package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Narrative is the current narrative of an incident (migration 0006).
type Narrative struct {
	IncidentID int64
	// Source is "ai" or "template"; Model names the model for "ai".
	Source string
	Model  string
	Text   string
	// Result is the validated structured answer (JSON), empty for the template.
	Result string
	// Fingerprint identifies the incident facts the narrative was written from.
	Fingerprint      string
	Latency          time.Duration
	PromptTokens     int
	CompletionTokens int
	// Dropped counts items of the answer validation removed.
	Dropped   int
	Note      string
	CreatedAt time.Time
}

// NarrativeStore keeps incidents' narratives.
type NarrativeStore interface {
	PutNarrative(ctx context.Context, n *Narrative) error
	Narrative(ctx context.Context, incidentID int64) (*Narrative, error)
}

var _ NarrativeStore = (*SQLite)(nil)

// PutNarrative records n as the incident's current narrative, replacing the one
// before. A zero CreatedAt is stamped with the store's clock.
func (s *SQLite) PutNarrative(ctx context.Context, n *Narrative) error {
	if n == nil || n.IncidentID <= 0 || n.Source == "" {
		return errors.New("store: put narrative: incident id and source are required")
	}
	if err := checkTime("narrative created_at", n.CreatedAt); err != nil {
		return fmt.Errorf("store: put narrative: %w", err)
	}
	return s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: put narrative: unexpected transaction type %T", tx)
		}
		at := n.CreatedAt
		if at.IsZero() {
			at = t.w.opts.Clock.Now()
		}
		_, err := t.chatExec(`INSERT INTO narratives (incident_id, source, model, text, result, fingerprint, latency_ns,
			prompt_tokens, completion_tokens, dropped, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident_id) DO UPDATE SET source = excluded.source, model = excluded.model, text = excluded.text,
			result = excluded.result, fingerprint = excluded.fingerprint, latency_ns = excluded.latency_ns,
			prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
			dropped = excluded.dropped, note = excluded.note, created_at = excluded.created_at`,
			n.IncidentID, n.Source, n.Model, n.Text, n.Result, n.Fingerprint, int64(n.Latency), int64(n.PromptTokens),
			int64(n.CompletionTokens), int64(n.Dropped), n.Note, at.UnixNano())
		if err != nil {
			return t.poison(fmt.Errorf("put the narrative of incident %d: %w", n.IncidentID, err))
		}
		return nil
	})
}

// Narrative returns the incident's current narrative, or an error wrapping
// ErrNotFound when none was recorded.
func (s *SQLite) Narrative(ctx context.Context, incidentID int64) (*Narrative, error) {
	var n *Narrative
	err := s.queryAll(ctx, `SELECT incident_id, source, model, text, result, fingerprint, latency_ns, prompt_tokens,
		completion_tokens, dropped, note, created_at FROM narratives WHERE incident_id = ?`, []any{incidentID},
		func(v []driver.Value) {
			n = &Narrative{IncidentID: vInt(v[0]), Source: vStr(v[1]), Model: vStr(v[2]), Text: vStr(v[3]), Result: vStr(v[4]),
				Fingerprint: vStr(v[5]), Latency: time.Duration(vInt(v[6])), PromptTokens: int(vInt(v[7])),
				CompletionTokens: int(vInt(v[8])), Dropped: int(vInt(v[9])), Note: vStr(v[10]), CreatedAt: vTime(v[11])}
		})
	if err != nil {
		return nil, fmt.Errorf("read the narrative of incident %d: %w", incidentID, err)
	}
	if n == nil {
		return nil, fmt.Errorf("narrative of incident %d: %w", incidentID, ErrNotFound)
	}
	return n, nil
}
