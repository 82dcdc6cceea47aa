package loadgen

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

func TestCommunityIDMatchesTheSpecExample(t *testing.T) {
	// The Community ID specification's worked example: TCP 128.232.110.120:34855 →
	// 66.35.250.204:80, seed 0. The hash is symmetric in the direction of the flow.
	a, b := netip.MustParseAddr("128.232.110.120"), netip.MustParseAddr("66.35.250.204")
	const want = "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
	if got := communityID(a, b, "TCP", 34855, 80); got != want {
		t.Errorf("communityID = %s, want %s", got, want)
	}
	if got := communityID(b, a, "TCP", 80, 34855); got != want {
		t.Errorf("reverse communityID = %s, want %s", got, want)
	}
}

func TestAddressesAreDistinctAndDocumentationOnly(t *testing.T) {
	seen := map[netip.Addr]bool{}
	for k := range 70000 { // crosses from the /24s into 198.18/16 and then into IPv6
		a := Attacker(k)
		if seen[a] || !inDocRanges(a) {
			t.Fatalf("attacker %d = %s: repeated or outside the documentation ranges", k, a)
		}
		seen[a] = true
	}
	for k := range 20000 {
		for j := range 4 {
			v := Victim(k, j, 4)
			if seen[v] || !inDocRanges(v) {
				t.Fatalf("victim %d/%d = %s: repeated or outside the documentation ranges", k, j, v)
			}
			seen[v] = true
		}
	}
	if got := Attacker(0).String(); got != "192.0.2.1" {
		t.Errorf("first attacker %s, want 192.0.2.1", got)
	}
	if got := Attacker(254).String(); got != "198.51.100.1" {
		t.Errorf("attacker 254 = %s, want 198.51.100.1", got)
	}
}

func TestPayloadsCoverEveryIncident(t *testing.T) {
	cfg := &Config{Target: TargetWarroom, Format: FormatGeneric, Batch: 1, Incidents: 10000, Victims: 4}
	p := buildPayloads(cfg, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), 42)
	if len(p.bodies) != 40000 {
		t.Fatalf("%d bodies, want one per (incident, victim) = 40000", len(p.bodies))
	}
	attackers := map[string]bool{}
	var buf []byte
	for i := range p.bodies {
		buf = p.render(buf, int64(i), int64(i))
		var a genericAlert
		if err := json.Unmarshal(buf, &a); err != nil {
			t.Fatalf("body %d: %v\n%s", i, err, buf)
		}
		for _, e := range a.Entities {
			if e.Kind == "ip" && (e.Role == "src") != (a.Category == "c2" || a.Category == "exfil") {
				attackers[e.Value] = true
			}
		}
	}
	if len(attackers) != 10000 {
		t.Errorf("%d attackers, want 10000", len(attackers))
	}
}

func TestRenderWritesTimeAndSequence(t *testing.T) {
	cfg := &Config{Target: TargetWarroom, Format: FormatGeneric, Batch: 2, Incidents: 3, Victims: 1}
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	p := buildPayloads(cfg, base, 7)
	var list []genericAlert
	if err := json.Unmarshal(p.render(nil, 5, 1_234_567), &list); err != nil {
		t.Fatal(err)
	}
	want := []struct{ at, seq string }{
		{"2026-11-20T09:00:01.234567Z", "r00007-1795165200-0001234567"},
		{"2026-11-20T09:00:01.234568Z", "r00007-1795165200-0001234568"},
	}
	for i, w := range want {
		if list[i].EventTime != w.at || list[i].ID != w.seq {
			t.Errorf("alert %d: event_time %s seq %s, want %s %s", i, list[i].EventTime, list[i].ID, w.at, w.seq)
		}
	}
}

// TestBodiesRenderRequestsInSequence: Bodies numbers the alerts of request r from
// r×batch+offset, so set-up and measured requests never repeat an alert.
func TestBodiesRenderRequestsInSequence(t *testing.T) {
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	bodies, err := NewBodies(Config{Batch: 2, Incidents: 3}, base, 7)
	if err != nil {
		t.Fatal(err)
	}
	if bodies.ContentType() != "application/json" {
		t.Errorf("Content-Type %q, want application/json", bodies.ContentType())
	}
	var list []genericAlert
	if err := json.Unmarshal(bodies.Render(nil, 3, 1000), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "r00007-1795165200-0000001006" || list[1].ID != "r00007-1795165200-0000001007" {
		t.Errorf("request 3 from 1000: %+v, want sequence numbers 1006 and 1007", list)
	}
	if _, err := NewBodies(Config{Batch: -1}, base, 7); err == nil {
		t.Error("batch -1: no error")
	}
}

func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"generic-1", Config{Target: TargetWarroom, Format: FormatGeneric, Batch: 1, Incidents: 10, Victims: 4}},
		{"suricata-100", Config{Target: TargetWarroom, Format: FormatSuricata, Batch: 100, Incidents: 10, Victims: 4}},
		{"alertmanager-100", Config{Target: TargetAlertmanager, Batch: 100, Incidents: 10, Victims: 4}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := buildPayloads(&c.cfg, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC), 1)
			var buf []byte
			b.ReportAllocs()
			for i := range b.N {
				buf = p.render(buf, int64(i), int64(i*c.cfg.Batch))
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// TestSeverityOverride: --severity sets every generic alert's severity, and is refused
// where it cannot apply.
func TestSeverityOverride(t *testing.T) {
	base := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	bodies, err := NewBodies(Config{Batch: 12, Incidents: 6, Severity: "low"}, base, 7)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Severity string `json:"severity"`
	}
	if err := json.Unmarshal(bodies.Render(nil, 0, 0), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 12 {
		t.Fatalf("%d alerts, want 12", len(list))
	}
	for i, a := range list {
		if a.Severity != "low" {
			t.Errorf("alert %d: severity %q, want low", i, a.Severity)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Severity: "urgent"}, `severity "urgent": want critical, high, medium, low or info`},
		{Config{Severity: "low", Format: FormatSuricata}, "severity: only for the generic format sent to warroom"},
	} {
		if _, err := NewBodies(c.cfg, base, 7); err == nil || err.Error() != c.want {
			t.Errorf("%+v: err %v, want %s", c.cfg, err, c.want)
		}
	}
}
