package triage

import (
	"fmt"
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
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
			attacker := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }
			victim := func(i int) string { return fmt.Sprintf("172.%d.%d.%d", 16+i>>16&15, i>>8&255, i&255) }
			add := func(i int, at time.Time) {
				nextAlert++
				a := &model.Alert{ID: nextAlert, Rule: "ET SCAN Potential SSH Scan", Severity: model.SeverityMedium,
					Category: model.CategoryBruteforce, EventTime: at, ReceivedAt: at,
					Entities:    []model.Entity{src(attacker(i)), dst(victim(i))},
					Fingerprint: fmt.Sprint(nextAlert)}
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
