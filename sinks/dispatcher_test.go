package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func events(n int) []sinks.Event {
	out := make([]sinks.Event, n)
	for i := range out {
		out[i] = sinks.Event{ID: fmt.Sprintf("ev-%04d", i), Time: t0.Add(time.Duration(i) * time.Second), Type: sinks.ActionSucceeded, Incident: "INC-0001"}
	}
	return out
}

func ids(evs []sinks.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// scripted is a sink whose answers a test decides: answer is called with each batch
// and returns the error to report; accepted events are recorded unless the answer says
// otherwise.
type scripted struct {
	name   string
	mu     sync.Mutex
	calls  [][]string
	got    []sinks.Event
	answer func(call int, batch []sinks.Event) error
	sent   chan struct{}
}

func newScripted(name string, answer func(call int, batch []sinks.Event) error) *scripted {
	return &scripted{name: name, answer: answer, sent: make(chan struct{}, 1000)}
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Send(ctx context.Context, batch []sinks.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, ids(batch))
	var err error
	if s.answer != nil {
		err = s.answer(len(s.calls), batch)
	}
	var be *sinks.BatchError
	switch {
	case err == nil:
		s.got = append(s.got, batch...)
	case errors.As(err, &be):
		skip := map[int]bool{}
		for _, i := range be.Retry {
			skip[i] = true
		}
		for _, d := range be.Dropped {
			skip[d.Index] = true
		}
		for i, e := range batch {
			if !skip[i] {
				s.got = append(s.got, e)
			}
		}
	}
	s.sent <- struct{}{}
	return err
}

func (s *scripted) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ids(s.got)
}

func (s *scripted) batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

type rig struct {
	q     *sinktest.MemQueue
	timer *sinktest.Timer
	clock *clock.Fake
	d     *sinks.Dispatcher
	logs  *sinktest.LogBuffer
}

