package bot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// roomState is the bookkeeping kept with each room (store.ChatRoom.State): what the
// room already shows, so that a sync sends only what changed.
type roomState struct {
	// OpeningHash is the hash of the opening message last queued, OpeningAt when.
	OpeningHash string    `json:"opening_hash,omitempty"`
	OpeningAt   time.Time `json:"opening_at"`
	// Shown is what of the incident the opening message shows that must never wait.
	Shown string `json:"shown,omitempty"`
	// LastAlertID: alerts up to this id are in the opening message or a rolling update.
	LastAlertID int64 `json:"last_alert_id"`
	// Counted is how many of the incident's alerts up to LastAlertID each rule had
	// (absent when the summary did not list every rule): the next rolling update tells
	// what is new from it, without reading the alerts again.
	Counted   map[string]int `json:"counted,omitempty"`
	RollingAt time.Time      `json:"rolling_at"`
	Rolling   []string       `json:"rolling,omitempty"`
	// TimelineID: timeline events up to this id have been considered for announcing.
	TimelineID int64 `json:"timeline_id"`
	// Announced action states, "id:state".
	Announced []string `json:"announced,omitempty"`
	// DueAt is when a held-back update is due; zero when none is.
	DueAt time.Time `json:"due_at"`
	// ClosingSent and ArchiveQueued: the closing summary and the archiving (see
	// ClosePolicy) are queued, once.
	ClosingSent   bool `json:"closing_sent,omitempty"`
	ArchiveQueued bool `json:"archive_queued,omitempty"`
}

// maxRollingLines is how many recent summaries the rolling update keeps.
const maxRollingLines = 5

func decodeState(b []byte) roomState {
	var s roomState
	if len(b) > 0 {
		_ = json.Unmarshal(b, &s) // a broken state starts over: the room is re-sent
	}
	return s
}

// urgent is the part of the opening message that is sent at once when it changes:
// status, severity, commander, the playbook and every action's state and approvals.
// Counts and times wait for the update interval.
func urgent(v *View) string {
	inc := v.Incident
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%d|%s|", inc.Status, inc.Severity, inc.MergedInto, v.Commander)
	if v.Playbook != nil {
		b.WriteString(v.Playbook.ID)
	}
	for _, p := range v.Proposals {
		b.WriteString("|p:" + p.Subject())
	}
	for _, a := range v.Actions {
		fmt.Fprintf(&b, "|a:%d:%s:%d:%t:%s", a.ID, a.State, len(a.Approvals), a.PendingReview, v.Requests[a.ID])
	}
	// A model's narrative replaces the template as soon as it arrives, and each rewrite
	// (the narrator debounces them) shows at once; the template's own changes (counts)
	// wait for the interval like other count-only edits.
	if n := v.Narrative; n.Source == NarrativeAI {
		sum := sha256.Sum256([]byte(n.Text))
		fmt.Fprintf(&b, "|n:%s:%x", n.Model, sum[:8])
	}
	return b.String()
}

func hashMessage(m *Message) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// announceKinds are the timeline events announced in the room, once.
var announceKinds = map[string]string{
	"merged":   "",
	"severity": "Escalated: ",
}

// announcedStates are the action states announced in the room, once.
var announcedStates = map[model.ActionState]bool{
	model.ActionSucceeded: true, model.ActionFailed: true, model.ActionExpired: true,
	model.ActionReverted: true, model.ActionRejected: true,
}

func announceAction(a *model.Action) string {
	l := ActionLabel(a.Kind, a.Target, a.TTL)
	switch a.State {
	case model.ActionSucceeded:
		s := "" + l + " succeeded"
		if a.Verified {
			s += " and is verified"
		}
		if r := strings.TrimSpace(a.Result); r != "" {
			s += ": " + Truncate(r, 200)
		}
		return s
	case model.ActionFailed:
		return "" + l + " failed: " + Truncate(a.Error, 300)
	case model.ActionExpired:
		return "" + l + " expired and was rolled back"
	case model.ActionReverted:
		return "" + l + " was undone"
	case model.ActionRejected:
		return "" + l + " was rejected"
	}
	return l + ": " + string(a.State)
}

// pendingActions reports whether any action may still change by itself (run, expire).
func pendingActions(as []*model.Action) bool {
	for _, a := range as {
		switch a.State {
		case model.ActionProposed, model.ActionApproved, model.ActionRunning, model.ActionSucceeded:
			return true
		}
	}
	return false
}

