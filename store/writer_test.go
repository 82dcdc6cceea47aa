package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// blockWriter submits an op that holds the writer until the returned release is
// called, and returns once that op is running: everything submitted afterwards
// queues up and is taken as one batch after release.
func blockWriter(t *testing.T, s *SQLite) (release func()) {
	t.Helper()
	running, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Submit(context.Background(), func(Tx) error {
			close(running)
			<-hold
			return nil
		})
	}()
	<-running
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(hold)
			if err := <-done; err != nil {
				t.Errorf("blocking op: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n requests sit in the writer's queue.
func waitQueued(s *SQLite, n int) {
	for len(s.queue) < n {
		runtime.Gosched()
	}
}

type batchLog struct {
	mu    sync.Mutex
	sizes []int
}

func (l *batchLog) observe(ops int, _ time.Duration) {
	l.mu.Lock()
	l.sizes = append(l.sizes, ops)
	l.mu.Unlock()
}

func (l *batchLog) get() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.sizes...)
}

func TestGroupCommitBatchesConcurrentSubmits(t *testing.T) {
	var log batchLog
	s := openTest(t, "", Options{OnBatch: log.observe})
	release := blockWriter(t, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Submit(context.Background(), func(tx Tx) error {
				a := testAlert(i)
				a.ID = tx.NextAlertID()
				return tx.InsertAlerts([]*model.Alert{a})
			})
		}()
	}
	waitQueued(s, n)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sizes := log.get()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != n {
		t.Fatalf("batch sizes %v, want [1 %d]: the %d queued ops should commit together", sizes, n, n)
	}
	list, _, err := s.Alerts(context.Background(), AlertFilter{Limit: 100})
	if err != nil || len(list) != n {
		t.Fatalf("%d alerts after the batch (%v), want %d", len(list), err, n)
	}
}

