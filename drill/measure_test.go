package drill

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func at(d time.Duration) *time.Time { x := t0.Add(d); return &x }

func ptr(s Seconds) *Seconds { return &s }

// incidentAt builds an incident opened at t0, acknowledged, contained and resolved at
// the given offsets (zero: never), with one block approved by two people.
func incidentAt(ack, contained, resolved time.Duration) (*model.Incident, []*model.Action, []model.TimelineEvent) {
	inc := &model.Incident{ID: 42, Number: "INC-0042", Kind: model.KindDrill, OpenedAt: t0, Status: model.StatusOpen}
	if ack > 0 {
		inc.AcknowledgedAt, inc.Status = at(ack), model.StatusAcknowledged
	}
	if contained > 0 {
		inc.ContainedAt, inc.Status = at(contained), model.StatusContained
	}
	if resolved > 0 {
		inc.ResolvedAt, inc.Status = at(resolved), model.StatusResolved
	}
	acts := []*model.Action{{
		ID: 7, IncidentID: 42, Kind: "block_ip", Target: "203.0.113.9/32", Connector: "edl", DryRun: true,
		State: model.ActionSucceeded, RequestedBy: model.SystemActor, RequestedAt: *at(30 * time.Second),
		Approvals: []model.Approval{{By: "slack:U1", At: *at(4 * time.Minute)}, {By: "local:bob", At: *at(11 * time.Minute)}},
		Verified:  true, ExecutedAt: at(11*time.Minute + 20*time.Second),
	}}
	tl := []model.TimelineEvent{
		{Actor: model.SystemActor, Kind: "opened", At: t0},
		{Actor: "local:alice", Kind: "status", At: *at(ack)},
		{Actor: "local:alice", Kind: "status", At: *at(resolved)},
	}
	return inc, acts, tl
}