// newToken returns a random button token: 22 URL-safe characters.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a button token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// buildView reads what the opening message shows, and the incident's timeline.
func (b *Bot) buildView(ctx context.Context, inc *model.Incident) (*View, []model.TimelineEvent, error) {
	v := &View{Incident: inc}
	tl, err := b.st.Timeline(ctx, inc.ID)
	if err != nil {
		return nil, nil, err
	}
	v.Requests = ChatRequests(tl)
	if v.Commander, err = b.st.IncidentCommander(ctx, inc.ID); err != nil {
		return nil, nil, err
	}
	if v.Stats, err = b.alertStats(ctx, inc.ID); err != nil {
		return nil, nil, err
	}
	if v.Actions, err = b.st.Actions(ctx, inc.ID); err != nil {
		return nil, nil, err
	}
	if b.playbooks != nil {
		pb, props, err := b.playbooks.Playbook(ctx, inc, v.Actions)
		if err != nil {
			b.log.Warn("chat: playbook lookup failed", "incident", inc.Number, "err", err)
		} else {
			v.Playbook = pb
			for _, p := range props {
				if !requested(v.Actions, p) {
					v.Proposals = append(v.Proposals, p)
				}
			}
			sortProposals(v.Proposals)
		}
	}
	if !inc.Status.Live() {
		v.Proposals = nil
	}
	if b.narrator != nil {
		n, err := b.narrator.Narrate(ctx, v)
		if err != nil {
			b.log.Warn("chat: narrative failed; using the template", "incident", inc.Number, "err", err)
		} else {
			v.Narrative = n
		}
	}
	return v, tl, nil
}

// requested reports whether an action already stands for the proposal.
func requested(as []*model.Action, p Proposal) bool {
	for _, a := range as {
		if a.Kind == p.Kind && a.Target == p.Target && a.State != model.ActionRejected {
			return true
		}
	}
	return false
}

// Sync brings every room of an incident up to date: it opens the rooms of a newly
// notifiable incident, edits the opening message, posts the rolling update and the
// announcements that are due, all queued in the outbox in one transaction. It returns
// when a held-back update is due (zero for none); Tick syncs it again then. A failed
// sync is retried after a few seconds.
func (b *Bot) Sync(ctx context.Context, incidentID int64) (time.Time, error) {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	due, err := b.sync(ctx, incidentID)
	if err != nil {
		b.setDue(incidentID, b.clk.Now().Add(5*time.Second))
		return time.Time{}, err
	}
	b.setDue(incidentID, due)
	return due, nil
}

