package triage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/benchmeter"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/loadgen"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/store/storetest"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

// BenchmarkEngineAdd measures correlating one alert (one op) with 10, 10,000 and
// 100,000 open incidents, and the heap the engine holds per open incident. hot=10 sends every alert to 10 of the open incidents: its
// cost equals that with 10 open, so nothing scans the open incidents. hot=all spreads
// alerts over every open incident: the remaining growth is the working set outgrowing
// the CPU caches, not work.
func BenchmarkEngineAdd(b *testing.B) {
	for _, tc := range []struct{ open, hot int }{{10, 10}, {10_000, 10}, {10_000, 10_000}, {100_000, 100_000}} {
		hot := "all"
		if tc.hot < tc.open {
			hot = strconv.Itoa(tc.hot)
		}
		b.Run(fmt.Sprintf("open=%d/hot=%s", tc.open, hot), func(b *testing.B) {
			e, err := NewEngine(DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			var nextInc, nextAlert int64
			newID := func() int64 { nextInc++; return nextInc }
			ents := make([][]model.Entity, tc.open)
			for i := range ents {
				ents[i] = []model.Entity{
					src(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)),
					dst(fmt.Sprintf("172.%d.%d.%d", 16+i>>16&15, i>>8&255, i&255)),
				}
			}
			add := func(i int, at time.Time) {
				nextAlert++
				a := &model.Alert{ID: nextAlert, Rule: "ET SCAN Potential SSH Scan", Severity: model.SeverityMedium,
					Category: model.CategoryBruteforce, EventTime: at, ReceivedAt: at, Entities: ents[i],
					Fingerprint: strconv.FormatInt(nextAlert, 36)}
				m := e.Begin(at)
				e.Add(a, newID)
				e.Changes()
				e.Release(m)
			}
			heap := func() int64 {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				return int64(ms.HeapAlloc)
			}
			before := heap()
			for i := range tc.open {
				add(i, t0)
			}
			if got := e.Stats().LiveIncidents; got != tc.open {
				b.Fatalf("%d open incidents, want %d", got, tc.open)
			}
			// The engine's state per open incident (two parties each, as in the bench
			// load), live after a collection; reported after the loop, which resets
			// the metrics.
			perIncident := float64(heap()-before) / float64(tc.open)
			b.ReportAllocs()
			i := 0
			cpu := benchmeter.CPUTime()
			for b.Loop() {
				add(i%tc.hot, t0.Add(time.Duration(i%1000)*time.Millisecond))
				i++
			}
			b.ReportMetric(float64(benchmeter.CPUTime()-cpu)/float64(i), "cpu-ns/op")
			b.ReportMetric(perIncident, "heap-B/incident")
		})
	}
}

// rssMB reads the process's resident set size.
func rssMB(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Skip("no VmRSS")
	return 0
}

// BenchmarkPipeline100k ingests 100,000 Suricata-like alerts forming 10,000 incidents,
// in requests of 100, into a real SQLite file, and reports alerts/s and the process's
// resident memory afterwards (run it alone: -run XXX -bench Pipeline100k -benchtime 1x).
func BenchmarkPipeline100k(b *testing.B) {
	const incidents, perIncident, batch = 10_000, 10, 100
	for b.Loop() {
		b.StopTimer()
		st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		clk := clock.NewFake(t0)
		p, err := NewPipeline(context.Background(), st, DefaultConfig(), clk, quietLog())
		if err != nil {
			b.Fatal(err)
		}
		// Alerts are made batch by batch, as requests bring them: the process holds
		// only what warroom itself keeps.
		make1 := func(n int) *model.Alert {
			j, i := n/incidents, n%incidents
			at := t0.Add(time.Duration(n) * 10 * time.Millisecond)
			a := fmt.Sprintf("%d.%d.%d.%d", 11+i>>16&63, i>>8&255, i&255, 7)
			v := fmt.Sprintf("172.%d.%d.%d", 16+i>>16&15, i>>8&255, i&255)
			return &model.Alert{Source: "suricata", Format: "suricata", Rule: "ET SCAN Potential SSH Scan",
				Title: "ET SCAN Potential SSH Scan", SourceRef: "1:2001219:20", Severity: model.SeverityMedium,
				Category: model.CategoryBruteforce, EventTime: at, ReceivedAt: at,
				Entities: []model.Entity{src(a), dst(v),
					{Kind: model.EntityCommunityID, Value: scenario.CommunityID(a, v, "TCP", 40000+j, 22), Role: model.RoleObserver}},
				Labels:      map[string]string{"proto": "TCP", "dest_port": "22", "app_proto": "ssh", "in_iface": "eth1", "action": "allowed"},
				Fingerprint: fmt.Sprintf("%016x", n)}
		}
		b.StartTimer()
		start, cpu := time.Now(), benchmeter.CPUTime()
		reqs := make([]*model.Alert, batch)
		for k := 0; k < incidents*perIncident; k += batch {
			for n := range reqs {
				reqs[n] = make1(k + n)
			}
			clk.Set(reqs[0].EventTime)
			if _, err := p.Ingest(context.Background(), reqs); err != nil {
				b.Fatal(err)
			}
		}
		elapsed, cpuUsed := time.Since(start), benchmeter.CPUTime()-cpu
		b.StopTimer()
		clear(reqs)
		stats, err := p.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if stats.LiveIncidents != incidents {
			b.Fatalf("%d live incidents, want %d", stats.LiveIncidents, incidents)
		}
		rss := rssMB(b)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(incidents*perIncident)/elapsed.Seconds(), "alerts/s")
		b.ReportMetric(float64(cpuUsed)/float64(incidents*perIncident), "cpu-ns/alert")
		b.ReportMetric(rss, "RSS-MB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
		b.ReportMetric(float64(stats.IndexKeys), "index-keys")
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(p)
		b.StartTimer()
	}
}