func TestGroupCommitRespectsMaxBatch(t *testing.T) {
	var log batchLog
	s := openTest(t, "", Options{OnBatch: log.observe, MaxBatch: 4})
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Submit(context.Background(), func(Tx) error { return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(s, 10)
	release()
	wg.Wait()
	if got := log.get(); !equalInts(got, []int{1, 4, 4, 2}) {
		t.Fatalf("batch sizes %v, want [1 4 4 2]", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var errBadOp = errors.New("bad op")

// TestFailingOpFailsAlone queues good ops around a failing one in one batch: the
// failing op gets its error, the others commit, and every op that ran in the failed
// batch has its OnRollback called.
func TestFailingOpFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(tx Tx) error
	}{
		{"op returns an error", func(tx Tx) error {
			a := testAlert(99)
			a.ID = tx.NextAlertID()
			if err := tx.InsertAlerts([]*model.Alert{a}); err != nil {
				return err
			}
			return errBadOp
		}},
		// A duplicate id only fails when the buffered rows are written: at commit in
		// the batch, where the error cannot be pinned on one op, and at the op's own
		// commit when it runs alone.
		{"constraint fails at commit", func(tx Tx) error {
			a, b := testAlert(98), testAlert(99)
			a.ID = tx.NextAlertID()
			b.ID = a.ID
			return tx.InsertAlerts([]*model.Alert{a, b})
		}},
		{"op panics", func(tx Tx) error { panic("boom") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log batchLog
			s := openTest(t, "", Options{OnBatch: log.observe})
			release := blockWriter(t, s)
			const good = 6
			var rollbacks [good + 1]atomic.Int32
			errs := make([]error, good+1)
			ids := make([]int64, good+1)
			var wg sync.WaitGroup
			submit := func(i int, op Op) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.Submit(context.Background(), func(tx Tx) error {
						tx.OnRollback(func() { rollbacks[i].Add(1) })
						return op(tx)
					})
				}()
				waitQueued(s, i+1) // keep the queue order: good ops on both sides of the bad one
			}
			for i := range good + 1 {
				if i == good/2 {
					submit(i, tc.bad)
					continue
				}
				submit(i, func(tx Tx) error {
					a := testAlert(i)
					a.ID = tx.NextAlertID()
					ids[i] = a.ID
					return tx.InsertAlerts([]*model.Alert{a})
				})
			}
			release()
			wg.Wait()
			for i, err := range errs {
				if i == good/2 {
					if err == nil {
						t.Fatalf("bad op succeeded")
					}
					continue
				}
				if err != nil {
					t.Fatalf("good op %d failed with %v", i, err)
				}
				if _, err := s.Alert(context.Background(), ids[i]); err != nil {
					t.Fatalf("good op %d: its alert %d: %v", i, ids[i], err)
				}
			}
			if tc.name == "op returns an error" && !errors.Is(errs[good/2], errBadOp) {
				t.Fatalf("bad op got %v, want its own error", errs[good/2])
			}
			list, _, _ := s.Alerts(context.Background(), AlertFilter{})
			if len(list) != good {
				t.Fatalf("%d alerts committed, want %d (the good ops' only)", len(list), good)
			}
			// The ops that ran in the failed batch rolled back once; the bad op once more
			// when run alone.
			ran := good/2 + 1
			if tc.name == "constraint fails at commit" {
				ran = good + 1
			}
			for i := range good + 1 {
				want := int32(0)
				if i < ran {
					want = 1
				}
				if i == good/2 {
					want = 2
				}
				if got := rollbacks[i].Load(); got != want {
					t.Errorf("op %d: OnRollback ran %d times, want %d", i, got, want)
				}
			}
		})
	}
}

func TestOnRollbackRunsOnlyWhenTheTransactionFails(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	var calls []string
	err := s.Submit(ctx, func(tx Tx) error {
		tx.OnRollback(func() { calls = append(calls, "first") })
		tx.OnRollback(func() { calls = append(calls, "second") })
		return errBadOp
	})
	if !errors.Is(err, errBadOp) {
		t.Fatalf("Submit = %v, want the op's error", err)
	}
	if len(calls) != 2 || calls[0] != "second" || calls[1] != "first" {
		t.Fatalf("rollback callbacks ran %v, want [second first]", calls)
	}
	calls = nil
	if err := s.Submit(ctx, func(tx Tx) error {
		tx.OnRollback(func() { calls = append(calls, "committed") })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("rollback callbacks ran after a commit: %v", calls)
	}
}

func TestFailedBatchRestoresAuditChain(t *testing.T) {
	s := openTest(t, "", Options{})
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	results := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Submit(context.Background(), func(tx Tx) error {
				if err := tx.AppendAudit(&model.AuditEntry{Actor: "a", Action: "x", Subject: "s"}); err != nil {
					return err
				}
				if i == 1 {
					return errBadOp
				}
				return nil
			})
		}()
		waitQueued(s, i+1)
	}
	release()
	wg.Wait()
	if results[0] != nil || !errors.Is(results[1], errBadOp) || results[2] != nil {
		t.Fatalf("results %v, want [nil bad nil]", results)
	}
	n, err := s.VerifyAudit(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("VerifyAudit = %d, %v; want 2 entries, unbroken", n, err)
	}
}

