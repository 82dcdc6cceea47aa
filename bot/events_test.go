package bot

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/store/storetest"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// countingStore counts full syncs (each reads the statistics of all the incident's
// alerts once per sync).
type countingStore struct {
	*store.SQLite
	syncs atomic.Int64
	reads atomic.Int64 // of an incident
}

func (c *countingStore) Incident(ctx context.Context, id int64) (*model.Incident, error) {
	c.reads.Add(1)
	return c.SQLite.Incident(ctx, id)
}

func (c *countingStore) ChatAlertStats(ctx context.Context, id, after int64) (*store.ChatAlertStats, error) {
	if after == 0 {
		c.syncs.Add(1)
	}
	return c.SQLite.ChatAlertStats(ctx, id, after)
}

func (c *countingStore) ChatAlertStatsSince(ctx context.Context, id int64, prev *store.ChatAlertStats) (*store.ChatAlertStats, error) {
	c.syncs.Add(1)
	return c.SQLite.ChatAlertStatsSince(ctx, id, prev)
}

// nullPlatform accepts everything.
type nullPlatform struct{ n atomic.Int64 }

func (p *nullPlatform) Name() string { return "null" }
func (p *nullPlatform) CreateRoom(ctx context.Context, s RoomSpec) (RoomRef, error) {
	return RoomRef{ID: "R1", Name: s.Name}, nil
}
func (p *nullPlatform) Post(ctx context.Context, r RoomRef, m *Message, o PostOptions) (MessageRef, error) {
	return MessageRef{ID: fmt.Sprint(p.n.Add(1))}, nil
}
func (p *nullPlatform) Update(ctx context.Context, r RoomRef, ref MessageRef, m *Message) error {
	return nil
}

// eventsEnv opens a real store file and a pipeline on it, on a fake clock.
func eventsEnv(t *testing.T) (*clock.Fake, *store.SQLite, *triage.Pipeline, *slog.Logger) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC))
	sq, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	log := slog.New(slog.DiscardHandler)
	pipe, err := triage.NewPipeline(context.Background(), sq, triage.DefaultConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	return clk, sq, pipe, log
}

// TestBusyIncidentIsSyncedOncePerInterval feeds the pipeline's events to the bot: an
// incident that keeps receiving alerts is synced once per interval, new parties
// included, while a change of severity shows at once; telling them apart reads
// nothing.
func TestBusyIncidentIsSyncedOncePerInterval(t *testing.T) {
	ctx := context.Background()
	clk, sq, pipe, log := eventsEnv(t)
	st := &countingStore{SQLite: sq}
	evs, unsub := pipe.Subscribe()
	defer unsub()
	b, err := New(Options{Store: st, Platforms: []Platform{&nullPlatform{}}, Clock: clk, Log: log,
		Handler: HandlerFunc(func(context.Context, Interaction) Reply { return Reply{} })})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	victim := "172.16.5.10"
	ingest := func(n int, sev model.Severity) {
		t.Helper()
		var alerts []*model.Alert
		for range n {
			seq++
			alerts = append(alerts, &model.Alert{Source: "s", Format: "generic", Rule: "ssh scan", Severity: sev,
				Category: model.CategoryBruteforce, EventTime: clk.Now().Add(-time.Minute),
				Entities: []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
					{Kind: model.EntityIP, Value: victim, Role: model.RoleDst}},
				Fingerprint: fmt.Sprint("fp", seq)})
		}
		if _, err := pipe.Ingest(ctx, alerts); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case ev := <-evs:
				b.event(ev)
				continue
			default:
			}
			break
		}
		b.Tick(ctx)
	}
	ingest(3, model.SeverityMedium)
	if n := st.syncs.Load(); n != 1 {
		t.Fatalf("%d syncs after the incident opened, want 1", n)
	}
	reads := st.reads.Load()
	waits := func(what string) { // no sync and no read of the incident since the first sync
		t.Helper()
		if n := st.syncs.Load(); n != 1 {
			t.Fatalf("%d syncs after %s within the interval, want 1", n, what)
		}
		if n := st.reads.Load() - reads; n != 0 {
			t.Errorf("%d reads of the incident for %s, want none", n, what)
		}
	}
	for range 10 {
		clk.Advance(time.Second)
		ingest(2, model.SeverityMedium)
	}
	waits("10 batches of alerts like its own")
	victim = "172.16.5.11" // a new party: not count-only, but neither status nor severity moved
	clk.Advance(time.Second)
	ingest(1, model.SeverityMedium)
	waits("a new party")
	ingest(1, model.SeverityCritical)
	if n := st.syncs.Load(); n != 2 {
		t.Fatalf("%d syncs after an escalation, want it synced at once (2)", n)
	}
	clk.Advance(5 * time.Second)
	ingest(1, model.SeverityMedium)
	clk.Advance(30 * time.Second)
	b.Tick(ctx)
	if n := st.syncs.Load(); n != 3 {
		t.Fatalf("%d syncs once the interval passed, want 3", n)
	}
}

