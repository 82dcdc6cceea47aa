package triage

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/scenario"
)

func cloneAlerts(as []*model.Alert) []*model.Alert {
	out := make([]*model.Alert, len(as))
	for i, a := range as {
		c := *a
		c.ID, c.IncidentID = 0, 0
		out[i] = &c
	}
	return out
}

func TestRollbackLeavesNoTrace(t *testing.T) {
	t.Parallel()
	s := corpus(t, 5, scenario.Options{})
	half := len(s.alerts) / 2
	r := newEngineRun(t, DefaultConfig())
	for i := 0; i < half; i += 10 {
		r.op(s.at[i], s.alerts[i:min(i+10, half)])
	}
	before := dump(r.e)
	nextInc := r.nextInc

	// Two ops in one batch, the second far later in wall time so that it sweeps, both
	// rolled back. Either rollback hook may run first.
	for _, order := range []string{"newest first", "oldest first"} {
		m1 := r.e.Begin(s.at[half])
		for _, a := range cloneAlerts(s.alerts[half : half+200]) {
			a.ID = 1 << 40
			r.e.Add(a, func() int64 { nextInc++; return nextInc })
		}
		r.e.Changes()
		m2 := r.e.Begin(s.at[half].Add(3 * time.Hour))
		for _, a := range cloneAlerts(s.alerts[half+200 : half+300]) {
			a.ID = 1 << 41
			r.e.Add(a, func() int64 { nextInc++; return nextInc })
		}
		if _, _, err := r.e.SetStatus(1, model.StatusResolved, s.at[half]); err != nil {
			t.Fatal(err)
		}
		if order == "newest first" {
			r.e.Rollback(m2)
			r.e.Rollback(m1)
		} else {
			r.e.Rollback(m1)
			r.e.Rollback(m2)
		}
		if after := dump(r.e); after != before {
			t.Fatalf("%s: state after rollback differs from before:\n%s", order, diffLines(before, after))
		}
	}

	// And the engine goes on exactly like one that never saw the failed ops.
	ref := newEngineRun(t, DefaultConfig())
	refAlerts := cloneAlerts(s.alerts)
	for i := 0; i < half; i += 10 {
		ref.op(s.at[i], refAlerts[i:min(i+10, half)])
	}
	r.run(&stream{alerts: s.alerts[half:], at: s.at[half:]}, 1)
	ref.run(&stream{alerts: refAlerts[half:], at: s.at[half:]}, 1)
	for i := range s.alerts {
		if r.final(s.alerts[i].IncidentID) != ref.final(refAlerts[i].IncidentID) {
			t.Fatalf("alert %d: incident %d after a rollback, %d without", i, r.final(s.alerts[i].IncidentID), ref.final(refAlerts[i].IncidentID))
		}
	}
}

func diffLines(a, b string) string {
	al, bl := splitLines(a), splitLines(b)
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return joinLines(out)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func joinLines(ls []string) string {
	out := ""
	for _, l := range ls {
		out += l + "\n"
	}
	return out
}

// memState is an in-memory StateReader built from an engine run, for engine-level
// restore tests (the pipeline tests restore from a real SQLite file).
type memState struct {
	incs   []*model.Incident
	alerts []*model.Alert
}

func (m *memState) LiveIncidents(context.Context) ([]*model.Incident, error) { return m.incs, nil }

func (m *memState) ScanAlerts(ctx context.Context, since time.Time, fn func(*model.Alert) error) error {
	for _, a := range m.alerts {
		if !a.EventTime.Before(since) {
			if err := fn(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *memState) Alerts(_ context.Context, f store.AlertFilter) ([]*model.Alert, string, error) {
	if len(m.alerts) == 0 {
		return nil, "", nil
	}
	return []*model.Alert{m.alerts[len(m.alerts)-1]}, "", nil
}

// state captures what the store would hold after the alerts fed to r so far.
func (r *engineRun) state(fed []*model.Alert) *memState {
	m := &memState{}
	ents := map[int64][]model.Entity{}
	for _, a := range fed {
		c := *a
		c.IncidentID = r.final(a.IncidentID)
		m.alerts = append(m.alerts, &c)
		for _, en := range a.Entities {
			if en.Kind != model.EntityCommunityID && !slices.Contains(ents[c.IncidentID], en) {
				ents[c.IncidentID] = append(ents[c.IncidentID], en)
			}
		}
	}
	slices.SortFunc(m.alerts, func(a, b *model.Alert) int { return int(a.ID - b.ID) })
	for id, inc := range r.e.live {
		mi := inc.m
		mi.Title = r.e.title(inc)
		mi.Entities = ents[id]
		m.incs = append(m.incs, &mi)
	}
	return m
}

func TestRestoreGroupsLikeNeverStopped(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{2, 6} {
		s := corpus(t, seed, scenario.Options{})
		cut := len(s.alerts) * 2 / 5
		whole := newEngineRun(t, DefaultConfig())
		wholeAlerts := cloneAlerts(s.alerts)
		whole.run(&stream{alerts: wholeAlerts, at: s.at}, 1)

		first := newEngineRun(t, DefaultConfig())
		firstAlerts := cloneAlerts(s.alerts[:cut])
		first.run(&stream{alerts: firstAlerts, at: s.at[:cut]}, 1)
		restored := newEngineRun(t, DefaultConfig())
		if err := restored.e.Restore(context.Background(), first.state(firstAlerts), s.at[cut]); err != nil {
			t.Fatal(err)
		}
		restored.nextInc, restored.nextAlert = first.nextInc, first.nextAlert
		restored.into = first.into
		rest := cloneAlerts(s.alerts[cut:])
		restored.run(&stream{alerts: rest, at: s.at[cut:]}, 1)
		for i, a := range rest {
			got, want := restored.final(a.IncidentID), whole.final(wholeAlerts[cut+i].IncidentID)
			if got != want {
				t.Fatalf("seed %d: alert %d (%s) went to %d after a restart, %d without", seed, cut+i, s.labels[cut+i], got, want)
			}
		}
	}
}