func TestSubmitWithdrawnWhenContextEndsBeforeStart(t *testing.T) {
	s := openTest(t, "", Options{})
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() { done <- s.Submit(ctx, func(Tx) error { ran.Store(true); return nil }) }()
	waitQueued(s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit = %v, want context.Canceled", err)
	}
	release()
	// A later op runs after the withdrawn one would have.
	if err := s.Submit(context.Background(), func(Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Fatal("the withdrawn op ran")
	}
}

func TestSubmitCommitsOnceStarted(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var id int64
	err := s.Submit(ctx, func(tx Tx) error {
		cancel() // the submitter gives up while its op runs
		a := testAlert(1)
		a.ID = tx.NextAlertID()
		id = a.ID
		return tx.InsertAlerts([]*model.Alert{a})
	})
	if err != nil {
		t.Fatalf("Submit = %v, want nil: a started op commits regardless", err)
	}
	if _, err := s.Alert(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDrainsQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warroom.db")
	s := openTest(t, path, Options{})
	release := blockWriter(t, s)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Submit(context.Background(), func(tx Tx) error {
				a := testAlert(i)
				a.ID = tx.NextAlertID()
				return tx.InsertAlerts([]*model.Alert{a})
			})
		}()
	}
	waitQueued(s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Close stops new submits at once, while the queued ones wait for the writer.
	for {
		s.mu.RLock()
		c := s.closed
		s.mu.RUnlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	if err := s.Submit(context.Background(), func(Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit during Close = %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("queued op: %v", err)
		}
	}
	if err := s.Submit(context.Background(), func(Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = openTest(t, path, Options{})
	list, _, err := s.Alerts(context.Background(), AlertFilter{})
	if err != nil || len(list) != n {
		t.Fatalf("after reopening: %d alerts (%v), want the %d queued at Close", len(list), err, n)
	}
}

func TestMoveAlertsMergesIncidents(t *testing.T) {
	s := openTest(t, "", Options{})
	ctx := context.Background()
	ip := model.Entity{Kind: model.EntityIP, Value: "203.0.113.7", Role: model.RoleSrc}
	hostA := model.Entity{Kind: model.EntityHost, Value: "a", Role: model.RoleDst}
	hostB := model.Entity{Kind: model.EntityHost, Value: "b", Role: model.RoleDst}
	var from, to int64
	err := s.Submit(ctx, func(tx Tx) error {
		to, from = tx.NextIncidentID(), tx.NextIncidentID()
		for _, id := range []int64{to, from} {
			if err := tx.UpsertIncident(&model.Incident{ID: id, Number: model.IncidentNumber(id), Status: model.StatusOpen, Kind: model.KindNormal}); err != nil {
				return err
			}
		}
		if err := tx.AddIncidentEntities(to, []model.Entity{ip, hostA}); err != nil {
			return err
		}
		if err := tx.AddIncidentEntities(from, []model.Entity{ip, hostB, ip}); err != nil {
			return err
		}
		var alerts []*model.Alert
		for i, inc := range []int64{to, from, from} {
			a := testAlert(i)
			a.ID, a.IncidentID = tx.NextAlertID(), inc
			alerts = append(alerts, a)
		}
		if err := tx.InsertAlerts(alerts); err != nil {
			return err
		}
		return tx.MoveAlerts(from, to) // sees the rows buffered above
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Incident(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Entity{ip, hostA, hostB}
	if !reflect.DeepEqual(got.Entities, want) {
		t.Fatalf("merged entities %v, want %v", got.Entities, want)
	}
	list, _, _ := s.Alerts(ctx, AlertFilter{IncidentID: to})
	if len(list) != 3 {
		t.Fatalf("%d alerts in the merged incident, want 3", len(list))
	}
	if list, _, _ := s.Alerts(ctx, AlertFilter{IncidentID: from}); len(list) != 0 {
		t.Fatalf("%d alerts left in the merged-away incident", len(list))
	}
	old, err := s.Incident(ctx, from)
	if err != nil || len(old.Entities) != 0 {
		t.Fatalf("merged-away incident keeps entities %v (%v)", old.Entities, err)
	}
}

func TestOpPanicDoesNotStopWriter(t *testing.T) {
	s := openTest(t, "", Options{})
	if err := s.Submit(context.Background(), func(Tx) error { panic("boom") }); err == nil {
		t.Fatal("panicking op succeeded")
	}
	insertAlerts(t, s, testAlert(1))
}

func TestWALStartsOverUnderSustainedWrites(t *testing.T) {
	defer func(a, b int64, c int) { walRestartFrames, walTruncateFrames, checkpointEvery = a, b, c }(walRestartFrames, walTruncateFrames, checkpointEvery)
	walRestartFrames, walTruncateFrames, checkpointEvery = 128, 1<<30, 32 // 512 KiB

	s := openTest(t, "", Options{})
	raw := []byte(`"` + strings.Repeat("abcdefghij", 100) + `"`)
	// Write transactions of 25 alerts (about 30 KiB with indexes) until the WAL has
	// started over twice; without restarts 400 of them make a 12 MiB WAL.
	restarts, written := 0, 0
	for restarts < 2 {
		if written == 400 {
			t.Fatalf("the WAL started over %d times in %d transactions with a 512 KiB threshold, want 2", restarts, written)
		}
		alerts := benchAlerts(25, written*25)
		err := s.Submit(context.Background(), func(tx Tx) error {
			for _, a := range alerts {
				a.ID, a.Raw = tx.NextAlertID(), raw
			}
			restarts = tx.(*writeTx).w.walRestarts
			return tx.InsertAlerts(alerts)
		})
		if err != nil {
			t.Fatal(err)
		}
		written++
	}
	total := written * 25
	list, _, err := s.Alerts(context.Background(), AlertFilter{Limit: 1000})
	if err != nil || len(list) != min(total, 1000) || list[0].ID != int64(total) {
		t.Fatalf("after WAL restarts: %d alerts (%v)", len(list), err)
	}
	n := 0
	if err := s.ScanAlerts(context.Background(), time.Time{}, func(*model.Alert) error { n++; return nil }); err != nil || n != total {
		t.Fatalf("after WAL restarts: scanned %d alerts (%v), want %d", n, err, total)
	}
}