// TestMeasureFromKnownTimestamps computes every measure and hand-off gap from known
// timestamps, exactly.
func TestMeasureFromKnownTimestamps(t *testing.T) {
	inc, acts, tl := incidentAt(3*time.Minute, 0, 25*time.Minute)
	m := Measure(inc, acts, tl)
	check := func(name string, got *Seconds, want float64) {
		t.Helper()
		if got == nil || *got != want {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
	}
	check("TTA", m.TTA, 180)
	check("TTP", m.TTP, 30)
	check("TTApproval", m.TTApproval, 240)
	check("TTC", m.TTC, 680) // the verified block ran at 11m20s
	check("TTR", m.TTR, 1500)
	want := []Gap{
		{Name: "open → acknowledge", Seconds: 180},
		{Name: "acknowledge → first action", Seconds: 60},
		{Name: "proposal → approval", Where: "block_ip 203.0.113.9/32 via edl (#7)", Seconds: 210},
		{Name: "first → second approval", Where: "block_ip 203.0.113.9/32 via edl (#7)", Seconds: 420},
		{Name: "approval → containment", Where: "block_ip 203.0.113.9/32 via edl (#7)", Seconds: 20},
		{Name: "containment → resolve", Seconds: 820},
	}
	if len(m.Gaps) != len(want) {
		t.Fatalf("gaps %+v", m.Gaps)
	}
	for i := range want {
		if m.Gaps[i] != want[i] {
			t.Errorf("gap %d = %+v; want %+v", i, m.Gaps[i], want[i])
		}
	}
	if g, _ := m.Biggest(); g.Name != "containment → resolve" || g.Seconds != 820 {
		t.Errorf("biggest gap %+v", g)
	}
	if len(m.Participants) != 3 || m.Participants[0] != "local:alice" || m.Participants[2] != "slack:U1" ||
		len(m.Platforms) != 2 || m.Platforms[0] != "local" || m.Platforms[1] != "slack" {
		t.Errorf("participants %v platforms %v", m.Participants, m.Platforms)
	}
	// An incident nobody touched has no times but its opening.
	bare := Measure(&model.Incident{Number: "INC-0001", OpenedAt: t0}, nil, nil)
	if bare.TTA != nil || bare.TTC != nil || bare.TTR != nil || len(bare.Gaps) != 0 {
		t.Errorf("untouched incident: %+v", bare)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (go test -update if intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// sampleReport is a fixed set of runs: three brute-force drills getting faster, a
// port scan that timed out, a missed drill, and two real incidents.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	mk := func(id, scenario string, day int, status store.DrillStatus, ack, contained, resolved time.Duration) *store.DrillRun {
		start := t0.Add(time.Duration(day) * 24 * time.Hour)
		r := &store.DrillRun{ID: id, Scenario: scenario, Schedule: "weekly", Trigger: "schedule:weekly", Status: status,
			StartedAt: &start, Timeout: time.Hour}
		if status == store.DrillMissed {
			r.StartedAt, r.ScheduledAt = nil, &start
			return r
		}
		inc, acts, tl := incidentAt(ack, contained, resolved)
		inc.OpenedAt = start
		shift := start.Sub(t0)
		for _, p := range []**time.Time{&inc.AcknowledgedAt, &inc.ContainedAt, &inc.ResolvedAt, &acts[0].ExecutedAt} {
			if *p != nil {
				x := (*p).Add(shift)
				*p = &x
			}
		}
		acts[0].RequestedAt = acts[0].RequestedAt.Add(shift)
		for i := range acts[0].Approvals {
			acts[0].Approvals[i].At = acts[0].Approvals[i].At.Add(shift)
		}
		m := Measure(inc, acts, tl)
		r.Measures, _ = json.Marshal(m)
		return r
	}
	runs := []*store.DrillRun{
		mk("d1", "ssh-rdp-bruteforce", 0, store.DrillCompleted, 6*time.Minute, 0, 40*time.Minute),
		mk("d2", "ssh-rdp-bruteforce", 7, store.DrillCompleted, 4*time.Minute, 0, 30*time.Minute),
		mk("d3", "ssh-rdp-bruteforce", 14, store.DrillCompleted, 2*time.Minute, 0, 20*time.Minute),
		mk("d4", "port-scan", 3, store.DrillTimedOut, 10*time.Minute, 0, 0),
		mk("m1", "ssh-rdp-bruteforce", 21, store.DrillMissed, 0, 0, 0),
	}
	inc1, a1, tl1 := incidentAt(2*time.Minute, 9*time.Minute, time.Hour)
	inc2, a2, tl2 := incidentAt(8*time.Minute, 0, 2*time.Hour)
	m1, m2 := Measure(inc1, a1, tl1), Measure(inc2, a2, tl2)
	real := []Row{{Run: "INC-0042", Status: "resolved", At: t0, Measures: &m1}, {Run: "INC-0043", Status: "resolved", At: t0, Measures: &m2}}
	return Build(runs, real, t0.Add(-24*time.Hour), t0.Add(30*24*time.Hour), "")
}

func TestReportGolden(t *testing.T) {
	rep := sampleReport(t)
	g := rep.Scenarios[1]
	if g.Name != "ssh-rdp-bruteforce" || g.Runs != 4 || g.Completed != 3 || g.Missed != 1 ||
		*g.TTR.Median != 1800 || *g.TTR.P90 != 2400 || g.Trend == nil || g.Trend.Direction != "improving" ||
		g.Trend.PerMonth != -2571.4 {
		t.Errorf("brute force group %+v trend %+v", g, g.Trend)
	}
	if rep.Real.Runs != 2 || *rep.Real.TTR.Mean != 5400 || *rep.Real.TTA.Mean != 300 {
		t.Errorf("real incidents %+v", rep.Real)
	}
	for _, f := range []string{"text", "json", "csv"} {
		var b bytes.Buffer
		if err := rep.Write(&b, f); err != nil {
			t.Fatal(err)
		}
		golden(t, "report."+f+".golden", b.Bytes())
	}
	if err := rep.Write(&bytes.Buffer{}, "pdf"); err == nil || err.Error() != `format "pdf": want text, json, csv or png` {
		t.Errorf("unknown format: %v", err)
	}
}

// TestChartPNG renders the TTR chart: a PNG of the chart's size with more than a
// blank page on it, also for a period without runs.
func TestChartPNG(t *testing.T) {
	for name, rep := range map[string]*Report{"runs": sampleReport(t), "empty": Build(nil, nil, t0, t0.Add(24*time.Hour), "")} {
		var b bytes.Buffer
		if err := rep.WritePNG(&b); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sz := img.Bounds().Size(); sz.X != 768 || sz.Y != 384 {
			t.Errorf("%s: %v; want 768x384", name, sz)
		}
		colors := map[uint32]bool{}
		for y := 0; y < 384; y += 3 {
			for x := 0; x < 768; x += 3 {
				r, g, bl, _ := img.At(x, y).RGBA()
				colors[r>>8<<16|g>>8<<8|bl>>8] = true
			}
		}
		if len(colors) < 3 || b.Len() < 5000 {
			t.Errorf("%s: %d colours, %d bytes: the chart looks empty", name, len(colors), b.Len())
		}
	}
}

var _ = ptr
