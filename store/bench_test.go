package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/benchmeter"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/triage/model"
)

// benchAlerts builds the alerts of one op, as ingest would after decoding a request.
func benchAlerts(n, seed int) []*model.Alert {
	alerts := make([]*model.Alert, n)
	for i := range alerts {
		alerts[i] = testAlert(seed + i)
	}
	return alerts
}

// benchSubmit runs b.N ops of perOp alerts from workers goroutines. With incidents,
// each op also upserts one of 1,000 incidents and adds the alert's entities to it, as
// correlation does.
func benchSubmit(b *testing.B, perOp, workers int, incidents bool) {
	var batches, batchOps atomic.Int64
	s := openTest(b, "", Options{Clock: clock.Real{}, OnBatch: func(ops int, _ time.Duration) {
		batches.Add(1)
		batchOps.Add(int64(ops))
	}})
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				alerts := benchAlerts(perOp, i*perOp)
				var inc *model.Incident
				if incidents {
					id := int64(i%1000 + 1)
					inc = &model.Incident{ID: id, Number: model.IncidentNumber(id), Title: "Port scan", Kind: model.KindNormal,
						Status: model.StatusOpen, Severity: model.SeverityHigh, Category: model.CategoryScan, AlertCount: i,
						FirstSeen: t0, LastSeen: t0, OpenedAt: t0, UpdatedAt: t0}
					for _, a := range alerts {
						a.IncidentID = id
					}
				}
				err := s.Submit(ctx, func(tx Tx) error {
					for _, a := range alerts {
						a.ID = tx.NextAlertID()
					}
					if err := tx.InsertAlerts(alerts); err != nil {
						return err
					}
					if inc != nil {
						if err := tx.UpsertIncident(inc); err != nil {
							return err
						}
						for _, a := range alerts {
							if err := tx.AddIncidentEntities(inc.ID, a.Entities); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(benchmeter.CPUTime()-cpu0)/float64(b.N*perOp), "cpu-ns/alert")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(batchOps.Load())/float64(n), "ops/batch")
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "wal-MiB")
	}
}

func BenchmarkSubmit1x16(b *testing.B)   { benchSubmit(b, 1, 16, false) }
func BenchmarkSubmit1x64(b *testing.B)   { benchSubmit(b, 1, 64, false) }
func BenchmarkSubmit10x16(b *testing.B)  { benchSubmit(b, 10, 16, false) }
func BenchmarkSubmit100x8(b *testing.B)  { benchSubmit(b, 100, 8, false) }
func BenchmarkSubmit1000x2(b *testing.B) { benchSubmit(b, 1000, 2, false) }

// With incident upserts and entity inserts, as the correlated ingest path writes.
func BenchmarkSubmitCorrelated1x16(b *testing.B)  { benchSubmit(b, 1, 16, true) }
func BenchmarkSubmitCorrelated100x8(b *testing.B) { benchSubmit(b, 100, 8, true) }

// BenchmarkSubmitEmpty measures the queue and group-commit overhead alone.
func BenchmarkSubmitEmpty16(b *testing.B) {
	s := openTest(b, "", Options{Clock: clock.Real{}})
	ctx := context.Background()
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Submit(ctx, func(Tx) error { return nil }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAlertsPage(b *testing.B) {
	s := openTest(b, "", Options{})
	for i := 0; i < 10; i++ {
		insertAlerts(b, s, benchAlerts(1000, i*1000)...)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := s.Alerts(ctx, AlertFilter{Limit: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIncidentAlerts reads the newest 100 alerts of one of 10 incidents of
// 2,000 alerts each (20,000 in all, the incidents interleaved), as the actions engine
// and the chat layer do: with every alert up to the mark of migration 0009, and with
// the most the writer leaves after it (indexAlertsEvery-1 alerts, read by rowid).
func BenchmarkIncidentAlerts(b *testing.B) {
	for _, tail := range []int{0, indexAlertsEvery - 1} {
		b.Run(fmt.Sprintf("tail=%d", tail), func(b *testing.B) {
			s := openTest(b, "", Options{})
			ctx := context.Background()
			alerts := benchAlerts(20_000-tail, 0)
			for i, a := range alerts {
				a.IncidentID = int64(1 + i%10)
			}
			insertAlerts(b, s, alerts...) // one commit: all of them indexed
			if tail > 0 {
				for i := range tail { // one commit each, so that the mark stays
					a := benchAlerts(1, 20_000+i)[0]
					a.IncidentID = int64(1 + i%10)
					insertAlerts(b, s, a)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				page, _, err := s.Alerts(ctx, AlertFilter{IncidentID: int64(1 + i%10), Limit: 100, NoRaw: true})
				if err != nil || len(page) != 100 {
					b.Fatalf("%d alerts, %v", len(page), err)
				}
				i++
			}
		})
	}
}

func BenchmarkEncodeEntities(b *testing.B) {
	a := testAlert(1)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEntitiesJSON(buf[:0], a.Entities)
		buf = appendLabelsJSON(buf[:0], a.Labels)
	}
	_ = fmt.Sprint(len(buf))
}

// BenchmarkIncidentRead reads one of 10,000 incidents of 6 entities each by id, as the
// API, the chat layer and the actions engine do.
func BenchmarkIncidentRead(b *testing.B) {
	s := openTest(b, "", Options{})
	ctx := context.Background()
	const n = 10_000
	err := s.Submit(ctx, func(tx Tx) error {
		for i := range n {
			id := tx.NextIncidentID()
			inc := &model.Incident{ID: id, Number: model.IncidentNumber(id), Title: "SSH brute force", Kind: model.KindNormal,
				Status: model.StatusOpen, Severity: model.SeverityHigh, Category: model.CategoryBruteforce, AlertCount: 7,
				FirstSeen: t0, LastSeen: t0, OpenedAt: t0, UpdatedAt: t0}
			if err := tx.UpsertIncident(inc); err != nil {
				return err
			}
			ents := []model.Entity{{Kind: model.EntityIP, Value: fmt.Sprintf("203.0.%d.%d", i/250, i%250), Role: model.RoleSrc}}
			for v := range 5 {
				ents = append(ents, model.Entity{Kind: model.EntityIP, Value: fmt.Sprintf("172.16.%d.%d", v, i%250), Role: model.RoleDst})
			}
			if err := tx.AddIncidentEntities(id, ents); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inc, err := s.Incident(ctx, int64(i%n+1))
		if err != nil {
			b.Fatal(err)
		}
		if len(inc.Entities) != 6 {
			b.Fatalf("%d entities, want 6", len(inc.Entities))
		}
		i++
	}
}
