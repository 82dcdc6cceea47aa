package ingest

import "github.com/warroom/warroom/triage/model"

// Scratch is memory a decoder reuses from one body to the next, so that a busy receiver
// does not allocate every alert, its labels and the decoder's slices anew for each
// request. A caller that passes one in Options promises that the body stays unchanged
// and that nothing a Decode returned (items, alerts, their fields, Raw, which then
// points into the body instead of a copy) is used after the Scratch's next Decode or
// after the Scratch is handed to another goroutine. The HTTP receiver keeps that
// promise: an alert is stored and correlated before the answer is written, and neither
// the store nor the correlation engine keeps a reference to it.
//
// The zero Scratch is ready to use. A nil *Scratch makes decoders allocate as usual.
type Scratch struct {
	elems  [][]byte
	items  []Item
	slab   []model.Alert
	ents   []model.Entity
	labels []map[string]string // per slab index, cleared for reuse
	ptrs   []*model.Alert
}

// MaxScratchAlerts bounds what a Scratch keeps for reuse: a body of more alerts is
// decoded into fresh memory, so one large request does not pin its size in a pool.
const MaxScratchAlerts = 1024

// Alerts returns an empty slice of alert pointers with room for n, reused.
func (s *Scratch) Alerts(n int) []*model.Alert {
	if s == nil || n > MaxScratchAlerts {
		return make([]*model.Alert, 0, n)
	}
	if cap(s.ptrs) < n {
		s.ptrs = make([]*model.Alert, 0, n)
	}
	clear(s.ptrs[:cap(s.ptrs)])
	return s.ptrs[:0]
}

// borrowed reports whether Raw may alias the body.
func (s *Scratch) borrowed() bool { return s != nil }

// elemBuf returns a slice to split a body's elements into.
func (s *Scratch) elemBuf() [][]byte {
	if s == nil {
		return nil
	}
	clear(s.elems[:cap(s.elems)])
	return s.elems[:0]
}

// keepElems remembers the slice elements were split into, for the next body.
func (s *Scratch) keepElems(e [][]byte) {
	if s != nil && cap(e) <= MaxScratchAlerts {
		s.elems = e
	}
}

// alloc returns n zeroed items and n zeroed alerts.
func (s *Scratch) alloc(n int) ([]Item, []model.Alert) {
	if s == nil || n > MaxScratchAlerts {
		return make([]Item, n), make([]model.Alert, n)
	}
	if cap(s.items) < n {
		s.items = make([]Item, n)
	}
	if cap(s.slab) < n {
		s.slab = make([]model.Alert, n)
	}
	items, slab := s.items[:n], s.slab[:n]
	clear(items)
	clear(slab)
	return items, slab
}

// entities returns n zeroed entities.
func (s *Scratch) entities(n int) []model.Entity {
	if s == nil || n > MaxScratchAlerts*entitiesPerAlert {
		return make([]model.Entity, n)
	}
	if cap(s.ents) < n {
		s.ents = make([]model.Entity, n)
	}
	e := s.ents[:n]
	clear(e)
	return e
}

// labelMap returns an empty labels map to reuse for alert i, or nil.
func (s *Scratch) labelMap(i int) map[string]string {
	if s == nil || i >= len(s.labels) {
		return nil
	}
	m := s.labels[i]
	clear(m)
	return m
}

// keepLabels remembers alert i's labels map for reuse.
func (s *Scratch) keepLabels(i int, m map[string]string) {
	if s == nil || m == nil || i >= MaxScratchAlerts {
		return
	}
	for len(s.labels) <= i {
		s.labels = append(s.labels, nil)
	}
	s.labels[i] = m
}

// labelsOf is what an alert carries: nil when the map is empty.
func labelsOf(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
