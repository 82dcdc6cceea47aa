// Package bot is warroom's platform-neutral chat layer: the message model, the
// Platform interface that Slack, Discord and the built-in web chat implement, the
// interaction model (clicks and commands with the platform user's identity), the
// mapping of platform users to roles, and the life cycle of incident rooms.
//
// Each notifiable incident gets one room on each configured platform. Everything sent
// to a platform goes through a durable outbox in SQLite, delivered in order per room
// with retries that honour Retry-After, so an outage delays messages and never loses
// or duplicates them. The opening message is edited in place as the incident changes;
// new alerts are summarized in one rolling update at most every interval; merges,
// escalations and action outcomes are announced once.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/drain"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Store is what the bot reads and writes.
type Store interface {
	OutboxStore
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
	LiveIncidents(ctx context.Context) ([]*model.Incident, error)
	Actions(ctx context.Context, incidentID int64) ([]*model.Action, error)
	IncidentCommander(ctx context.Context, incidentID int64) (string, error)
	ChatAlertStats(ctx context.Context, incidentID, afterAlertID int64) (*store.ChatAlertStats, error)
	ChatAlertStatsSince(ctx context.Context, incidentID int64, prev *store.ChatAlertStats) (*store.ChatAlertStats, error)
	ChatRooms(ctx context.Context, platform string, openOnly bool) ([]*store.ChatRoom, error)
	ChatRoomByID(ctx context.Context, platform, roomID string) (*store.ChatRoom, error)
}

// Playbooks says which playbook applies to an incident and what it proposes.
type Playbooks interface {
	Playbook(ctx context.Context, inc *model.Incident, actions []*model.Action) (*PlaybookInfo, []Proposal, error)
}

// Narrator writes an incident's narrative. Without one, or when it fails, the
// template narrative is used.
type Narrator interface {
	Narrate(ctx context.Context, v *View) (Narrative, error)
}

// Events is the source of incident change events (triage.Pipeline).
type Events interface {
	Subscribe() (<-chan triage.Event, func())
}

// Options configure a Bot.
type Options struct {
	Store     Store
	Platforms []Platform
	// Handler answers clicks and commands (package commands).
	Handler Handler
	Clock   clock.Clock
	Log     *slog.Logger
	// Interval is the least time between two rolling updates, or two count-only edits
	// of the opening message, in one room (default 30s).
	Interval time.Duration
	// Reconcile is how long an open room may go without a sync (default 10m): each
	// is synced at least this often even without events or kicks, in case one was
	// lost. The rooms due are looked for every minute (or Reconcile, if shorter), so
	// the syncs spread out instead of coming all at once.
	Reconcile time.Duration
	Playbooks Playbooks
	Narrator  Narrator
	Events    Events
	// Invite lists, per platform, the users invited into each new room.
	Invite  map[string][]string
	Backoff Backoff
	// Closing says, per platform, what becomes of a room once its incident is over.
	Closing map[string]ClosePolicy
}

// Bot runs incident rooms on the configured platforms.
type Bot struct {
	st        Store
	platforms []Platform
	handler   Handler
	clk       clock.Clock
	log       *slog.Logger
	interval  time.Duration
	reconcile time.Duration
	playbooks Playbooks
	narrator  Narrator
	events    Events
	invite    map[string][]string
	closing   map[string]ClosePolicy
	outbox    *Outbox

	syncMu sync.Mutex

	mu     sync.Mutex
	dirty  map[int64]bool
	due    map[int64]time.Time
	synced map[int64]syncedState
	kick   chan struct{}

	// stats holds the alert statistics each incident's last sync read, so that the
	// next reads only the alerts since (store.ChatAlertStatsSince).
	statsMu sync.Mutex
	stats   map[int64]*store.ChatAlertStats
}

// maxCachedStats bounds the incidents whose alert statistics are kept between syncs
// (a few hundred bytes each); past it the cache starts over. Only incidents of at
// least minCachedStats alerts are kept: counting a smaller one again costs less than
// keeping it. An incident's entry goes when a sync finds it over.
const (
	maxCachedStats = 4096
	minCachedStats = 64
)

// alertStats returns the statistics of all the incident's alerts, reading only the
// alerts since its previous call where it can.
func (b *Bot) alertStats(ctx context.Context, incidentID int64) (*store.ChatAlertStats, error) {
	b.statsMu.Lock()
	prev := b.stats[incidentID]
	b.statsMu.Unlock()
	st, err := b.st.ChatAlertStatsSince(ctx, incidentID, prev)
	if err != nil {
		return nil, err
	}
	b.statsMu.Lock()
	if b.stats == nil || len(b.stats) >= maxCachedStats {
		b.stats = map[int64]*store.ChatAlertStats{}
	}
	if cur := b.stats[incidentID]; st.Total < minCachedStats {
		delete(b.stats, incidentID)
	} else if cur == nil || cur.MaxID <= st.MaxID {
		b.stats[incidentID] = st
	}
	b.statsMu.Unlock()
	return st, nil
}