func (b *Bot) sync(ctx context.Context, incidentID int64) (time.Time, error) {
	inc, err := b.st.Incident(ctx, incidentID)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	b.mu.Lock()
	if inc.Status.Live() {
		b.synced[incidentID] = syncedState{at: b.clk.Now(), status: inc.Status, severity: inc.Severity}
	} else {
		delete(b.synced, incidentID)
	}
	b.mu.Unlock()
	rooms := map[string]*store.ChatRoom{}
	for _, p := range b.platforms {
		r, err := b.st.ChatRoom(ctx, p.Name(), incidentID)
		if err == nil {
			rooms[p.Name()] = r
		} else if !errors.Is(err, store.ErrNotFound) {
			return time.Time{}, err
		}
	}
	if !inc.Notifiable && len(rooms) == 0 {
		return time.Time{}, nil
	}
	v, timeline, err := b.buildView(ctx, inc)
	if err != nil {
		return time.Time{}, fmt.Errorf("sync %s: %w", inc.Number, err)
	}
	if !inc.Status.Live() {
		b.statsMu.Lock()
		delete(b.stats, incidentID)
		b.statsMu.Unlock()
	}
	var maxTL int64
	for _, ev := range timeline {
		maxTL = max(maxTL, ev.ID)
	}
	now := b.clk.Now().UTC()
	// New alerts per distinct LastAlertID of the rooms (usually one): from the counts
	// the room kept at its last rolling update where they tell, else read.
	fresh := map[int64]*store.ChatAlertStats{}
	for _, r := range rooms {
		st := decodeState(r.State)
		if _, ok := fresh[st.LastAlertID]; ok || v.Stats.MaxID <= st.LastAlertID {
			continue
		}
		if ns, ok := newSince(v.Stats, st.Counted); ok {
			fresh[st.LastAlertID] = ns
			continue
		}
		if fresh[st.LastAlertID], err = b.st.ChatAlertStats(ctx, incidentID, st.LastAlertID); err != nil {
			return time.Time{}, fmt.Errorf("sync %s: %w", inc.Number, err)
		}
	}

	var (
		due    time.Time
		queued map[string]bool
	)
	op := func(tx store.Tx) error {
		due, queued = time.Time{}, map[string]bool{}
		mint := func(verb, subject string, data any) (string, error) {
			if btn, err := tx.ChatButton(incidentID, verb, subject); err == nil {
				return btn.Token, nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
			tok, err := newToken()
			if err != nil {
				return "", err
			}
			var raw []byte
			if data != nil {
				if raw, err = json.Marshal(data); err != nil {
					return "", err
				}
			}
			return tok, tx.PutChatButton(&store.ChatButton{Token: tok, IncidentID: incidentID, Verb: verb, Subject: subject, Data: raw})
		}
		opening, err := RenderOpening(v, mint)
		if err != nil {
			return err
		}
		hash, shown := hashMessage(opening), urgent(v)
		for _, p := range b.platforms {
			name := p.Name()
			room, err := tx.ChatRoom(name, incidentID)
			isNew := errors.Is(err, store.ErrNotFound)
			if err != nil && !isNew {
				return err
			}
			var st roomState
			enqueue := func(kind, key string, payload any, coalesce bool) error {
				raw, err := json.Marshal(payload)
				if err != nil {
					return err
				}
				queued[name] = true
				return tx.EnqueueChatOp(&store.ChatOp{Platform: name, IncidentID: incidentID, Kind: kind, Key: key, Payload: raw, Coalesce: coalesce})
			}
			if isNew {
				if !inc.Notifiable {
					continue
				}
				rn, err := UniqueName(RoomName(inc), func(n string) (bool, error) { return tx.ChatRoomNameTaken(name, n) })
				if err != nil {
					return err
				}
				room = &store.ChatRoom{Platform: name, IncidentID: incidentID, Name: rn}
				spec := RoomSpec{Name: rn, Topic: Truncate(opening.Fallback, 250), IncidentID: inc.ID, Number: inc.Number,
					Kind: inc.Kind, Severity: inc.Severity}
				if err := enqueue(OpCreateRoom, "", spec, false); err != nil {
					return err
				}
				if users := b.invite[name]; len(users) > 0 {
					if err := enqueue(OpInvite, "", invitePayload{Users: users}, false); err != nil {
						return err
					}
				}
				st = roomState{LastAlertID: v.Stats.MaxID, Counted: ruleCounts(v.Stats), RollingAt: now, TimelineID: maxTL}
				for _, a := range v.Actions {
					if announcedStates[a.State] {
						st.Announced = append(st.Announced, strconv.FormatInt(a.ID, 10)+":"+string(a.State))
					}
				}
			} else {
				st = decodeState(room.State)
			}
			before, _ := json.Marshal(st)
			wasClosed := room.Closed
			st.DueAt = time.Time{}
			later := func(t time.Time) {
				if st.DueAt.IsZero() || t.Before(st.DueAt) {
					st.DueAt = t
				}
			}
			if t := v.Narrative.NextAt; !t.IsZero() && inc.Status.Live() {
				later(t)
			}

			// The opening message, edited in place; count-only changes wait.
			if hash != st.OpeningHash {
				if isNew || shown != st.Shown || !now.Before(st.OpeningAt.Add(b.interval)) {
					if err := enqueue(OpPut, KeyOpening, putPayload{Message: opening}, true); err != nil {
						return err
					}
					st.OpeningHash, st.Shown, st.OpeningAt = hash, shown, now
				} else {
					later(st.OpeningAt.Add(b.interval))
				}
			}
			// New alerts: one rolling update at most every interval.
			if ns := fresh[st.LastAlertID]; !isNew && ns != nil && ns.Total > 0 {
				if !now.Before(st.RollingAt.Add(b.interval)) {
					st.Rolling = append([]string{RollingLine(ns, inc.AlertCount, now)}, st.Rolling...)
					if len(st.Rolling) > maxRollingLines {
						st.Rolling = st.Rolling[:maxRollingLines]
					}
					if err := enqueue(OpPut, KeyRolling, putPayload{Message: RenderRolling(inc, st.Rolling)}, true); err != nil {
						return err
					}
					st.RollingAt, st.LastAlertID, st.Counted = now, ns.MaxID, nil
					if ns.MaxID == v.Stats.MaxID {
						st.Counted = ruleCounts(v.Stats)
					}
				} else {
					later(st.RollingAt.Add(b.interval))
				}
			}
			// Merges and escalations, once.
			for _, ev := range timeline {
				if ev.ID <= st.TimelineID {
					continue
				}
				if prefix, ok := announceKinds[ev.Kind]; ok {
					key := "tl:" + strconv.FormatInt(ev.ID, 10)
					if err := enqueue(OpPut, key, putPayload{Message: RenderAnnouncement(key, prefix+ev.Text)}, false); err != nil {
						return err
					}
				}
			}
			st.TimelineID = max(st.TimelineID, maxTL)
			// Action outcomes, once.
			for _, a := range v.Actions {
				k := strconv.FormatInt(a.ID, 10) + ":" + string(a.State)
				if !announcedStates[a.State] || slices.Contains(st.Announced, k) {
					continue
				}
				key := "action:" + k
				if err := enqueue(OpPut, key, putPayload{Message: RenderAnnouncement(key, announceAction(a))}, false); err != nil {
					return err
				}
				st.Announced = append(st.Announced, k)
			}
			room.Closed = !inc.Status.Live() && !pendingActions(v.Actions) && st.DueAt.IsZero()
			if err := b.closeRoom(tx, name, inc, v.Actions, room.Closed, &st, enqueue); err != nil {
				return err
			}
			after, _ := json.Marshal(st)
			if isNew || string(before) != string(after) || room.Closed != wasClosed {
				room.State = after
				if err := tx.PutChatRoom(room); err != nil {
					return err
				}
			}
			if !st.DueAt.IsZero() && (due.IsZero() || st.DueAt.Before(due)) {
				due = st.DueAt
			}
		}
		return nil
	}
	if err := b.st.Submit(ctx, op); err != nil {
		return time.Time{}, fmt.Errorf("sync the rooms of %s: %w", inc.Number, err)
	}
	for name := range queued {
		b.outbox.Wake(name)
	}
	return due, nil
}

// PostReply posts a public reply in every room of the incident.
func (b *Bot) PostReply(ctx context.Context, incidentID int64, text string) error {
	return b.PostReplyImage(ctx, incidentID, text, nil)
}

// PostReplyImage is PostReply with a picture for the platforms that can show it (see
// Message.Image); img's path must be a web chat path (ChatPath).
func (b *Bot) PostReplyImage(ctx context.Context, incidentID int64, text string, img *Image) error {
	if img != nil && !ChatPath(img.Path) {
		return fmt.Errorf("post a reply with the image %q: want a path under /chat/", img.Path)
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	key := "reply:" + tok[:12]
	msg := RenderReply(key, text)
	if img != nil {
		msg.Image = &Image{Path: img.Path, Alt: CleanText(img.Alt)}
	}
	raw, err := json.Marshal(putPayload{Message: msg})
	if err != nil {
		return err
	}
	var queued []string
	err = b.st.Submit(ctx, func(tx store.Tx) error {
		queued = queued[:0]
		for _, p := range b.platforms {
			if _, err := tx.ChatRoom(p.Name(), incidentID); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if err := tx.EnqueueChatOp(&store.ChatOp{Platform: p.Name(), IncidentID: incidentID, Kind: OpPut, Key: key, Payload: raw}); err != nil {
				return err
			}
			queued = append(queued, p.Name())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("post a reply in the rooms of %s: %w", model.IncidentNumber(incidentID), err)
	}
	for _, name := range queued {
		b.outbox.Wake(name)
	}
	return nil
}

// ruleCounts returns how many alerts each rule of st has, or nil when st may not list
// every rule.
func ruleCounts(st *store.ChatAlertStats) map[string]int {
	if st == nil || len(st.Rules) >= store.MaxStatsRules {
		return nil
	}
	m := make(map[string]int, len(st.Rules))
	for _, r := range st.Rules {
		m[r.Rule] = r.Count
	}
	return m
}

// newSince tells the alerts of all that are not in counted (ruleCounts of an earlier
// summary of the same incident): their total, their count per rule (most first) and
// all's MaxID, which is what a rolling update shows; it sets no times or severities. It reports false when the two cannot tell:
// no counts, a summary that may leave rules out, or fewer alerts of a rule than
// counted (alerts that went away).
func newSince(all *store.ChatAlertStats, counted map[string]int) (*store.ChatAlertStats, bool) {
	if counted == nil || all == nil || len(all.Rules) >= store.MaxStatsRules {
		return nil, false
	}
	out := &store.ChatAlertStats{Total: all.Total, MaxID: all.MaxID}
	seen := 0
	for _, r := range all.Rules {
		was, ok := counted[r.Rule]
		if ok {
			seen++
		}
		if r.Count < was {
			return nil, false
		}
		out.Total -= was
		if n := r.Count - was; n > 0 {
			out.Rules = append(out.Rules, store.RuleCount{Rule: r.Rule, Count: n, MaxID: r.MaxID})
		}
	}
	if seen != len(counted) || out.Total < 0 {
		return nil, false
	}
	slices.SortFunc(out.Rules, func(a, b store.RuleCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out, true
}
