package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/triage/model"
)

func TestClosingSummaryGivesResponseTimesAndActions(t *testing.T) {
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	inc := &model.Incident{ID: 7, Number: "INC-0007", Title: "SSH brute force", Status: model.StatusResolved, OpenedAt: t0,
		AcknowledgedAt: at(3 * time.Minute), ContainedAt: at(12 * time.Minute), ResolvedAt: at(65 * time.Minute)}
	acts := []*model.Action{
		{ID: 1, Kind: "block_ip", Target: "203.0.113.45/32", TTL: 24 * time.Hour, Connector: "edl", State: model.ActionSucceeded},
		{ID: 2, Kind: "block_ip", Target: "198.51.100.7/32", State: model.ActionRejected},
	}
	m := bot.RenderClosing(inc, acts)
	if m.Key != bot.KeyClosing || m.Text != "INC-0007 is resolved." || !strings.Contains(m.Fallback, "Time to resolve 1h 5m") {
		t.Fatalf("closing %+v", m)
	}
	got := map[string]string{}
	for _, f := range m.Sections[0].Fields {
		got[f.Label] = f.Value
	}
	if got["Time to acknowledge"] != "3m" || got["Time to contain"] != "12m" || got["Time to resolve"] != "1h 5m" {
		t.Errorf("times %v", got)
	}
	if items := m.Sections[1].Items; len(items) != 1 || !strings.HasPrefix(items[0], "Block 203.0.113.45/32 (24h) via edl — succeeded") {
		t.Errorf("actions taken %q; want the block only (the rejected one did nothing)", items)
	}
	fp := &model.Incident{ID: 8, Number: "INC-0008", Status: model.StatusFalsePositive, OpenedAt: t0, ClosedAt: at(time.Minute)}
	if m := bot.RenderClosing(fp, nil); m.Text != "INC-0008 is closed as a false positive." || m.Sections[0].Fields[1].Value != "—" || m.Sections[1].Text != "None." {
		t.Errorf("false positive %+v", m)
	}
}
