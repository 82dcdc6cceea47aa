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
//
// Snapshots live in per-frame arenas and frames are reused, so the journal costs no
// allocation per alert once warm.

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
	kind uint8
	flag bool
	n    int64 // arena index, old value or old time, by kind
	h    uint64
	e    *entry
	inc  *incident
	mem  map[uint64]uint8
}

// entSnap is an entry's state at the frame's start: its scalars, and its slices'
// contents in the frame's arenas.
type entSnap struct {
	old                entry
	post, peer, rel    int32 // offsets into the arenas
	nPost, nPeer, nRel int32
}

type fpRot struct {
	cur, prev map[uint64]int64
	start     int64
}

type touched struct {
	inc *incident
	old int // index into incSnaps; -1 when opened in the frame
}

type frame struct {
	seq      uint64
	now      int64 // wall time, unix ns
	log      []undoRec
	touched  []touched
	merges   [][2]int64 // from, into
	wall     int64      // engine wall time before the frame
	stats    EngineStats
	ents     []entSnap
	posts    []posting
	peers    []peer
	rels     []*entry
	incSnaps []incident
	rots     []fpRot
	changes  []Change
}

func (f *frame) reset() {
	clear(f.log)
	clear(f.touched)
	clear(f.ents)
	clear(f.posts)
	clear(f.rels)
	clear(f.incSnaps)
	clear(f.rots)
	clear(f.changes)
	f.log, f.touched, f.merges, f.ents = f.log[:0], f.touched[:0], f.merges[:0], f.ents[:0]
	f.posts, f.peers, f.rels, f.incSnaps = f.posts[:0], f.peers[:0], f.rels[:0], f.incSnaps[:0]
	f.rots, f.changes = f.rots[:0], f.changes[:0]
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
	s := entSnap{old: *en, post: int32(len(f.posts)), peer: int32(len(f.peers)), rel: int32(len(f.rels)),
		nPost: int32(len(en.postings)), nPeer: int32(len(en.peers)), nRel: int32(len(en.rel))}
	f.posts = append(f.posts, en.postings...)
	f.peers = append(f.peers, en.peers...)
	f.rels = append(f.rels, en.rel...)
	f.ents = append(f.ents, s)
	f.log = append(f.log, undoRec{kind: uEntSnap, e: en, n: int64(len(f.ents) - 1)})
	en.epoch = f.seq
}

func (e *Engine) touchInc(inc *incident) {
	f := e.top()
	if f == nil || inc.epoch == f.seq {
		return
	}
	f.incSnaps = append(f.incSnaps, *inc)
	n := len(f.incSnaps) - 1
	f.log = append(f.log, undoRec{kind: uIncSnap, inc: inc, n: int64(n)})
	f.touched = append(f.touched, touched{inc: inc, old: n})
	inc.epoch = f.seq
}

// Begin starts the journal frame of one op at wall time now and returns its mark.
// Every other method that changes state must be called between Begin and the end of
// the op; the frame then stays until Release (committed) or Rollback (not).
func (e *Engine) Begin(now time.Time) Mark {
	e.seq++
	var f *frame
	if n := len(e.pool); n > 0 {
		f, e.pool = e.pool[n-1], e.pool[:n-1]
	} else {
		f = &frame{}
	}
	f.seq, f.wall, f.stats = e.seq, e.wallNow, e.stats
	e.wallNow = max(e.wallNow, now.UnixNano())
	f.now = e.wallNow
	e.frames = append(e.frames, f)
	e.sweep(e.wallNow)
	return Mark(f.seq)
}

func (e *Engine) recycle(f *frame) {
	f.reset()
	// A frame is released only once its op has committed, that is after every other op
	// of its store batch (up to one per waiting request) has begun its own frame: keep
	// enough for a batch of a few dozen requests.
	if len(e.pool) < 64 {
		e.pool = append(e.pool, f)
	}
}

// Release forgets the journal of every frame up to and including m: their ops are
// committed.
func (e *Engine) Release(m Mark) {
	k := 0
	for k < len(e.frames) && e.frames[k].seq <= uint64(m) {
		e.recycle(e.frames[k])
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
		e.recycle(e.frames[j])
		e.frames[j] = nil
	}
	e.frames = e.frames[:i]
}

func (e *Engine) undo(f *frame) {
	for i := len(f.log) - 1; i >= 0; i-- {
		r := &f.log[i]
		switch r.kind {
		case uEntNew:
			if e.index[r.e.h] == r.e {
				delete(e.index, r.e.h)
			}
			r.e.dead = true
		case uEntSnap:
			s := &f.ents[r.n]
			post, peers, rel := r.e.postings, r.e.peers, r.e.rel
			*r.e = s.old
			r.e.postings = append(post[:0], f.posts[s.post:s.post+s.nPost]...)
			r.e.peers = append(peers[:0], f.peers[s.peer:s.peer+s.nPeer]...)
			r.e.rel = append(rel[:0], f.rels[s.rel:s.rel+s.nRel]...)
		case uEntDel:
			e.index[r.e.h] = r.e
		case uIncNew:
			delete(e.live, r.inc.m.ID)
		case uIncSnap:
			*r.inc = f.incSnaps[r.n]
		case uIncDel:
			e.live[r.inc.m.ID] = r.inc
		case uMember:
			if r.flag {
				r.mem[r.h] = uint8(r.n)
			} else {
				delete(r.mem, r.h)
			}
		case uFPAdd:
			delete(e.fpCur, r.h)
		case uFPRotate:
			rot := &f.rots[r.n]
			e.fpCur, e.fpPrev, e.fpStart = rot.cur, rot.prev, rot.start
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
// titles brought up to date. Call it once, at the end of the op; the slice is valid
// until the op's frame is released or rolled back.
func (e *Engine) Changes() []Change {
	f := e.top()
	if f == nil {
		return nil
	}
	out := f.changes[:0]
	for _, t := range f.touched {
		inc := t.inc
		if inc.extra.stale && !inc.extra.dormant {
			inc.m.Title = e.title(inc)
			inc.extra.stale = false
		}
		c := Change{Incident: inc.m, Opened: t.old < 0}
		if t.old >= 0 {
			old := &f.incSnaps[t.old].m
			c.PrevSeverity, c.PrevStatus, c.PrevNotifiable = old.Severity, old.Status, old.Notifiable
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
	f.changes = out
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
