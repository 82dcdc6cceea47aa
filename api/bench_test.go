package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/benchmeter"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/loadgen"
	"github.com/warroom/warroom/store/storetest"
	"github.com/warroom/warroom/triage"
)

// BenchmarkIngestHandler is the server's work per alert short of the network: each
// request, with a body exactly as `warroom bench ingest --format generic` sends it,
// goes through the server's handler (routing, token check, decoding with the example
// configuration's category rules, correlation, the commit, the JSON answer, metrics)
// into a real SQLite file, from conc goroutines at once. It reports process CPU per
// alert (getrusage, every thread), heap allocations per alert, WAL bytes per alert and
// alerts per commit, with open incidents open before the measured phase.
func BenchmarkIngestHandler(b *testing.B) {
	for _, tc := range []struct{ batch, conc, open int }{{1, 16, 10}, {1, 16, 10_000}, {100, 8, 10}, {100, 8, 10_000}} {
		b.Run(fmt.Sprintf("batch=%d/conc=%d/open=%d", tc.batch, tc.conc, tc.open), func(b *testing.B) {
			benchHandler(b, tc.batch, tc.conc, tc.open)
		})
	}
}

func benchHandler(b *testing.B, batch, conc, open int) {
	st, meter := storetest.OpenMetered(b)
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(base)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := triage.NewPipeline(context.Background(), st, triage.DefaultConfig(), clk, log)
	if err != nil {
		b.Fatal(err)
	}
	rules, err := ingest.NewRuleTable([]ingest.RuleSpec{{Match: "(?i)bgp|ospf|route flap|routing loop", Category: "routing"}})
	if err != nil {
		b.Fatal(err)
	}
	dec, _ := ingest.Lookup("generic")
	const token = "bench-ingest-token"
	srv, err := New(Options{
		Sources:  []Source{{Name: "generic", Format: "generic", Decoder: dec, Token: token}},
		Rules:    rules,
		Pipeline: p, Store: st, Clock: clk, Log: log,
		Metrics: NewMetrics(prometheus.NewRegistry(), st.CountIncidentsByStatus),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	post := func(body []byte, ct string) error {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/api/v1/ingest/generic", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted || !bytes.Contains(rec.Body.Bytes(), []byte(`"duplicates":0`)) {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		return nil
	}
	// Open the incidents: one alert of each campaign, 100 to a request.
	setup, err := loadgen.NewBodies(loadgen.Config{Batch: 100, Incidents: open}, base, 1)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	setupAlerts := int64((open + 99) / 100 * 100)
	for r := int64(0); r*100 < setupAlerts; r++ {
		if err := post(setup.Render(buf, r, 0), setup.ContentType()); err != nil {
			b.Fatal(err)
		}
	}
	if s, err := p.Stats(context.Background()); err != nil || s.LiveIncidents != open {
		b.Fatalf("%d live incidents (%v), want %d", s.LiveIncidents, err, open)
	}
	bodies, err := loadgen.NewBodies(loadgen.Config{Batch: batch, Incidents: open}, base, 1)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	frames0, commits0 := meter.Frames, meter.Commits // the writer is idle: its last Submit returned
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for {
				r := next.Add(1) - 1
				if r >= int64(b.N) {
					return
				}
				body = bodies.Render(body, r, setupAlerts)
				if err := post(body, bodies.ContentType()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cpu := benchmeter.CPUTime() - cpu0
	b.StopTimer()
	if _, err := p.Stats(context.Background()); err != nil { // orders the meter's reads after the writer's
		b.Fatal(err)
	}
	runtime.ReadMemStats(&ms1)
	alerts := float64(b.N * batch)
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/alerts, "cpu-µs/alert")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/alerts, "allocs/alert")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/alerts, "B/alert")
	b.ReportMetric(float64((meter.Frames-frames0)*benchmeter.FrameBytes)/alerts, "wal-B/alert")
	if c := meter.Commits - commits0; c > 0 {
		b.ReportMetric(alerts/float64(c), "alerts/commit")
	}
	b.ReportMetric(alerts/b.Elapsed().Seconds(), "alerts/s")
}
