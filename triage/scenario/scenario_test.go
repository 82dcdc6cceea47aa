package scenario

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommunityIDMatchesSpecExample(t *testing.T) {
	// The example flow of the Community ID specification.
	if got, want := CommunityID("128.232.110.120", "66.35.250.204", "TCP", 34855, 80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; got != want {
		t.Fatalf("community id %s, want %s", got, want)
	}
	if CommunityID("10.0.0.1", "10.0.0.2", "UDP", 5353, 53) != CommunityID("10.0.0.2", "10.0.0.1", "UDP", 53, 5353) {
		t.Fatal("community id depends on direction")
	}
}

func TestGenerateIsDeterministicPerSeed(t *testing.T) {
	a, b, c := Generate(7, Options{}), Generate(7, Options{}), Generate(8, Options{})
	if len(a.EVE) != len(b.EVE) || len(a.AM) != len(b.AM) {
		t.Fatal("same seed, different sizes")
	}
	for i := range a.EVE {
		if !bytes.Equal(a.EVE[i], b.EVE[i]) || a.EVELabels[i] != b.EVELabels[i] {
			t.Fatalf("same seed, EVE line %d differs", i)
		}
	}
	if len(c.EVE) == len(a.EVE) && bytes.Equal(c.EVE[0], a.EVE[0]) {
		t.Fatal("different seeds, same corpus")
	}
}

func TestCorpusShape(t *testing.T) {
	c := Generate(3, Options{})
	if got := strings.Join(c.Campaigns, ","); got != "A-bruteforce,B-killchain,C-scan,D-ddos,E-dnstunnel,F-ipv6,G-killchain" {
		t.Fatalf("campaigns %s", got)
	}
	if len(c.EVE) != len(c.EVELabels) || len(c.AM) != len(c.AMLabels) || len(c.Deliveries) != len(c.EVE)+len(c.AM) {
		t.Fatal("labels or deliveries do not match the items")
	}
	late, v6, noise := 0, 0, map[string]bool{}
	var prev time.Time
	var prevAt time.Time
	for i, d := range c.Deliveries {
		if d.At.Before(prevAt) {
			t.Fatalf("delivery %d out of arrival order", i)
		}
		prevAt = d.At
		if d.AM {
			var p struct {
				Version string `json:"version"`
				Alerts  []struct {
					Labels map[string]string `json:"labels"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal(c.AM[d.I], &p); err != nil || p.Version != "4" || len(p.Alerts) != len(c.AMLabels[d.I]) {
				t.Fatalf("payload %d: version %q, %d alerts, %v", d.I, p.Version, len(p.Alerts), err)
			}
			if !strings.Contains(p.Alerts[0].Labels["instance"], ":9100") {
				t.Fatalf("payload %d: instance %q", d.I, p.Alerts[0].Labels["instance"])
			}
			continue
		}
		var ev struct {
			Timestamp string `json:"timestamp"`
			EventType string `json:"event_type"`
			SrcIP     string `json:"src_ip"`
		}
		if err := json.Unmarshal(c.EVE[d.I], &ev); err != nil || ev.EventType != "alert" {
			t.Fatalf("EVE line %d: %v (%s)", d.I, err, c.EVE[d.I])
		}
		ts, err := time.Parse(EVETimeLayout, ev.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Before(prev) {
			late++
		}
		prev = ts
		if strings.Contains(ev.SrcIP, ":") {
			v6++
		}
		if l := c.EVELabels[d.I]; strings.HasPrefix(l, "noise-") {
			if noise[l] {
				t.Fatalf("noise label %s used twice", l)
			}
			noise[l] = true
		}
	}
	if late == 0 || v6 == 0 || len(noise) < 500 {
		t.Fatalf("%d out-of-order alerts, %d IPv6 alerts, %d noise alerts", late, v6, len(noise))
	}
}

func TestWriteDir(t *testing.T) {
	c := Generate(1, Options{Noise: 50, AMNoise: 3})
	dir := t.TempDir()
	if err := c.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "suricata.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte("\n")); n != len(c.EVE) {
		t.Fatalf("%d lines, want %d", n, len(c.EVE))
	}
	var l Labels
	b, _ := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err := json.Unmarshal(b, &l); err != nil || len(l.Suricata) != len(c.EVE) || len(l.Alertmanager) != len(c.AM) {
		t.Fatalf("labels.json: %v", err)
	}
	var am []json.RawMessage
	b, _ = os.ReadFile(filepath.Join(dir, "alertmanager.json"))
	if err := json.Unmarshal(b, &am); err != nil || len(am) != len(c.AM) {
		t.Fatalf("alertmanager.json: %d payloads, %v", len(am), err)
	}
}

func TestPairwiseF1(t *testing.T) {
	// Worked by hand with score.py's formula: campaign A split 2+1, noise-1 glued to
	// A's larger part, noise-2 alone. tp = C(2,2) = 1; predicted pairs = C(3,2) = 3
	// (x holds one noise alert: no noise-only pair to discount); true pairs = C(3,2) = 3.
	truth := []string{"A", "A", "A", "noise-1", "noise-2"}
	p, r, f := PairwiseF1(truth, []string{"x", "x", "y", "x", "z"})
	if p != 1.0/3 || r != 1.0/3 || f != 1.0/3 {
		t.Fatalf("got p=%v r=%v f=%v, want 1/3 each", p, r, f)
	}
	if _, _, f := PairwiseF1(truth, []string{"a", "a", "a", "b", "c"}); f != 1 {
		t.Fatalf("perfect grouping scored %v", f)
	}
	// Noise grouped among itself costs nothing.
	if _, _, f := PairwiseF1(truth, []string{"a", "a", "a", "n", "n"}); f != 1 {
		t.Fatalf("noise grouped together scored %v", f)
	}
}
