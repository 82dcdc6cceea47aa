package triage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

// BenchmarkEngineAdd measures correlating one alert (one op) with 10, 10,000 and
// 100,000 open incidents. hot=10 sends every alert to 10 of the open incidents: its
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
			for i := range tc.open {
				add(i, t0)
			}
			if got := e.Stats().LiveIncidents; got != tc.open {
				b.Fatalf("%d open incidents, want %d", got, tc.open)
			}
			b.ReportAllocs()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				add(i%tc.hot, t0.Add(time.Duration(i%1000)*time.Millisecond))
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(i), "cpu-ns/op")
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
		start, cpu := time.Now(), cpuTime()
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
		elapsed, cpuUsed := time.Since(start), cpuTime()-cpu
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
			start, cpu := time.Now(), cpuTime()
			done := 0
			for b.Loop() {
				ingest()
				done += len(reqs)
			}
			b.ReportMetric(float64(done)/time.Since(start).Seconds(), "alerts/s")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(done), "cpu-ns/alert")
		})
	}
}
