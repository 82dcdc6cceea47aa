package ingest

import (
	"os"
	"testing"
	"time"
)

func BenchmarkSuricataDecode(b *testing.B) {
	body, err := os.ReadFile("/tmp/bench.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	d, _ := Lookup("suricata")
	opts := Options{Source: "suricata", Now: time.Unix(1763629300, 0)}
	n := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		items, err := d.Decode(body, opts)
		if err != nil {
			b.Fatal(err)
		}
		n = len(items)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/alert")
}
