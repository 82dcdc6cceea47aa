package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
	"github.com/warroom/warroom/sinks/splunk"
)

var _ sinks.RawQueue = (*SQLite)(nil)

func openSinkStore(t testing.TB, path string) *SQLite {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "warroom.db")
	}
	s, err := OpenSQLite(context.Background(), path, Options{Clock: clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sinkEvents(n int) []sinks.Event {
	out := make([]sinks.Event, n)
	for i := range out {
		out[i] = sinks.Event{ID: fmt.Sprintf("ev-%04d", i), Time: time.Date(2025, 3, 1, 12, 0, i, 0, time.UTC), Type: sinks.ActionSucceeded, Incident: "INC-0042", Fields: map[string]string{"n": fmt.Sprint(i)}}
	}
	return out
}

func TestSinkQueueConformance(t *testing.T) {
	sinktest.TestQueue(t, func(t *testing.T) sinks.Queue { return sinks.NewStoreQueue(openSinkStore(t, "")) })
}

func TestSinkQueueSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	ctx := context.Background()
	s := openSinkStore(t, path)
	q := sinks.NewStoreQueue(s)
	if err := q.Enqueue(ctx, []string{"splunk", "syslog"}, sinkEvents(4)); err != nil {
		t.Fatal(err)
	}
	p, _ := q.Pending(ctx, "splunk", 2)
	if err := q.Ack(ctx, "splunk", []int64{p[0].ID, p[1].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	q = sinks.NewStoreQueue(openSinkStore(t, path))
	for sink, want := range map[string]string{"splunk": "[ev-0002 ev-0003]", "syslog": "[ev-0000 ev-0001 ev-0002 ev-0003]"} {
		got, err := q.Pending(ctx, sink, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.Event.ID)
		}
		if fmt.Sprint(ids) != want {
			t.Errorf("%s after reopen: %v, want %s", sink, ids, want)
		}
	}
}

func TestSinkEventsCommitWithTheirTransaction(t *testing.T) {
	s := openSinkStore(t, "")
	ctx := context.Background()
	payload, _ := json.Marshal(sinkEvents(1)[0])
	boom := errors.New("incident update failed")
	err := s.Submit(ctx, func(tx Tx) error {
		if err := tx.(*writeTx).EnqueueSinkEvents([]string{"splunk"}, [][]byte{payload}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Submit = %v", err)
	}
	if n, _ := s.CountSinkEvents(ctx, "splunk"); n != 0 {
		t.Fatalf("%d events stored by a transaction that failed", n)
	}
	if err := s.EnqueueSinkEvents(ctx, []string{"splunk", ""}, [][]byte{payload}); err == nil {
		t.Fatal("an empty sink name was accepted")
	}
	if n, _ := s.CountSinkEvents(ctx, "splunk"); n != 0 {
		t.Fatalf("%d events stored by a refused enqueue", n)
	}
}

func TestSinkQueueAckInChunks(t *testing.T) {
	s := openSinkStore(t, "")
	ctx := context.Background()
	q := sinks.NewStoreQueue(s)
	if err := q.Enqueue(ctx, []string{"a"}, sinkEvents(1200)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Pending(ctx, "a", 5000)
	if err != nil || len(got) != 1200 {
		t.Fatalf("Pending: %d, %v", len(got), err)
	}
	ids := make([]int64, len(got))
	for i, g := range got {
		ids[i] = g.ID
	}
	if err := q.Ack(ctx, "a", ids); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Len(ctx, "a"); n != 0 {
		t.Fatalf("%d left after acking all", n)
	}
}

// A Splunk outage, and a restart of warroom in the middle of it, delay events in the
// SQLite queue but lose none.
func TestSinkOutageAndRestartLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hec := sinktest.NewHEC(t, "hec-token")
	env := sinks.Env{Name: "splunk", Hostname: "warroom-1", LookupEnv: func(string) (string, bool) { return "hec-token", true }}
	c := splunk.DefaultConfig()
	c.URL, c.TokenEnv = hec.URL(), "HEC_TOKEN"
	sk, err := splunk.New(c, env)
	if err != nil {
		t.Fatal(err)
	}
	evs := sinkEvents(30)

	// First run: Splunk is down; the dispatcher gives up when warroom stops.
	hec.Stop()
	s := openSinkStore(t, path)
	timer := sinktest.NewTimer(nil)
	runCtx, stop := context.WithCancel(ctx)
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 3 {
			stop() // warroom is stopped during the outage
		}
	})
	d, err := sinks.NewDispatcher(sinks.Options{Queue: sinks.NewStoreQueue(s), Sinks: []sinks.Sink{sk}, After: timer.After, Delivery: sinks.Delivery{BatchSize: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(runCtx); err == nil {
		t.Fatal("Flush succeeded during the outage")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Second run: Splunk is back after two more refusals.
	s = openSinkStore(t, path)
	timer = sinktest.NewTimer(nil)
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 2 {
			hec.Start()
		}
	})
	d, err = sinks.NewDispatcher(sinks.Options{Queue: sinks.NewStoreQueue(s), Sinks: []sinks.Sink{sk}, After: timer.After, Delivery: sinks.Delivery{BatchSize: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var got []string
	for _, he := range hec.Events() {
		var e sinks.Event
		if err := json.Unmarshal(he.Event, &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.ID)
	}
	var want []string
	for _, e := range evs {
		want = append(want, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Splunk received %v\nwant %v", got, want)
	}
	if n, _ := s.CountSinkEvents(ctx, "splunk"); n != 0 {
		t.Fatalf("%d events still queued", n)
	}
}

// BenchmarkSinkQueueCycle measures one event through the SQLite queue: enqueue for one
// sink, read back, acknowledge — in batches of 100, as the Dispatcher does.
func BenchmarkSinkQueueCycle(b *testing.B) {
	s := openSinkStore(b, "")
	q := sinks.NewStoreQueue(s)
	ctx := context.Background()
	evs := sinkEvents(100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		if err := q.Enqueue(ctx, []string{"splunk"}, evs); err != nil {
			b.Fatal(err)
		}
		got, err := q.Pending(ctx, "splunk", 100)
		if err != nil || len(got) != 100 {
			b.Fatalf("Pending: %d %v", len(got), err)
		}
		ids := make([]int64, len(got))
		for j, g := range got {
			ids[j] = g.ID
		}
		if err := q.Ack(ctx, "splunk", ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