func newRig(t *testing.T, del sinks.Delivery, ss ...sinks.Sink) *rig {
	t.Helper()
	r := &rig{q: sinktest.NewMemQueue(), clock: clock.NewFake(t0)}
	r.timer = sinktest.NewTimer(r.clock)
	logger, logs := sinktest.NewLogger()
	r.logs = logs
	d, err := sinks.NewDispatcher(sinks.Options{Queue: r.q, Sinks: ss, Delivery: del, Clock: r.clock, After: r.timer.After, Logger: logger, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	return r
}

func (r *rig) publishAndFlush(t *testing.T, evs []sinks.Event) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	return r.d.Flush(ctx)
}

func TestDeliversInOrderInBatches(t *testing.T) {
	s := newScripted("a", nil)
	r := newRig(t, sinks.Delivery{BatchSize: 4}, s)
	evs := events(10)
	if err := r.publishAndFlush(t, evs); err != nil {
		t.Fatal(err)
	}
	if got := s.received(); !slices.Equal(got, ids(evs)) {
		t.Fatalf("received %v, want %v", got, ids(evs))
	}
	if got := fmt.Sprint(s.batches()); got != "[[ev-0000 ev-0001 ev-0002 ev-0003] [ev-0004 ev-0005 ev-0006 ev-0007] [ev-0008 ev-0009]]" {
		t.Fatalf("batches %s", got)
	}
	if st := r.d.Stats()[0]; st.Delivered != 10 || st.Failures != 0 || !st.LastDelivery.Equal(t0) {
		t.Fatalf("stats %+v", st)
	}
	if b, _ := r.d.Backlog(context.Background()); b["a"] != 0 {
		t.Fatalf("backlog %v", b)
	}
}

func TestRetryableErrorsBackOffExponentiallyWithJitterAndCap(t *testing.T) {
	s := newScripted("a", func(call int, _ []sinks.Event) error {
		if call <= 6 {
			return errors.New("connection refused")
		}
		return nil
	})
	r := newRig(t, sinks.Delivery{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, Jitter: 0.2}, s)
	if err := r.publishAndFlush(t, events(3)); err != nil {
		t.Fatal(err)
	}
	// Rand is 0.5: each wait is 10% short of 1s, 2s, 4s, 8s, then the 10s cap.
	want := []time.Duration{900 * time.Millisecond, 1800 * time.Millisecond, 3600 * time.Millisecond, 7200 * time.Millisecond, 9 * time.Second, 9 * time.Second}
	if got := r.timer.Waits(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if got := s.received(); len(got) != 3 {
		t.Fatalf("received %v", got)
	}
	if st := r.d.Stats()[0]; st.Failures != 6 || st.LastError != "" || st.Delivered != 3 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(r.logs.String(), "connection refused") || !strings.Contains(r.logs.String(), "will retry") {
		t.Errorf("failures not logged:\n%s", r.logs)
	}
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	s := newScripted("a", func(call int, _ []sinks.Event) error {
		switch call {
		case 1:
			return sinks.RetryAfter(errors.New("429"), 45*time.Second)
		case 2:
			return sinks.RetryAfter(errors.New("503"), 24*time.Hour)
		case 3:
			return sinks.RetryAfter(errors.New("503"), time.Millisecond) // shorter than the backoff
		}
		return nil
	})
	r := newRig(t, sinks.Delivery{InitialBackoff: time.Second, MaxBackoff: time.Minute, MaxRetryAfter: 10 * time.Minute}, s)
	if err := r.publishAndFlush(t, events(1)); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{45 * time.Second, 10 * time.Minute, 4 * time.Second}
	if got := r.timer.Waits(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestPermanentErrorHaltsKeepsEventsAndResumes(t *testing.T) {
	var broken sync.Mutex
	fixed := false
	s := newScripted("a", func(int, []sinks.Event) error {
		broken.Lock()
		defer broken.Unlock()
		if !fixed {
			return sinks.Permanent(errors.New("invalid token"))
		}
		return nil
	})
	q := sinktest.NewMemQueue()
	halted := make(chan struct{}, 10)
	after := func(d time.Duration) <-chan time.Time {
		if d == time.Hour { // the halted wait: never fires by itself
			halted <- struct{}{}
			return nil
		}
		ch := make(chan time.Time, 1)
		ch <- t0
		return ch
	}
	d, err := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, After: after, Delivery: sinks.Delivery{HaltedRetry: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Publish(ctx, events(3)...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err == nil || !strings.Contains(err.Error(), "sink a is halted, its events stay queued: invalid token") {
		t.Fatalf("Flush = %v", err)
	}
	if n, _ := q.Len(ctx, "a"); n != 3 {
		t.Fatalf("%d events queued after the halt, want 3", n)
	}
	if st := d.Stats()[0]; !st.Halted || st.LastError != "invalid token" {
		t.Fatalf("stats %+v", st)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-halted: // Run tried, was refused again, and waits
	case <-ctx.Done():
		t.Fatal("Run did not halt")
	}
	broken.Lock()
	fixed = true
	broken.Unlock()
	if err := d.Resume("a"); err != nil {
		t.Fatal(err)
	}
	for len(s.received()) < 3 {
		select {
		case <-s.sent:
		case <-ctx.Done():
			t.Fatal("events not delivered after Resume")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if st := d.Stats()[0]; st.Halted || st.Delivered != 3 {
		t.Fatalf("stats after resume %+v", st)
	}
	if err := d.Resume("nope"); err == nil {
		t.Fatal("Resume of an unknown sink succeeded")
	}
}

func TestRejectedBatchIsIsolatedAndOnlyTheBadEventDropped(t *testing.T) {
	s := newScripted("a", func(_ int, batch []sinks.Event) error {
		for _, e := range batch {
			if e.ID == "ev-0005" {
				return sinks.Rejected(errors.New("invalid data format"))
			}
		}
		return nil
	})
	r := newRig(t, sinks.Delivery{BatchSize: 4}, s)
	evs := events(10)
	if err := r.publishAndFlush(t, evs); err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(ids(evs), func(id string) bool { return id == "ev-0005" })
	if got := s.received(); !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if got := fmt.Sprint(s.batches()); got != "[[ev-0000 ev-0001 ev-0002 ev-0003] [ev-0004 ev-0005 ev-0006 ev-0007] [ev-0004] [ev-0005] [ev-0006] [ev-0007] [ev-0008 ev-0009]]" {
		t.Fatalf("batches %s", got)
	}
	if st := r.d.Stats()[0]; st.Dropped != 1 || st.Delivered != 9 {
		t.Fatalf("stats %+v", st)
	}
	if len(r.timer.Waits()) != 0 {
		t.Fatalf("a rejection waited: %v", r.timer.Waits())
	}
	if !strings.Contains(r.logs.String(), "event=ev-0005") {
		t.Fatalf("the dropped event is not logged:\n%s", r.logs)
	}
}

func TestBatchErrorRetriesOnlyTheNamedEvents(t *testing.T) {
	s := newScripted("a", func(call int, batch []sinks.Event) error {
		if call == 1 {
			return &sinks.BatchError{Retry: []int{1, 3}, Dropped: []sinks.ItemError{{Index: 2, Err: errors.New("mapping error")}}, Err: sinks.RetryAfter(errors.New("429"), 3*time.Second)}
		}
		return nil
	})
	r := newRig(t, sinks.Delivery{InitialBackoff: time.Second}, s)
	if err := r.publishAndFlush(t, events(5)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.batches()); got != "[[ev-0000 ev-0001 ev-0002 ev-0003 ev-0004] [ev-0001 ev-0003]]" {
		t.Fatalf("batches %s", got)
	}
	if got := fmt.Sprint(s.received()); got != "[ev-0000 ev-0004 ev-0001 ev-0003]" {
		t.Fatalf("received %s", got)
	}
	if got := r.timer.Waits(); !slices.Equal(got, []time.Duration{3 * time.Second}) {
		t.Fatalf("waits %v", got)
	}
	if st := r.d.Stats()[0]; st.Dropped != 1 || st.Delivered != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAckFailureResendsNeverLoses(t *testing.T) {
	s := newScripted("a", nil)
	r := newRig(t, sinks.Delivery{BatchSize: 3}, s)
	r.q.FailAck(1)
	r.q.FailPending(1)
	if err := r.publishAndFlush(t, events(5)); err != nil {
		t.Fatal(err)
	}
	// The first batch was accepted but could not be acked: it is sent again.
	if got := fmt.Sprint(s.received()); got != "[ev-0000 ev-0001 ev-0002 ev-0000 ev-0001 ev-0002 ev-0003 ev-0004]" {
		t.Fatalf("received %s", got)
	}
	if n, _ := r.q.Len(context.Background(), "a"); n != 0 {
		t.Fatalf("%d left in the queue", n)
	}
	if len(r.timer.Waits()) != 2 {
		t.Fatalf("waits %v, want one for the failed read and one for the failed ack", r.timer.Waits())
	}
}

func TestUnreadableQueueEntryIsDropped(t *testing.T) {
	s := newScripted("a", nil)
	r := newRig(t, sinks.Delivery{}, s)
	ctx := context.Background()
	evs := events(2)
	r.d.Publish(ctx, evs[0])
	r.q.Corrupt("a")
	if err := r.publishAndFlush(t, evs[1:]); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.received()); got != "[ev-0000 ev-0001]" {
		t.Fatalf("received %s", got)
	}
	if st := r.d.Stats()[0]; st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(r.logs.String(), "unreadable entry") {
		t.Fatalf("not logged:\n%s", r.logs)
	}
}

func TestOneSinkDownDoesNotHoldBackAnother(t *testing.T) {
	down := newScripted("down", func(int, []sinks.Event) error { return errors.New("connection refused") })
	up := newScripted("up", nil)
	q := sinktest.NewMemQueue()
	waiting := make(chan struct{}, 100)
	after := func(time.Duration) <-chan time.Time {
		waiting <- struct{}{}
		return nil // backoffs never end within this test
	}
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{down, up}, After: after})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	evs := events(5)
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	for len(up.received()) < 5 {
		select {
		case <-up.sent:
		case <-ctx.Done():
			t.Fatal("the healthy sink did not get its events")
		}
	}
	select {
	case <-waiting:
	case <-ctx.Done():
		t.Fatal("the failing sink is not backing off")
	}
	cancel()
	<-done
	if n, _ := q.Len(context.Background(), "down"); n != 5 {
		t.Fatalf("the failing sink's queue holds %d, want all 5", n)
	}
	if n, _ := q.Len(context.Background(), "up"); n != 0 {
		t.Fatalf("the healthy sink's queue holds %d", n)
	}
}

func TestRunWakesOnPublish(t *testing.T) {
	s := newScripted("a", nil)
	q := sinktest.NewMemQueue()
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, After: sinktest.NewTimer(nil).After})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for round := 0; round < 3; round++ {
		if err := d.Publish(ctx, events(round + 1)[round]); err != nil {
			t.Fatal(err)
		}
		for len(s.received()) < round+1 {
			select {
			case <-s.sent:
			case <-ctx.Done():
				t.Fatalf("round %d not delivered", round)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPublishValidatesBeforeStoring(t *testing.T) {
	s := newScripted("a", nil)
	r := newRig(t, sinks.Delivery{}, s)
	evs := events(2)
	evs[1].Type = "Bad Type"
	err := r.d.Publish(context.Background(), evs...)
	if err == nil || !strings.Contains(err.Error(), `type "Bad Type"`) {
		t.Fatalf("Publish = %v", err)
	}
	if n, _ := r.q.Len(context.Background(), "a"); n != 0 {
		t.Fatalf("%d events stored from a refused publish", n)
	}
}

func TestNewDispatcherChecksOptions(t *testing.T) {
	q := sinktest.NewMemQueue()
	for _, tc := range []struct {
		opts sinks.Options
		want string
	}{
		{sinks.Options{}, "sinks: NewDispatcher needs a Queue"},
		{sinks.Options{Queue: q, Sinks: []sinks.Sink{newScripted("a", nil), newScripted("a", nil)}}, `sinks: two sinks are named "a"; give each a distinct name`},
		{sinks.Options{Queue: q, Sinks: []sinks.Sink{newScripted("Bad Name", nil)}}, `sinks: sink 0: name "Bad Name": want 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit`},
		{sinks.Options{Queue: q, Delivery: sinks.Delivery{Jitter: 2}}, "delivery.jitter: 2 is outside [0, 1]"},
		{sinks.Options{Queue: q, Delivery: sinks.Delivery{InitialBackoff: time.Minute, MaxBackoff: time.Second}}, "delivery.max_backoff: 1s is below delivery.initial_backoff 1m0s"},
	} {
		_, err := sinks.NewDispatcher(tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("NewDispatcher = %v, want %q", err, tc.want)
		}
	}
}

func TestMemQueueConformance(t *testing.T) {
	sinktest.TestQueue(t, func(*testing.T) sinks.Queue { return sinktest.NewMemQueue() })
}

// rawMem is a RawQueue in memory, to test NewStoreQueue's encoding.
type rawMem struct {
	mu   sync.Mutex
	next int64
	rows map[string][]rawRow
}

type rawRow struct {
	id int64
	p  []byte
}

func (m *rawMem) EnqueueSinkEvents(_ context.Context, sinks []string, payloads [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range payloads {
		for _, s := range sinks {
			m.next++
			m.rows[s] = append(m.rows[s], rawRow{m.next, slices.Clone(p)})
		}
	}
	return nil
}

func (m *rawMem) ScanSinkEvents(_ context.Context, sink string, limit int, fn func(int64, []byte) error) error {
	m.mu.Lock()
	rows := slices.Clone(m.rows[sink])
	m.mu.Unlock()
	for i, r := range rows {
		if i == limit {
			break
		}
		if err := fn(r.id, r.p); err != nil {
			return err
		}
	}
	return nil
}

func (m *rawMem) AckSinkEvents(_ context.Context, sink string, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[sink] = slices.DeleteFunc(m.rows[sink], func(r rawRow) bool { return slices.Contains(ids, r.id) })
	return nil
}

func (m *rawMem) CountSinkEvents(_ context.Context, sink string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows[sink]), nil
}

func TestStoreQueueConformance(t *testing.T) {
	sinktest.TestQueue(t, func(*testing.T) sinks.Queue { return sinks.NewStoreQueue(&rawMem{rows: map[string][]rawRow{}}) })
}

func TestStoreQueueMarksDamagedRows(t *testing.T) {
	raw := &rawMem{rows: map[string][]rawRow{}}
	raw.EnqueueSinkEvents(context.Background(), []string{"a"}, [][]byte{[]byte(`{"id":"x"`), []byte(`{"id":"ev-1","time":"2025-03-01T12:00:00Z","type":"NOT VALID"}`)})
	got, err := sinks.NewStoreQueue(raw).Pending(context.Background(), "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Bad == nil || got[1].Bad == nil {
		t.Fatalf("Pending = %+v, want both rows marked bad", got)
	}
}
