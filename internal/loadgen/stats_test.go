package loadgen

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func msSeq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[len(out)-1-i] = time.Duration(i+1) * time.Millisecond // reversed: Summarize sorts
	}
	return out
}

func TestPercentileIsNearestRank(t *testing.T) {
	cases := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"p50 of 1..100", msSeq(100), 50, 50 * time.Millisecond},
		{"p90 of 1..100", msSeq(100), 90, 90 * time.Millisecond},
		{"p99 of 1..100", msSeq(100), 99, 99 * time.Millisecond},
		{"p100 of 1..100", msSeq(100), 100, 100 * time.Millisecond},
		{"p99 of 1..1000", msSeq(1000), 99, 990 * time.Millisecond},
		{"p50 of 1..10", msSeq(10), 50, 5 * time.Millisecond},
		{"p99 of 1..10 is the max", msSeq(10), 99, 10 * time.Millisecond},
		{"p90 of 1..7 rounds the rank up", msSeq(7), 90, 7 * time.Millisecond},
		{"p50 of 1..7", msSeq(7), 50, 4 * time.Millisecond},
		{"one sample", []time.Duration{3 * time.Millisecond}, 50, 3 * time.Millisecond},
		{"tiny p takes the minimum", msSeq(100), 0.001, time.Millisecond},
		{"no samples", nil, 99, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sorted := append([]time.Duration(nil), c.in...)
			slices.Sort(sorted)
			if got := Percentile(sorted, c.p); got != c.want {
				t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
			}
		})
	}
}

func TestSummarizeGivesEachPercentileAndMax(t *testing.T) {
	l := Summarize(msSeq(200))
	want := Latency{Count: 200, Mean: 100500 * time.Microsecond, P50: 100 * time.Millisecond,
		P90: 180 * time.Millisecond, P99: 198 * time.Millisecond, Max: 200 * time.Millisecond}
	if l != want {
		t.Errorf("Summarize = %+v, want %+v", l, want)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestLatencyJSONIsInMilliseconds(t *testing.T) {
	b, err := json.Marshal(Latency{Count: 2, Mean: 1500 * time.Microsecond, P50: time.Millisecond,
		P90: 2 * time.Millisecond, P99: 2 * time.Millisecond, Max: 2500 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":2,"mean_ms":1.5,"p50_ms":1,"p90_ms":2,"p99_ms":2,"max_ms":2.5}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
}