// BenchmarkPipelineIngest measures durable, correlated ingest in requests of 100
// alerts into a real SQLite file, with 10 and with 10,000 incidents open: the
// throughput must not depend on how many incidents are open.
func BenchmarkPipelineIngest(b *testing.B) {
	for _, open := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			clk := clock.NewFake(t0)
			p, err := NewPipeline(context.Background(), st, DefaultConfig(), clk, quietLog())
			if err != nil {
				b.Fatal(err)
			}
			attackers := make([]string, open)
			victims := make([]string, open)
			for i := range open {
				attackers[i] = fmt.Sprintf("%d.%d.%d.%d", 11+i>>16&63, i>>8&255, i&255, 7)
				victims[i] = fmt.Sprintf("172.%d.%d.%d", 16+i>>16&15, i>>8&255, i&255)
			}
			n := 0
			next := func() *model.Alert {
				i := n % open
				n++
				at := t0.Add(time.Duration(n%100_000) * 10 * time.Millisecond)
				return &model.Alert{Source: "suricata", Format: "suricata", Rule: "ET SCAN Potential SSH Scan",
					Title: "ET SCAN Potential SSH Scan", Severity: model.SeverityMedium, Category: model.CategoryBruteforce,
					EventTime: at, ReceivedAt: at, Entities: []model.Entity{src(attackers[i]), dst(victims[i])},
					Labels: map[string]string{"proto": "TCP", "dest_port": "22"}, Fingerprint: strconv.Itoa(n)}
			}
			reqs := make([]*model.Alert, 100)
			ingest := func() {
				for k := range reqs {
					reqs[k] = next()
				}
				if _, err := p.Ingest(context.Background(), reqs); err != nil {
					b.Fatal(err)
				}
			}
			for n < open {
				ingest()
			}
			start, cpu := time.Now(), benchmeter.CPUTime()
			done := 0
			for b.Loop() {
				ingest()
				done += len(reqs)
			}
			b.ReportMetric(float64(done)/time.Since(start).Seconds(), "alerts/s")
			b.ReportMetric(float64(benchmeter.CPUTime()-cpu)/float64(done), "cpu-ns/alert")
		})
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// lockstep runs b.N requests (send renders and sends request r) in rounds of n: the
// writer is held in an op of its own until all n have queued behind it, then they
// commit together. It returns the number of rounds, each of which also commits the
// empty holding op.
func lockstep(b *testing.B, st *store.SQLite, n int, send func(r int64, body []byte) []byte) (rounds int64) {
	bufs := make([][]byte, n)
	var wg sync.WaitGroup
	for r := int64(0); r < int64(b.N); r += int64(n) {
		held, release := make(chan struct{}), make(chan struct{})
		go st.Submit(context.Background(), func(store.Tx) error {
			close(held)
			<-release
			return nil
		})
		<-held
		k := min(n, b.N-int(r))
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bufs[i] = send(r+int64(i), bufs[i])
			}()
		}
		for st.Queued() < k { // the requests are decoding: poll without taking a core
			time.Sleep(20 * time.Microsecond)
		}
		close(release)
		wg.Wait()
		rounds++
	}
	return rounds
}