// syncedState is what the last sync of an incident saw, to tell count-only changes
// from those that must show at once.
type syncedState struct {
	at       time.Time
	status   model.Status
	severity model.Severity
}

// New builds a bot. Run starts it.
func New(o Options) (*Bot, error) {
	if o.Store == nil || o.Clock == nil || o.Log == nil || o.Handler == nil {
		return nil, errors.New("bot: Store, Handler, Clock and Log are required")
	}
	seen := map[string]bool{}
	for _, p := range o.Platforms {
		if seen[p.Name()] {
			return nil, fmt.Errorf("bot: platform %q configured twice", p.Name())
		}
		seen[p.Name()] = true
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Reconcile <= 0 {
		o.Reconcile = 10 * time.Minute
	}
	b := &Bot{st: o.Store, platforms: o.Platforms, handler: o.Handler, clk: o.Clock, log: o.Log,
		interval: o.Interval, reconcile: o.Reconcile, playbooks: o.Playbooks, narrator: o.Narrator,
		events: o.Events, invite: o.Invite, closing: o.Closing, dirty: map[int64]bool{}, due: map[int64]time.Time{},
		synced: map[int64]syncedState{}, kick: make(chan struct{}, 1)}
	b.outbox = NewOutbox(o.Store, o.Platforms, o.Clock, o.Log, o.Backoff)
	return b, nil
}

// Outbox returns the bot's outbox.
func (b *Bot) Outbox() *Outbox { return b.outbox }

// Kick asks for the incidents' rooms to be synced soon (an action changed, a command
// ran...).
func (b *Bot) Kick(incidentIDs ...int64) {
	b.mu.Lock()
	for _, id := range incidentIDs {
		if id > 0 {
			b.dirty[id] = true
		}
	}
	b.mu.Unlock()
	b.poke()
}

// Interact handles a click or command from a platform: it finds the incident of the
// room, lets the handler answer, posts a public answer in the incident's rooms and
// returns the reply. A public reply comes back with Private false: the platform shows
// it through the room, so it need not show it again. Typed outside the room, it
// comes back private too, for the user who typed it.
func (b *Bot) Interact(ctx context.Context, in Interaction) (Reply, error) {
	if in.IncidentID == 0 && in.Room.ID != "" {
		r, err := b.st.ChatRoomByID(ctx, in.Platform, in.Room.ID)
		switch {
		case err == nil:
			in.IncidentID = r.IncidentID
		case !errors.Is(err, store.ErrNotFound):
			return Reply{}, fmt.Errorf("find the incident of room %s: %w", in.Room.ID, err)
		}
	}
	rep := b.handler.Handle(ctx, in)
	if !rep.Private && rep.Text != "" {
		target := in.IncidentID
		if target == 0 && len(rep.Changed) > 0 {
			target = rep.Changed[0] // a command naming an incident, typed elsewhere
		}
		if target != 0 {
			if err := b.PostReply(ctx, target, rep.Text); err != nil {
				return Reply{}, err
			}
		}
		// Typed outside the incident's room: the room has the answer, and so does
		// the user, privately, where they typed.
		rep.Private = in.IncidentID == 0
	}
	b.Kick(append(rep.Changed, in.IncidentID)...)
	return rep, nil
}

// Run syncs rooms and delivers the outbox until ctx ends.
func (b *Bot) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.outbox.Run(ctx)
	}()
	b.runRooms(ctx)
	wg.Wait()
}

func (b *Bot) runRooms(ctx context.Context) {
	var (
		evs    <-chan triage.Event
		cancel = func() {}
	)
	if b.events != nil {
		evs, cancel = b.events.Subscribe()
	}
	// Events are taken off the subscription as they come, whatever the syncs are
	// doing, so that a burst of new incidents does not overflow it: each only marks
	// its incident, and the loop below syncs what is marked.
	var collector sync.WaitGroup
	if evs != nil {
		collector.Add(1)
		go func() {
			defer collector.Done()
			drain.Each(ctx, evs, func(ev triage.Event) {
				if b.event(ev) {
					b.poke()
				}
			})
		}()
	}
	defer collector.Wait()
	defer cancel()
	if err := b.ReconcileAll(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("chat: reconcile at start failed", "err", err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReconcile := b.clk.Now()
	var dropped int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
			b.syncDirty(ctx)
			continue
		case <-tick.C:
		}
		b.Tick(ctx)
		if now := b.clk.Now(); now.Sub(lastReconcile) >= min(b.reconcile, time.Minute) {
			lastReconcile = now
			full := false
			if d, ok := b.events.(interface{ Dropped() int64 }); ok {
				if n := d.Dropped(); n != dropped {
					dropped, full = n, true
				}
			}
			var err error
			if full {
				err = b.ReconcileAll(ctx)
			} else {
				err = b.reconcileStale(ctx, now.Add(-b.reconcile))
			}
			if err != nil && ctx.Err() == nil {
				b.log.Warn("chat: reconcile failed", "err", err)
			}
		}
	}
}

