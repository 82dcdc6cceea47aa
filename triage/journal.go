package triage

import (
	"slices"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// The engine journals every change an op makes, in a frame per op, so that an op whose
// transaction does not commit can be undone exactly. Frames stack up in op order:
// ops of one store batch run one after another before the batch commits, and
// batches commit in order, so when an op's frame is known to be committed every frame
// below it is too (Release), and rolling back a frame also rolls back every frame
// above it (Rollback), whichever order the store calls its rollback hooks in.

const (
	uEntNew = iota + 1
	uEntSnap
	uEntDel
	uIncNew
	uIncSnap
	uIncDel
	uMember
	uFPAdd
	uFPRotate
	uSweep
)

type undoRec struct {
	kind   uint8
	flag   bool
	n      int64
	h      uint64
	e      *entry
	eOld   *entry
	inc    *incident
	iOld   *incident
	s      string
	mem    map[uint64]uint8
	fpCur  map[string]int64
	fpPrev map[string]int64
}

type touched struct {
	inc *incident
	old *incident // state at the frame's start; nil when opened in the frame
}

type frame struct {
	seq     uint64
	now     int64 // wall time, unix ns
	log     []undoRec
	touched []touched
	merges  [][2]int64 // from, into
	wall    int64      // engine wall time before the frame
	stats   EngineStats
}

// Mark identifies an op's frame.
type Mark uint64

func (e *Engine) top() *frame {
	if len(e.frames) == 0 {
		return nil
	}
	return e.frames[len(e.frames)-1]
}

func (e *Engine) journal(r undoRec) {
	if f := e.top(); f != nil {
		f.log = append(f.log, r)
	}
}

func (e *Engine) touchEnt(en *entry) {
	f := e.top()
	if f == nil || en.epoch == f.seq {
		return
	}
	old := *en
	old.postings = slices.Clone(en.postings)
	old.peers = slices.Clone(en.peers)
	old.rel = slices.Clone(en.rel)
	f.log = append(f.log, undoRec{kind: uEntSnap, e: en, eOld: &old})
	en.epoch = f.seq
}

func (e *Engine) touchInc(inc *incident) {
	f := e.top()
	if f == nil || inc.epoch == f.seq {
		return
	}
	old := *inc
	f.log = append(f.log, undoRec{kind: uIncSnap, inc: inc, iOld: &old})
	f.touched = append(f.touched, touched{inc: inc, old: &old})
	inc.epoch = f.seq
}

// Begin starts the journal frame of one op at wall time now and returns its mark.
// Every other method that changes state must be called between Begin and the end of
// the op; the frame then stays until Release (committed) or Rollback (not).
func (e *Engine) Begin(now time.Time) Mark {
	e.seq++
	f := &frame{seq: e.seq, wall: e.wallNow, stats: e.stats}
	e.wallNow = max(e.wallNow, now.UnixNano())
	f.now = e.wallNow
	e.frames = append(e.frames, f)
	e.sweep(e.wallNow)
	return Mark(f.seq)
}

// Release forgets the journal of every frame up to and including m: their ops are
// committed.
func (e *Engine) Release(m Mark) {
	k := 0
	for k < len(e.frames) && e.frames[k].seq <= uint64(m) {
		k++
	}
	if k > 0 {
		e.frames = slices.Delete(e.frames, 0, k)
	}
}

// Rollback undoes frame m and every frame started after it. It does nothing when m
// was already rolled back or released.
func (e *Engine) Rollback(m Mark) {
	i := slices.IndexFunc(e.frames, func(f *frame) bool { return f.seq == uint64(m) })
	if i < 0 {
		return
	}
	for j := len(e.frames) - 1; j >= i; j-- {
		e.undo(e.frames[j])
		e.frames[j] = nil
	}
	e.frames = e.frames[:i]
}

func (e *Engine) undo(f *frame) {
	for i := len(f.log) - 1; i >= 0; i-- {
		r := &f.log[i]
		switch r.kind {
		case uEntNew:
			if e.index[r.e.key] == r.e {
				delete(e.index, r.e.key)
			}
			r.e.dead = true
		case uEntSnap:
			*r.e = *r.eOld
		case uEntDel:
			e.index[r.e.key] = r.e
		case uIncNew:
			delete(e.live, r.inc.m.ID)
		case uIncSnap:
			*r.inc = *r.iOld
		case uIncDel:
			e.live[r.inc.m.ID] = r.inc
		case uMember:
			if r.flag {
				r.mem[r.h] = uint8(r.n)
			} else {
				delete(r.mem, r.h)
			}
		case uFPAdd:
			delete(e.fpCur, r.s)
		case uFPRotate:
			e.fpCur, e.fpPrev, e.fpStart = r.fpCur, r.fpPrev, r.n
		case uSweep:
			e.lastSweep = r.n
		}
	}
	e.wallNow = f.wall
	e.stats = f.stats
}

// Change is what one op did to one incident.
type Change struct {
	// Incident is the state after the op, without entities. A merged incident's
	// MergedInto names the live incident it ended up in.
	Incident model.Incident
	// Opened is set when the op opened the incident.
	Opened bool
	// Absorbed lists incidents merged into this one by the op, in order.
	Absorbed []int64
	// PrevSeverity, PrevStatus and PrevNotifiable are the state before the op (zero
	// when Opened).
	PrevSeverity   model.Severity
	PrevStatus     model.Status
	PrevNotifiable bool
}

// SeverityRaised reports whether the op raised an existing incident's severity.
func (c *Change) SeverityRaised() bool {
	return !c.Opened && c.Incident.Severity > c.PrevSeverity
}

// BecameNotifiable reports whether the incident crossed the notification threshold
// in this op.
func (c *Change) BecameNotifiable() bool { return c.Incident.Notifiable && !c.PrevNotifiable }

// Changes lists what the current op did to incidents, ordered by incident id, with
// titles brought up to date. Call it once, at the end of the op.
func (e *Engine) Changes() []Change {
	f := e.top()
	if f == nil {
		return nil
	}
	out := make([]Change, 0, len(f.touched))
	for _, t := range f.touched {
		inc := t.inc
		if inc.m.Status.Live() && !inc.extra.dormant {
			inc.m.Title = e.title(inc)
		}
		c := Change{Incident: inc.m, Opened: t.old == nil}
		if t.old != nil {
			c.PrevSeverity, c.PrevStatus, c.PrevNotifiable = t.old.m.Severity, t.old.m.Status, t.old.m.Notifiable
		}
		if c.Incident.Status == model.StatusMerged {
			c.Incident.MergedInto = e.Final(c.Incident.ID)
		}
		for _, mv := range f.merges {
			if mv[1] == inc.m.ID {
				c.Absorbed = append(c.Absorbed, mv[0])
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int {
		switch {
		case a.Incident.ID < b.Incident.ID:
			return -1
		case a.Incident.ID > b.Incident.ID:
			return 1
		}
		return 0
	})
	return out
}

// Merges lists the merges of the current op as (from, into) pairs in the order they
// happened.
func (e *Engine) Merges() [][2]int64 {
	if f := e.top(); f != nil {
		return f.merges
	}
	return nil
}
