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
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// countingStore counts full syncs (each reads the statistics of all the incident's
// alerts once per sync).
type countingStore struct {
	*store.SQLite
	syncs atomic.Int64
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

// TestBusyIncidentIsSyncedOncePerInterval feeds the pipeline's events to the bot: an
// incident that keeps receiving alerts is synced once per interval, while a change
// of severity shows at once.
func TestBusyIncidentIsSyncedOncePerInterval(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC))
	sq, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &countingStore{SQLite: sq}
	log := slog.New(slog.DiscardHandler)
	pipe, err := triage.NewPipeline(ctx, sq, triage.DefaultConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	evs, unsub := pipe.Subscribe()
	defer unsub()
	b, err := New(Options{Store: st, Platforms: []Platform{&nullPlatform{}}, Clock: clk, Log: log,
		Handler: HandlerFunc(func(context.Context, Interaction) Reply { return Reply{} })})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	ingest := func(n int, sev model.Severity) {
		t.Helper()
		var alerts []*model.Alert
		for range n {
			seq++
			alerts = append(alerts, &model.Alert{Source: "s", Format: "generic", Rule: "ssh scan", Severity: sev,
				Category: model.CategoryBruteforce, EventTime: clk.Now().Add(-time.Minute),
				Entities: []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
					{Kind: model.EntityIP, Value: "172.16.5.10", Role: model.RoleDst}},
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
	for range 10 {
		clk.Advance(time.Second)
		ingest(2, model.SeverityMedium)
	}
	if n := st.syncs.Load(); n != 1 {
		t.Fatalf("%d syncs after 10 batches of new alerts within the interval, want 1", n)
	}
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