// poke wakes the sync loop.
func (b *Bot) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// event marks the incident of a notifiable event dirty. Incidents below the
// notification threshold have no room and wait until they become notifiable. An
// update soon after the incident's last sync (new alerts, usually) is not synced at
// once: a busy incident is synced once per interval, and its update is due at the end
// of the interval. Only a change of status or severity since that sync shows at once;
// the event says whether there was one (an event that does not carry them is taken
// as one).
//
// It reports whether the incident is to be synced at once.
func (b *Bot) event(ev triage.Event) bool {
	if !ev.Notifiable {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.synced[ev.IncidentID]; ok && ev.Kind == triage.EventUpdated && b.clk.Now().Sub(s.at) < b.interval &&
		(ev.CountOnly || ev.Status == s.status && ev.Severity == s.severity) {
		at := s.at.Add(b.interval)
		if d, ok := b.due[ev.IncidentID]; !ok || at.Before(d) {
			b.due[ev.IncidentID] = at
		}
		return false
	}
	b.dirty[ev.IncidentID] = true
	return true
}

// syncDirty syncs the incidents marked dirty, at once; due ones wait for
// the next Tick.
func (b *Bot) syncDirty(ctx context.Context) {
	b.mu.Lock()
	ids := make([]int64, 0, len(b.dirty))
	for id := range b.dirty {
		ids = append(ids, id)
	}
	clear(b.dirty)
	b.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		b.syncOne(ctx, id)
	}
}

// Tick syncs the incidents marked dirty and those whose held-back update is due. Run
// calls it every second.
func (b *Bot) Tick(ctx context.Context) {
	now := b.clk.Now()
	b.mu.Lock()
	ids := make([]int64, 0, len(b.dirty))
	for id := range b.dirty {
		ids = append(ids, id)
	}
	for id, at := range b.due {
		if !now.Before(at) && !b.dirty[id] {
			ids = append(ids, id)
		}
	}
	clear(b.dirty)
	b.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		b.syncOne(ctx, id)
	}
}

func (b *Bot) syncOne(ctx context.Context, id int64) {
	if _, err := b.Sync(ctx, id); err != nil && ctx.Err() == nil {
		b.log.Warn("chat: sync failed; retrying", "incident", model.IncidentNumber(id), "err", err)
	}
}

// setDue records when the incident's held-back update is due (zero: none).
func (b *Bot) setDue(id int64, due time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if due.IsZero() {
		delete(b.due, id)
	} else {
		b.due[id] = due
	}
}

// ReconcileAll syncs every live notifiable incident and every open room: after a
// start, or when events were dropped.
func (b *Bot) ReconcileAll(ctx context.Context) error {
	live, err := b.st.LiveIncidents(ctx)
	if err != nil {
		return err
	}
	for _, inc := range live {
		if inc.Notifiable {
			b.syncOne(ctx, inc.ID)
		}
	}
	return b.reconcileStale(ctx, time.Time{})
}

// reconcileStale syncs the incidents of open rooms that were last synced before
// before, or not since the start (a zero before: only those).
func (b *Bot) reconcileStale(ctx context.Context, before time.Time) error {
	rooms, err := b.st.ChatRooms(ctx, "", true)
	if err != nil {
		return err
	}
	var last int64
	for _, r := range rooms {
		if r.IncidentID == last {
			continue
		}
		last = r.IncidentID
		b.mu.Lock()
		s, ok := b.synced[r.IncidentID]
		b.mu.Unlock()
		if ok && !s.at.Before(before) {
			continue
		}
		b.syncOne(ctx, r.IncidentID)
	}
	return nil
}

// PlatformNames returns the names of the bot's platforms, in the order configured.
func (b *Bot) PlatformNames() []string {
	out := make([]string, len(b.platforms))
	for i, p := range b.platforms {
		out[i] = p.Name()
	}
	return out
}