// roomCounter is a platform that reports on done once it has created want rooms.
type roomCounter struct {
	nullPlatform
	rooms atomic.Int64
	want  int64
	done  chan struct{}
}

func (p *roomCounter) CreateRoom(ctx context.Context, s RoomSpec) (RoomRef, error) {
	if p.rooms.Add(1) == p.want {
		close(p.done)
	}
	return RoomRef{ID: s.Name, Name: s.Name}, nil
}

// burstAlerts returns one high-severity alert for each of n unrelated incidents,
// numbered from first.
func burstAlerts(first, n int, at time.Time) []*model.Alert {
	var out []*model.Alert
	for i := first; i < first+n; i++ {
		out = append(out, &model.Alert{Source: "s", Format: "generic", Rule: "ssh scan", Severity: model.SeverityHigh,
			Category: model.CategoryBruteforce, EventTime: at,
			Entities: []model.Entity{{Kind: model.EntityIP, Value: fmt.Sprintf("198.18.%d.%d", i/200, i%200+1), Role: model.RoleSrc},
				{Kind: model.EntityIP, Value: fmt.Sprintf("10.9.%d.%d", i/200, i%200+1), Role: model.RoleDst}},
			Fingerprint: fmt.Sprint("burst", i)})
	}
	return out
}

// TestBurstOfIncidentsWhileSyncingLosesNone: more new incidents than the event
// subscription holds arrive while a sync is stuck; none of their events is dropped and
// every incident gets its room without waiting for the reconcile.
func TestBurstOfIncidentsWhileSyncingLosesNone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk, sq, pipe, log := eventsEnv(t)
	const batches, per = 15, 100 // 1,500 incidents: more than the subscription's 1,024
	gate := storetest.NewGated(sq)
	plat := &roomCounter{want: batches * per, done: make(chan struct{})}
	b, err := New(Options{Store: gate, Platforms: []Platform{plat}, Clock: clk, Log: log, Events: pipe,
		Reconcile: time.Hour, Handler: HandlerFunc(func(context.Context, Interaction) Reply { return Reply{} })})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.Run(ctx)
	}()
	defer func() { cancel(); <-stopped }()

	if _, err := pipe.Ingest(ctx, burstAlerts(0, per, clk.Now())); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gate.Entered():
	case <-time.After(30 * time.Second):
		t.Fatal("the first incident was not synced")
	}
	for i := 1; i < batches; i++ {
		if _, err := pipe.Ingest(ctx, burstAlerts(i*per, per, clk.Now())); err != nil {
			t.Fatal(err)
		}
	}
	gate.Open()
	select {
	case <-plat.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d rooms created", plat.rooms.Load(), plat.want)
	}
	if n := pipe.Dropped(); n != 0 {
		t.Errorf("%d events dropped", n)
	}
}

// TestReconcileSyncsOnlyStaleRooms: the periodic reconcile syncs an open room once
// it has gone Reconcile without a sync, not before.
func TestReconcileSyncsOnlyStaleRooms(t *testing.T) {
	ctx := context.Background()
	clk, sq, pipe, log := eventsEnv(t)
	st := &countingStore{SQLite: sq}
	b, err := New(Options{Store: st, Platforms: []Platform{&nullPlatform{}}, Clock: clk, Log: log,
		Handler: HandlerFunc(func(context.Context, Interaction) Reply { return Reply{} })})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipe.Ingest(ctx, burstAlerts(0, 2, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if err := b.ReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Outbox().DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.syncs.Swap(0); n != 2 {
		t.Fatalf("%d syncs at the start, want one per incident (2)", n)
	}
	clk.Advance(4 * time.Minute)
	if _, err := b.Sync(ctx, 2); err != nil { // an event or a kick
		t.Fatal(err)
	}
	st.syncs.Store(0)
	clk.Advance(7 * time.Minute)
	if err := b.reconcileStale(ctx, clk.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := st.syncs.Swap(0); n != 1 {
		t.Fatalf("%d syncs 11 and 7 minutes after the last ones, want the stale room's (1)", n)
	}
	if err := b.reconcileStale(ctx, clk.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := st.syncs.Load(); n != 0 {
		t.Fatalf("%d syncs right after the reconcile, want none", n)
	}
}
