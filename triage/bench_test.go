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

// BenchmarkEngineAdd measures correlating one alert (one op) with 10 and 10,000 open
// incidents: the cost must not grow with the number of incidents.
func BenchmarkEngineAdd(b *testing.B) {
	for _, open := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			e, err := NewEngine(DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			var nextInc, nextAlert int64
			newID := func() int64 { nextInc++; return nextInc }
			ents := make([][]model.Entity, open)
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
			for i := range open {
				add(i, t0)
			}
			if got := e.Stats().LiveIncidents; got != open {
				b.Fatalf("%d open incidents, want %d", got, open)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				add(i%open, t0.Add(time.Duration(i%1000)*time.Millisecond))
				i++
			}
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
		alerts := make([]*model.Alert, 0, incidents*perIncident)
		for j := range perIncident {
			for i := range incidents {
				at := t0.Add(time.Duration(j*incidents+i) * 10 * time.Millisecond)
				a := fmt.Sprintf("%d.%d.%d.%d", 11+i>>16&63, i>>8&255, i&255, 7)
				v := fmt.Sprintf("172.%d.%d.%d", 16+i>>16&15, i>>8&255, i&255)
				alerts = append(alerts, &model.Alert{Source: "suricata", Format: "suricata", Rule: "ET SCAN Potential SSH Scan",
					Title: "ET SCAN Potential SSH Scan", SourceRef: "1:2001219:20", Severity: model.SeverityMedium,
					Category: model.CategoryBruteforce, EventTime: at, ReceivedAt: at,
					Entities: []model.Entity{src(a), dst(v),
						{Kind: model.EntityCommunityID, Value: scenario.CommunityID(a, v, "TCP", 40000+j, 22), Role: model.RoleObserver}},
					Labels:      map[string]string{"proto": "TCP", "dest_port": "22", "app_proto": "ssh", "in_iface": "eth1", "action": "allowed"},
					Fingerprint: fmt.Sprintf("%016x", j*incidents+i)})
			}
		}
		b.StartTimer()
		start := time.Now()
		for k := 0; k < len(alerts); k += batch {
			clk.Set(alerts[k].EventTime)
			if _, err := p.Ingest(context.Background(), alerts[k:k+batch]); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		stats, err := p.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if stats.LiveIncidents != incidents {
			b.Fatalf("%d live incidents, want %d", stats.LiveIncidents, incidents)
		}
		alerts = nil
		rss := rssMB(b)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(incidents*perIncident)/elapsed.Seconds(), "alerts/s")
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
