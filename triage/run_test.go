package triage

import (
	"testing"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// engineRun feeds a stream to an engine in batches of batch alerts (each batch one op,
// committed at once) and returns each alert's final incident and which incidents are
// notifiable.
type engineRun struct {
	e          *Engine
	nextInc    int64
	nextAlert  int64
	into       map[int64]int64 // merged -> into
	notifiable map[int64]bool
	titles     map[int64]string
	incOf      []int64
}

func newEngineRun(t testing.TB, cfg Config) *engineRun {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &engineRun{e: e, into: map[int64]int64{}, notifiable: map[int64]bool{}, titles: map[int64]string{}}
}

func (r *engineRun) op(now time.Time, alerts []*model.Alert) {
	m := r.e.Begin(now)
	for _, a := range alerts {
		if id, dup := r.e.IsDuplicate(a.Fingerprint); dup {
			r.incOf = append(r.incOf, -id) // resolved below through the alert id
			continue
		}
		r.nextAlert++
		a.ID = r.nextAlert
		r.e.Add(a, func() int64 { r.nextInc++; return r.nextInc })
		r.incOf = append(r.incOf, 0)
	}
	for _, a := range alerts {
		if a.ID != 0 {
			a.IncidentID = r.e.Final(a.IncidentID)
		}
	}
	for _, c := range r.e.Changes() {
		id := c.Incident.ID
		if c.Incident.Status == model.StatusMerged {
			r.into[id] = c.Incident.MergedInto
			delete(r.notifiable, id)
			continue
		}
		r.notifiable[id] = c.Incident.Notifiable
		r.titles[id] = c.Incident.Title
	}
	r.e.Release(m)
}

func (r *engineRun) final(id int64) int64 {
	for {
		n, ok := r.into[id]
		if !ok {
			return id
		}
		id = n
	}
}

// run feeds s one alert per op at its delivery time and returns the final incident of
// each alert.
func (r *engineRun) run(s *stream, batch int) []int64 {
	for i := 0; i < len(s.alerts); i += batch {
		j := min(i+batch, len(s.alerts))
		r.op(s.at[j-1], s.alerts[i:j])
	}
	return r.finals(s)
}

func (r *engineRun) finals(s *stream) []int64 {
	out := make([]int64, len(s.alerts))
	for i, a := range s.alerts {
		out[i] = r.final(a.IncidentID)
	}
	return out
}