// BenchmarkServerIngest is the server's work per alert without HTTP: request bodies
// exactly as `warroom bench ingest --format generic` sends them are decoded by the
// generic decoder with the example configuration's category rules, then correlated
// and committed through the pipeline into a real SQLite file, from conc goroutines at
// once (as the handlers of conc connections would). It reports load-independent
// figures: process CPU per alert (getrusage, every thread: decoder, writer,
// checkpointer, GC), heap allocations per alert, WAL bytes appended per alert, and
// alerts per commit. open is how many incidents are open before the measured phase.
//
// How many requests share a commit depends on scheduling, and the cost per alert on
// that: on a busy machine the free-running cases vary with it. In the lockstep cases
// (commit=N) exactly N requests are queued behind a held writer and then committed
// together, round after round, so their figures do not depend on the machine's load.
func BenchmarkServerIngest(b *testing.B) {
	rules, err := ingest.NewRuleTable([]ingest.RuleSpec{{Match: "(?i)bgp|ospf|route flap|routing loop", Category: "routing"}})
	if err != nil {
		b.Fatal(err)
	}
	dec, ok := ingest.Lookup("generic")
	if !ok {
		b.Fatal("no generic decoder")
	}
	for _, tc := range []struct {
		batch, conc, open int
		lockstep          bool
	}{{1, 16, 10, false}, {1, 16, 10_000, false}, {100, 8, 10, false}, {100, 8, 10_000, false},
		{1, 8, 10, true}, {1, 8, 10_000, true}, {100, 4, 10, true}, {100, 4, 10_000, true}} {
		name := fmt.Sprintf("batch=%d/conc=%d/open=%d", tc.batch, tc.conc, tc.open)
		if tc.lockstep {
			name = fmt.Sprintf("batch=%d/commit=%d/open=%d", tc.batch, tc.conc, tc.open)
		}
		b.Run(name, func(b *testing.B) {
			st, meter := storetest.OpenMetered(b)
			base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
			clk := clock.NewFake(base)
			p, err := NewPipeline(context.Background(), st, DefaultConfig(), clk, quietLog())
			if err != nil {
				b.Fatal(err)
			}
			ingestBody := func(body []byte) error {
				items, err := dec.Decode(body, ingest.Options{Source: "generic", Rules: rules, Now: base})
				if err != nil {
					return err
				}
				alerts := make([]*model.Alert, 0, len(items))
				for i, it := range items {
					if it.Err != nil {
						return fmt.Errorf("item %d: %w", i, it.Err)
					}
					alerts = append(alerts, it.Alert)
				}
				res, err := p.Ingest(context.Background(), alerts)
				if err == nil && res.Duplicates > 0 {
					err = fmt.Errorf("%d duplicates", res.Duplicates)
				}
				return err
			}
			// Open the incidents: one alert of each campaign, 100 to a request.
			setup, err := loadgen.NewBodies(loadgen.Config{Batch: 100, Incidents: tc.open}, base, 1)
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			setupAlerts := int64((tc.open + 99) / 100 * 100)
			for r := int64(0); r*100 < setupAlerts; r++ {
				buf = setup.Render(buf, r, 0)
				if err := ingestBody(buf); err != nil {
					b.Fatal(err)
				}
			}
			if s, err := p.Stats(context.Background()); err != nil || s.LiveIncidents != tc.open {
				b.Fatalf("%d live incidents (%v), want %d", s.LiveIncidents, err, tc.open)
			}
			bodies, err := loadgen.NewBodies(loadgen.Config{Batch: tc.batch, Incidents: tc.open}, base, 1)
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			frames0, commits0 := meter.Frames, meter.Commits // written on the writer goroutine only, which is idle now
			b.ResetTimer()
			cpu0 := benchmeter.CPUTime()
			var rounds int64
			if tc.lockstep {
				rounds = lockstep(b, st, tc.conc, func(r int64, body []byte) []byte {
					body = bodies.Render(body, r, setupAlerts)
					if err := ingestBody(body); err != nil {
						b.Error(err)
					}
					return body
				})
			}
			for range tc.conc * btoi(!tc.lockstep) {
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
						if err := ingestBody(body); err != nil {
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
			alerts := float64(b.N * tc.batch)
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/alerts, "cpu-µs/alert")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/alerts, "allocs/alert")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/alerts, "B/alert")
			b.ReportMetric(float64((meter.Frames-frames0)*benchmeter.FrameBytes)/alerts, "wal-B/alert")
			if c := meter.Commits - commits0 - rounds; c > 0 {
				b.ReportMetric(alerts/float64(c), "alerts/commit")
			}
			b.ReportMetric(alerts/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
