package actions

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

type statusRecorder struct{ to []model.Status }

func (s *statusRecorder) SetStatus(ctx context.Context, id int64, to model.Status, actor, note string) (*model.Incident, error) {
	s.to = append(s.to, to)
	return nil, nil
}

// TestDrillActionsRunDryUnlessSandbox: an action on a drill incident never reaches a
// live connector — it is recorded as a dry run (the preview, nothing executed) and
// still counts as the drill's containment — unless the connector is a named sandbox.
func TestDrillActionsRunDryUnlessSandbox(t *testing.T) {
	clk := clock.NewFake(tStart)
	st := openStore(t, filepath.Join(t.TempDir(), "warroom.db"), clk)
	live, lab := newFake("edl"), newFake("lab")
	inc := &statusRecorder{}
	e, err := New(context.Background(), Options{Store: st, Clock: clk, Incidents: inc, DrillSandbox: []string{"lab"},
		Connectors: map[string]connectors.Connector{"edl": live, "lab": lab}})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	err = st.Submit(context.Background(), func(tx store.Tx) error {
		id = tx.NextIncidentID()
		return tx.UpsertIncident(&model.Incident{ID: id, Number: model.IncidentNumber(id), Title: "drill", Kind: model.KindDrill,
			DrillID: "drill-1", Status: model.StatusOpen, Severity: model.SeverityHigh, Category: model.CategoryBruteforce,
			Notifiable: true, OpenedAt: tStart, UpdatedAt: tStart, FirstSeen: tStart, LastSeen: tStart})
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := e.Propose(ctx, id, ProposeRequest{Kind: "block_ip", Target: "203.0.113.7", Connector: "edl"}, alice)
	if err != nil || !a.DryRun {
		t.Fatalf("drill proposal: %+v %v; want dry run", a, err)
	}
	got, err := e.Approve(ctx, a.ID, bob)
	if err != nil || got.State != model.ActionSucceeded || !got.Verified || !got.DryRun {
		t.Fatalf("drill approval: %+v %v", got, err)
	}
	if live.executes != 0 || live.present["203.0.113.7/32"] {
		t.Fatalf("a drill action reached the live connector: %d executes", live.executes)
	}
	if len(inc.to) != 1 || inc.to[0] != model.StatusContained {
		t.Errorf("the drill's dry-run containment did not mark it contained: %v", inc.to)
	}
	b, err := e.Propose(ctx, id, ProposeRequest{Kind: "block_ip", Target: "203.0.113.8", Connector: "lab"}, alice)
	if err != nil || b.DryRun {
		t.Fatalf("sandbox proposal: %+v %v; want a real run", b, err)
	}
	if _, err := e.Approve(ctx, b.ID, bob); err != nil {
		t.Fatal(err)
	}
	if lab.executes != 1 {
		t.Errorf("the named sandbox connector ran %d times; want 1", lab.executes)
	}
	marks := len(inc.to)
	// A real incident's dry-run action does not mark it contained.
	real := putIncident(t, st, model.StatusOpen)
	c, err := e.Propose(ctx, real, ProposeRequest{Kind: "block_ip", Target: "203.0.113.9", Connector: "edl", DryRun: true}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approve(ctx, c.ID, bob); err != nil {
		t.Fatal(err)
	}
	if len(inc.to) != marks {
		t.Errorf("a real incident's dry run marked it contained: %v", inc.to)
	}
}
