package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// ClosePolicy says what a platform does with an incident's room once the incident is
// over (resolved, a false positive, merged): post a closing summary (time to
// acknowledge, contain and resolve, and the actions taken), and archive the room
// some time after it is closed for good (no action left that may still change).
type ClosePolicy struct {
	Summary bool
	// ArchiveAfter > 0 archives the room that long after the incident closed.
	ArchiveAfter time.Duration
}

// KeyClosing is the message key of the closing summary.
const KeyClosing = "closing"

// closedAt is when the incident reached its final status.
func closedAt(inc *model.Incident) time.Time {
	switch {
	case inc.ResolvedAt != nil:
		return *inc.ResolvedAt
	case inc.ClosedAt != nil:
		return *inc.ClosedAt
	}
	return inc.UpdatedAt
}

// RenderClosing builds the closing summary of an incident that is over: how long it
// took to acknowledge, contain and resolve it (from its opening), and what was done.
func RenderClosing(inc *model.Incident, acts []*model.Action) *Message {
	end := closedAt(inc)
	var b strings.Builder
	switch inc.Status {
	case model.StatusResolved:
		fmt.Fprintf(&b, "%s is resolved.", inc.Number)
	case model.StatusFalsePositive:
		fmt.Fprintf(&b, "%s is closed as a false positive.", inc.Number)
	case model.StatusMerged:
		fmt.Fprintf(&b, "%s is merged into %s; the response continues there.", inc.Number, model.IncidentNumber(inc.MergedInto))
	default:
		fmt.Fprintf(&b, "%s is %s.", inc.Number, inc.Status)
	}
	span := func(at *time.Time) string {
		if at == nil || at.Before(inc.OpenedAt) {
			return "—"
		}
		return fmtSpan(at.Sub(inc.OpenedAt))
	}
	fields := []Field{
		{"Time to acknowledge", span(inc.AcknowledgedAt)},
		{"Time to contain", span(inc.ContainedAt)},
		{"Time to resolve", span(&end)},
	}
	var done []string
	for _, a := range acts {
		switch a.State {
		case model.ActionSucceeded, model.ActionReverted, model.ActionExpired, model.ActionFailed:
			done = append(done, actionLine(a, ""))
		}
	}
	s := []Section{{Title: "Response times", Fields: fields}}
	if len(done) > 0 {
		s = append(s, Section{Title: "Actions taken", Items: done})
	} else {
		s = append(s, Section{Title: "Actions taken", Text: "None."})
	}
	text := b.String()
	return &Message{Key: KeyClosing, Kind: KindAnnouncement, Header: Truncate(inc.Number+" closed · "+CleanText(inc.Title), 150),
		Text: text, Fallback: text + " Time to resolve " + span(&end) + ".", Sections: s}
}

// closeRoom queues the closing summary once the incident is over, and the archiving
// once the room is closed for good, as the platform's ClosePolicy asks. It runs in
// the sync's transaction.
func (b *Bot) closeRoom(tx store.Tx, platform string, inc *model.Incident, acts []*model.Action, closed bool, st *roomState,
	enqueue func(kind, key string, payload any, coalesce bool) error) error {
	pol, ok := b.closing[platform]
	if !ok || inc.Status.Live() {
		return nil
	}
	if pol.Summary && !st.ClosingSent {
		if err := enqueue(OpPut, KeyClosing, putPayload{Message: RenderClosing(inc, acts)}, false); err != nil {
			return err
		}
		st.ClosingSent = true
	}
	if pol.ArchiveAfter > 0 && closed && !st.ArchiveQueued {
		at := closedAt(inc).Add(pol.ArchiveAfter)
		if now := b.clk.Now(); at.Before(now) {
			at = now
		}
		if err := tx.EnqueueChatOp(&store.ChatOp{Platform: platform, IncidentID: inc.ID, Kind: OpArchive, Payload: []byte("{}"), NextAt: at}); err != nil {
			return err
		}
		st.ArchiveQueued = true
	}
	return nil
}
