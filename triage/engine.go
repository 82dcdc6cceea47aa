// Package triage groups normalized alerts into incidents and drives their life cycle.
//
// # Correlation
//
// The Engine correlates in memory. An alert joins a live incident when it shares a
// pivot entity (ip, host, user, device, community_id; never ports) with it within the
// correlation window, measured in event time: the alert's event time is compared with
// the span of event times the entity already covers in the incident, in both
// directions, so late deliveries and replays correlate like live traffic. An alert
// that links several live incidents merges them into the oldest; the others become
// merged. Resolved, false-positive and merged incidents leave the entity index and
// never absorb alerts. Repeated deliveries are recognised by fingerprint. The cost per
// alert does not depend on the number of open incidents: the entity index is a map
// from key to the few incidents holding it.
//
// What an alert links depends on the part each entity plays in it:
//   - A source links everything it did and everything done to it.
//   - A destination links only alerts of the same category done to it: a server ties
//     the clients that talk to it together only when they do the same thing to it
//     (the sources of one flood, the hosts beaconing to one C2 server), never a C2
//     lookup with a DNS tunnel through the same resolver. Below Config.PivotSeverity a
//     destination links nothing: a low-severity alert between a client and a server
//     is about the client, so policy noise through resolvers and CDNs stays apart.
//   - An observer (the sensor, the collector) is context, unless the alert names
//     nothing else: an alert about one party alone (a monitoring alert about a host)
//     links through that party, and is filed like an alert done to it.
//
// Shared infrastructure must not glue unrelated incidents together. A configured
// ignore list (CIDRs and entity values) names it outright. Beyond that, an entity seen
// with more than Config.MaxPeers distinct peers within the window is recognised as
// shared and stops pivoting, with hysteresis (it stays shared until fewer than half
// that many peers remain) so that one whose alerting clients hover around the limit
// does not flap. The exception is the centre of a fan-out: Config.FanRoles names the
// categories and roles where one entity facing many is the attack itself (the victim
// of a flood, a scanner); an entity most of whose recent peers come from alerts of
// such a category in such a role is an attacker or a victim, not infrastructure, and
// keeps pivoting. So a SYN flood from 120 sources is one incident on its victim, and a
// scanner that then brute-forces stays one incident, while a resolver carrying C2
// lookups from two unrelated campaigns among its everyday clients links nothing. An
// automatic guard needs to see traffic: where shared servers see few alerting
// clients, list them in the ignore list.
//
// # Incidents
//
// An incident is notifiable (worth a room) from Config.NotifySeverity or
// Config.NotifyCount alerts, and stays so. Its severity is the highest of its alerts.
// Its category is that of the first alert that reached that severity, except that a
// specific category replaces policy or other at the same severity. Its title is built
// from the category, the rule that set it, the main source and destination and the
// counts of distinct parties ("SSH brute force from 203.0.113.7 against 3 hosts",
// "SYN flood against 172.16.9.10 from 120 sources"), and follows the incident as it
// grows. Drill alerts correlate only with alerts of the same drill.
//
// # State
//
// The Engine is not safe for concurrent use: the Pipeline runs it only inside store
// writer ops, which run one after another. Every change is journaled per op so that an
// op whose transaction does not commit leaves no trace (Begin, Rollback, Release).
// State that nobody mentions for Window+Retain of wall time leaves memory, and a
// restart rebuilds the state from the store (Restore).
package triage

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// entry is the correlation state of one index key: a pivot entity ("ip:10.0.0.1",
// prefixed for drills) or one of its scoped keys (see scopedKey).
//
// The index holds keys by their 64-bit hash under the engine's random seed, not as
// strings: with 150,000 keys (10,000 open incidents) that saves about 8 MB of heap and
// as many objects for the collector to mark. Two keys sharing a hash would share
// correlation state; at that size the chance is about 1e-9, and without the seed it
// cannot be provoked from outside.
type entry struct {
	h        uint64 // the key's hash: its identity in the index and as a peer
	seen     int64  // wall time (unix ns) an alert last mentioned the key
	epoch    uint64 // frame that last snapshotted it
	postings []posting
	peers    []peer   // the most recently seen distinct peers, at most MaxPeers+1
	rel      []*entry // for an entity: its scoped keys (see scopedKey)
	cat      uint8    // for a scoped key: its category (catCode)
	side     uint8    // for a scoped key: sideDst or sideSrc
	fanOK    bool     // a scoped key whose category and role may fan out (FanRoles)
	shared   bool     // recognised as shared infrastructure (see hub)
	dead     bool     // left the index
}

// posting says a key appears in an incident, over an event-time span.
type posting struct {
	inc         *incident
	first, last int64 // unix ns
}

// peer is a party seen on the other side of an entity's alerts.
type peer struct {
	h    uint64
	last int64 // event time, unix ns
}

// incident is a live incident's correlation state.
type incident struct {
	m        model.Incident   // the row, without Entities
	keys     []*entry         // index keys holding a posting for it (may hold dead ones)
	members  map[uint64]uint8 // entity hash -> sides counted | roles recorded
	extra    incExtra
	lastWall int64 // wall time of its last alert
	epoch    uint64
}

// incExtra is the part of an incident's state that titles are built from.
type incExtra struct {
	nSrc, nDst         int
	fullSrc, fullDst   bool   // counts reached MaxMembers
	mainSrc, mainDst   string // parties of the alert that set the category
	firstSrc, firstDst string // first parties seen at all
	rule               string // rule of the alert that set the category
	flavour            string // title phrase for the category and rule ("" for other)
	stale              bool   // title inputs changed since the title was built
	dormant            bool   // idle past Window+Retain: no postings left
}

const (
	sideSrc = 1 << iota
	sideDst
	sideObs
)

// Bits of an incident's members map besides the sides a party was counted in: the
// roles in which the entity is already recorded with the incident in the store.
const (
	recSrc = 8 << iota
	recDst
	recObs
)

func recBit(r model.Role) uint8 {
	switch r {
	case model.RoleSrc:
		return recSrc
	case model.RoleDst:
		return recDst
	}
	return recObs
}

// party is one pivot-kind entity of the alert being correlated.
type party struct {
	ent  model.Entity
	side uint8
	e    *entry // the entity's own key
	sc   *entry // its key scoped to the alert's category, when it has one
	h    uint64
}

// Engine is the in-memory correlation engine. See the package documentation for the
// rules it applies.
type Engine struct {
	cfg      Config
	window   int64
	horizon  int64 // Window + Retain, ns
	ignore   map[string]bool
	fanRoles map[model.Category]uint8
	seed     maphash.Seed

	index map[uint64]*entry // by key hash (see entry)
	live  map[int64]*incident

	// Fingerprints are kept as 64-bit hashes under a per-process random seed: a
	// sixth of the memory of the strings, and a collision (about 1e-8 at full
	// capacity) cannot be provoked from outside.
	fpCur, fpPrev map[uint64]int64
	fpStart       int64 // wall time fpCur started

	wallNow   int64
	lastSweep int64

	frames []*frame
	pool   []*frame // released frames, reused
	seq    uint64
	kbuf   []byte // scratch for building entity keys

	stats EngineStats
}

// EngineStats counts what the engine holds and has done.
type EngineStats struct {
	LiveIncidents int // incidents in memory that can still change
	IndexKeys     int // entities and fan keys in the entity index
	Fingerprints  int // fingerprints remembered for deduplication
	Alerts        int64
	Duplicates    int64
	Merges        int64
}

// NewEngine returns an empty engine, or the configuration's first problem.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:      cfg,
		window:   int64(cfg.Window),
		horizon:  int64(cfg.Window + cfg.Retain),
		ignore:   map[string]bool{},
		fanRoles: map[model.Category]uint8{},
		seed:     maphash.MakeSeed(),
		index:    map[uint64]*entry{},
		live:     map[int64]*incident{},
		fpCur:    map[uint64]int64{},
		fpPrev:   map[uint64]int64{},
	}
	for _, v := range cfg.IgnoreEntities {
		e.ignore[strings.TrimSpace(v)] = true
	}
	for cat, roles := range cfg.FanRoles {
		for _, r := range roles {
			e.fanRoles[cat] |= sideOf(r)
		}
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Stats returns current sizes and counters.
func (e *Engine) Stats() EngineStats {
	s := e.stats
	s.LiveIncidents = len(e.live)
	s.IndexKeys = len(e.index)
	s.Fingerprints = len(e.fpCur) + len(e.fpPrev)
	return s
}

func sideOf(r model.Role) uint8 {
	switch r {
	case model.RoleSrc:
		return sideSrc
	case model.RoleDst:
		return sideDst
	}
	return sideObs
}

func pivotKind(k model.EntityKind) bool {
	switch k {
	case model.EntityIP, model.EntityHost, model.EntityUser, model.EntityDevice, model.EntityCommunityID:
		return true
	}
	return false
}

// memberKind says whether an entity counts as a party in titles.
func memberKind(k model.EntityKind) bool {
	return k == model.EntityIP || k == model.EntityHost || k == model.EntityDevice
}

func (e *Engine) ignored(en model.Entity) bool {
	if len(e.ignore) > 0 {
		if e.ignore[en.Value] {
			return true
		}
		e.kbuf = append(append(append(e.kbuf[:0], en.Kind...), ':'), en.Value...)
		if e.ignore[string(e.kbuf)] {
			return true
		}
	}
	if en.Kind == model.EntityIP && len(e.cfg.IgnoreCIDRs) > 0 {
		a, err := netip.ParseAddr(en.Value)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range e.cfg.IgnoreCIDRs {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// scopedKey is the hash of an entity's key scoped to a category. A destination is
// posted and looked up under its scoped key only (dst): a server links the clients that
// talk to it only when they do the same thing to it (the sources of one flood, the hosts
// beaconing to one C2), never a C2 lookup with a DNS tunnel through the same resolver.
// A source is posted under its own key, and under a scoped key (src) for the categories
// where it may be the centre of a fan-out (a scanner).
func (e *Engine) scopedKey(cat, side uint8, entity uint64) uint64 {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:], entity)
	b[8], b[9] = cat, side
	return maphash.Bytes(e.seed, b[:])
}

// catCode numbers a category for scoped keys: its place in model.Categories, from 1.
func catCode(c model.Category) uint8 {
	for i, x := range model.Categories {
		if x == c {
			return uint8(i + 1)
		}
	}
	return 0
}

// IsDuplicate reports whether an alert with this fingerprint was already accepted, and
// the id it was given.
func (e *Engine) IsDuplicate(fingerprint string) (int64, bool) {
	if fingerprint == "" {
		return 0, false
	}
	h := maphash.String(e.seed, fingerprint)
	if id, ok := e.fpCur[h]; ok {
		return id, true
	}
	id, ok := e.fpPrev[h]
	return id, ok
}

// Duplicate records that a repeated delivery was answered with the original's id.
func (e *Engine) Duplicate() { e.stats.Duplicates++ }

func (e *Engine) rememberFP(fp string, id int64) {
	if fp == "" {
		return
	}
	if len(e.fpCur) >= (e.cfg.DedupCap+1)/2 || (e.wallNow-e.fpStart > e.horizon && len(e.fpCur) > 0) {
		if f := e.top(); f != nil {
			f.rots = append(f.rots, fpRot{cur: e.fpCur, prev: e.fpPrev, start: e.fpStart})
			f.log = append(f.log, undoRec{kind: uFPRotate, n: int64(len(f.rots) - 1)})
		}
		e.fpPrev, e.fpCur, e.fpStart = e.fpCur, make(map[uint64]int64, len(e.fpCur)), e.wallNow
	}
	if len(e.fpCur) == 0 {
		e.fpStart = e.wallNow
	}
	h := maphash.String(e.seed, fp)
	e.journal(undoRec{kind: uFPAdd, h: h})
	e.fpCur[h] = id
}

func eventNanos(a *model.Alert, now int64) int64 {
	if a.EventTime.IsZero() {
		return now
	}
	return a.EventTime.UnixNano()
}

// parties collects the alert's pivot entities that are not ignored, with their
// entries (created when new).
func (e *Engine) parties(a *model.Alert, buf []party) ([]party, uint8) {
	var sides uint8
	for _, en := range a.Entities {
		if !pivotKind(en.Kind) || en.Value == "" || e.ignored(en) {
			continue
		}
		p := party{ent: en, side: sideOf(en.Role), e: e.intern(e.entityHash(a.DrillID, en))}
		p.h = p.e.h
		if slices.ContainsFunc(buf, func(q party) bool { return q.e == p.e && q.side == p.side }) {
			continue
		}
		if en.Kind != model.EntityCommunityID {
			sides |= p.side
		}
		buf = append(buf, p)
	}
	return buf, sides
}

// single reports whether the alert names parties on at most one side.
func single(sides uint8) bool { return sides&(sides-1) == 0 }

// intern returns the live entry for the key with hash h, creating it.
func (e *Engine) intern(h uint64) *entry {
	if en, ok := e.index[h]; ok {
		return en
	}
	en := &entry{h: h}
	e.index[h] = en
	e.journal(undoRec{kind: uEntNew, e: en})
	if f := e.top(); f != nil {
		en.epoch = f.seq // new in this frame: undo deletes it, no snapshot needed
	}
	return en
}

// scope interns the scoped keys the alert's parties are posted under: a destination's
// key for the alert's category (from PivotSeverity; below it the destination does not
// pivot at all), a source's fan key where FanRoles lets the source fan out, and for an
// alert about one party alone, that party's key for the category, whatever the
// severity (the alert is about it, as about a destination).
func (e *Engine) scope(a *model.Alert, ps []party, sides uint8) {
	self := single(sides)
	strong := a.Severity >= e.cfg.PivotSeverity
	cat := category(a)
	fan := e.fanRoles[cat]
	code := catCode(cat)
	for i := range ps {
		p := &ps[i]
		side := p.side
		switch {
		case p.ent.Kind == model.EntityCommunityID:
			continue
		case self:
			side = sideDst
		case !strong:
			continue
		case p.side == sideSrc && fan&sideSrc == 0, p.side == sideObs:
			continue
		}
		for _, r := range p.e.rel {
			if r.cat == code && r.side == side && !r.dead {
				p.sc = r
				break
			}
		}
		if p.sc != nil {
			continue
		}
		p.sc = e.intern(e.scopedKey(code, side, p.e.h))
		if ok := fan&side != 0; p.sc.cat != code || p.sc.side != side || p.sc.fanOK != ok {
			e.touchEnt(p.sc)
			p.sc.cat, p.sc.side, p.sc.fanOK = code, side, ok
		}
		if !slices.Contains(p.e.rel, p.sc) {
			e.touchEnt(p.e)
			p.e.rel = slices.DeleteFunc(p.e.rel, func(x *entry) bool { return x.dead })
			p.e.rel = append(p.e.rel, p.sc)
		}
	}
}

func category(a *model.Alert) model.Category {
	if a.Category == "" {
		return model.CategoryOther
	}
	return a.Category
}

// updatePeers records each party's peers: the parties on other sides (observers are
// not peers of sources and destinations), on the party's own key and, where the scoped
// key may fan out (the only scoped keys whose peers hub reads), on its scoped key.
func (e *Engine) updatePeers(ps []party, t int64) {
	for i := range ps {
		p := &ps[i]
		if p.ent.Kind == model.EntityCommunityID {
			continue
		}
		for j := range ps {
			q := &ps[j]
			if q.ent.Kind == model.EntityCommunityID || q.side == p.side || (q.side == sideObs && p.side != sideObs) {
				continue
			}
			e.addPeer(p.e, q.h, t)
			if p.sc != nil && p.sc.fanOK {
				e.addPeer(p.sc, q.h, t)
			}
		}
	}
}

func (e *Engine) addPeer(en *entry, h uint64, t int64) {
	for i := range en.peers {
		if en.peers[i].h == h {
			if t > en.peers[i].last {
				e.touchEnt(en)
				en.peers[i].last = t
			}
			return
		}
	}
	e.touchEnt(en)
	if len(en.peers) <= e.cfg.MaxPeers {
		en.peers = append(en.peers, peer{h: h, last: t})
		return
	}
	// Full: keep the most recently seen distinct peers.
	old := 0
	for i := range en.peers {
		if en.peers[i].last < en.peers[old].last {
			old = i
		}
	}
	if en.peers[old].last < t {
		en.peers[old] = peer{h: h, last: t}
	}
}

// fresh counts the peers seen within the window before t.
func (e *Engine) fresh(en *entry, t int64) int {
	n := 0
	for _, p := range en.peers {
		if p.last >= t-e.window {
			n++
		}
	}
	return n
}

// hub reports whether the entity is shared infrastructure at event time t: more than
// MaxPeers distinct peers within the window, and not the centre of a fan-out. With
// hysteresis: once recognised, an entity stays shared until fewer than MaxPeers/2
// peers remain in the window, so a resolver whose alerting clients hover around the
// limit does not flap in and out of pivoting.
func (e *Engine) hub(en *entry, t int64) bool {
	n := 0
	switch {
	case en.shared:
		n = e.fresh(en, t)
		if 2*n < e.cfg.MaxPeers {
			e.touchEnt(en)
			en.shared = false
			return false
		}
	case len(en.peers) <= e.cfg.MaxPeers:
		return false
	default:
		n = e.fresh(en, t)
		if n <= e.cfg.MaxPeers {
			return false
		}
		e.touchEnt(en)
		en.shared = true
	}
	for _, r := range en.rel {
		// A centre: most of its recent peers come from alerts of one category in a role
		// where FanRoles says one entity facing many is the attack itself (the sources
		// of a flood on its victim, the targets of a scanner). It is an attacker or a
		// victim, not a resolver or a proxy, and keeps pivoting in every category.
		if r.fanOK && !r.dead && 2*e.fresh(r, t) > n {
			return false
		}
	}
	return true
}

// pivots decides which index keys the alert looks up (look) and which it is posted
// under (post). Shared infrastructure (hub) does not pivot, except that an alert about
// it alone joins and opens incidents through its own key.
func (e *Engine) pivots(ps []party, sides uint8, t int64, look, post []*entry) ([]*entry, []*entry) {
	self := single(sides)
	for i := range ps {
		p := &ps[i]
		if p.ent.Kind == model.EntityCommunityID {
			look = append(look, p.e)
			post = append(post, p.e)
			continue
		}
		if p.side == sideObs && !self {
			continue // the sensor or collector: context, not a pivot
		}
		hub := e.hub(p.e, t)
		switch {
		case self:
			// The alert is about this party alone: it brings no peer, so it cannot
			// glue strangers together. It joins where the party is known, except
			// through what a guarded entity carries for others, and is posted like
			// an alert done to it in its category.
			look = append(look, p.e, p.sc)
			post = append(post, p.sc)
			if !hub {
				look = appendLive(look, p.e.rel)
			}
		case hub:
		case p.side == sideSrc:
			look = append(look, p.e)
			post = append(post, p.e)
			look = appendLive(look, p.e.rel) // what was done to it, in any category
			if p.sc != nil {
				look = append(look, p.sc)
				post = append(post, p.sc)
			}
		case p.side == sideDst && p.sc != nil:
			// At PivotSeverity or above: through the key of the alert's category.
			// Below it a server says nothing about its clients.
			look = append(look, p.sc, p.e) // and what it did itself, as a source
			post = append(post, p.sc)
		}
	}
	return look, post
}

func appendLive(dst, src []*entry) []*entry {
	for _, r := range src {
		if !r.dead {
			dst = append(dst, r)
		}
	}
	return dst
}

// Add correlates one alert that is not a duplicate and whose ID is set: it joins,
// opens or merges incidents, sets a.IncidentID and remembers the fingerprint.
// newIncidentID hands out the id of an incident it opens. It must be called between
// Begin and Changes.
func (e *Engine) Add(a *model.Alert, newIncidentID func() int64) int64 {
	f := e.top()
	t := eventNanos(a, f.now)
	e.stats.Alerts++

	var pbuf [8]party
	ps, sides := e.parties(a, pbuf[:0])
	e.scope(a, ps, sides)
	e.updatePeers(ps, t)
	var lb, pb [16]*entry
	look, post := e.pivots(ps, sides, t, lb[:0], pb[:0])

	var cb [4]*incident
	cands := cb[:0]
	for _, en := range look {
		for _, p := range en.postings {
			if t >= p.first-e.window && t <= p.last+e.window && !slices.Contains(cands, p.inc) {
				cands = append(cands, p.inc)
			}
		}
	}
	var target *incident
	switch len(cands) {
	case 0:
		target = e.open(newIncidentID(), a, f)
	default:
		target = cands[0]
		for _, c := range cands[1:] {
			if c.m.ID < target.m.ID {
				target = c
			}
		}
		for _, c := range cands {
			if c != target {
				e.merge(target, c, f)
			}
		}
	}
	e.apply(target, a, ps, t, f)
	for _, en := range post {
		e.postTo(en, target, t)
	}
	for i := range ps {
		e.see(ps[i].e, f.now)
		if ps[i].sc != nil {
			e.see(ps[i].sc, f.now)
		}
	}
	a.IncidentID = target.m.ID
	e.rememberFP(a.Fingerprint, a.ID)
	return target.m.ID
}

func (e *Engine) see(en *entry, now int64) {
	if en.seen != now {
		e.touchEnt(en)
		en.seen = now
	}
}

func (e *Engine) postTo(en *entry, inc *incident, t int64) {
	for i := range en.postings {
		p := &en.postings[i]
		if p.inc == inc {
			if t < p.first || t > p.last {
				e.touchEnt(en)
				p.first, p.last = min(p.first, t), max(p.last, t)
			}
			return
		}
	}
	e.touchEnt(en)
	en.postings = append(en.postings, posting{inc: inc, first: t, last: t})
	e.touchInc(inc)
	inc.keys = append(inc.keys, en)
}

func (e *Engine) open(id int64, a *model.Alert, f *frame) *incident {
	now := time.Unix(0, f.now).UTC()
	inc := &incident{
		m: model.Incident{
			ID:        id,
			Number:    model.IncidentNumber(id),
			Kind:      model.KindNormal,
			Status:    model.StatusOpen,
			OpenedAt:  now,
			UpdatedAt: now,
			DrillID:   a.DrillID,
		},
		members: map[uint64]uint8{},
		epoch:   f.seq,
	}
	if a.DrillID != "" {
		inc.m.Kind = model.KindDrill
	}
	e.live[id] = inc
	e.journal(undoRec{kind: uIncNew, inc: inc})
	f.touched = append(f.touched, touched{inc: inc, old: -1})
	return inc
}

func generic(c model.Category) bool {
	return c == "" || c == model.CategoryOther || c == model.CategoryPolicy
}

// takesCategory reports whether an alert (or absorbed incident) of severity s and
// category c sets the category of an incident at severity cur with category curCat.
func takesCategory(cur model.Severity, curCat model.Category, s model.Severity, c model.Category) bool {
	return s > cur || s == cur && generic(curCat) && !generic(c)
}

func (e *Engine) apply(inc *incident, a *model.Alert, ps []party, t int64, f *frame) {
	e.touchInc(inc)
	m := &inc.m
	ev := time.Unix(0, t).UTC()
	if m.AlertCount == 0 || ev.Before(m.FirstSeen) {
		m.FirstSeen = ev
	}
	if m.AlertCount == 0 || ev.After(m.LastSeen) {
		m.LastSeen = ev
	}
	m.AlertCount++
	cat := a.Category
	if cat == "" {
		cat = model.CategoryOther
	}
	x := &inc.extra
	if m.AlertCount == 1 || takesCategory(m.Severity, m.Category, a.Severity, cat) {
		m.Severity = max(m.Severity, a.Severity)
		m.Category = cat
		x.rule = a.Rule
		if x.rule == "" {
			x.rule = a.Title
		}
		x.flavour = flavourOf(cat, x.rule)
		x.stale = true
		x.mainSrc, x.mainDst = mainParty(ps, sideSrc), mainParty(ps, sideDst)
		if x.mainSrc == "" && x.mainDst == "" {
			x.mainDst = mainParty(ps, sideObs) // a monitoring alert about one host
		}
	}
	for i := range ps {
		p := &ps[i]
		if !memberKind(p.ent.Kind) || p.side == sideObs {
			continue
		}
		if p.side == sideSrc && x.firstSrc == "" {
			x.firstSrc, x.stale = p.ent.Value, true
		}
		if p.side == sideDst && x.firstDst == "" {
			x.firstDst, x.stale = p.ent.Value, true
		}
		e.addMember(inc, p.h, p.side)
	}
	e.checkNotifiable(inc)
	m.UpdatedAt = time.Unix(0, f.now).UTC()
	inc.lastWall = f.now
}

func mainParty(ps []party, side uint8) string {
	v := ""
	for i := range ps {
		p := &ps[i]
		if p.side != side || !memberKind(p.ent.Kind) {
			continue
		}
		if p.ent.Kind == model.EntityIP {
			return p.ent.Value
		}
		if v == "" {
			v = p.ent.Value
		}
	}
	return v
}

func (e *Engine) addMember(inc *incident, h uint64, side uint8) {
	if inc.members == nil {
		return
	}
	old, ok := inc.members[h]
	if ok && old&side != 0 {
		return
	}
	if !ok && len(inc.members) >= e.cfg.MaxMembers {
		if side == sideSrc {
			inc.extra.fullSrc = true
		} else {
			inc.extra.fullDst = true
		}
		inc.extra.stale = true
		return
	}
	e.journal(undoRec{kind: uMember, mem: inc.members, h: h, n: int64(old), flag: ok})
	inc.members[h] = old | side
	inc.extra.stale = true
	if side == sideSrc {
		inc.extra.nSrc++
	} else {
		inc.extra.nDst++
	}
}

// record notes that an entity is recorded with the incident in the store in the roles
// given by bits. It reports whether any of them is new (or cannot be remembered).
func (e *Engine) record(inc *incident, h uint64, bits uint8) bool {
	if inc.members == nil || bits == 0 {
		return bits != 0
	}
	old, ok := inc.members[h]
	if old&bits == bits {
		return false
	}
	if !ok && len(inc.members) >= e.cfg.MaxMembers {
		return true
	}
	e.journal(undoRec{kind: uMember, mem: inc.members, h: h, n: int64(old), flag: ok})
	inc.members[h] = old | bits
	return true
}

func (e *Engine) entityHash(drill string, en model.Entity) uint64 {
	k := e.kbuf[:0]
	if drill != "" {
		k = append(append(append(k, "drill:"...), drill...), '|')
	}
	k = append(append(append(k, en.Kind...), ':'), en.Value...)
	e.kbuf = k
	return maphash.Bytes(e.seed, k)
}

// Unrecorded appends to dst the entities of ents that the store does not yet hold for
// the incident (in that role), and notes them as recorded: repeated alerts about the
// same parties then write no entity rows. Community IDs are left out: they name flows,
// not parties, and stay on the alerts. Call it within the op, with final incident ids.
func (e *Engine) Unrecorded(incidentID int64, ents []model.Entity, dst []model.Entity) []model.Entity {
	inc := e.live[incidentID]
	for _, en := range ents {
		if en.Kind == model.EntityCommunityID {
			continue
		}
		if inc == nil {
			dst = append(dst, en)
			continue
		}
		if e.record(inc, e.entityHash(inc.m.DrillID, en), recBit(en.Role)) {
			dst = append(dst, en)
		}
	}
	return dst
}

func (e *Engine) checkNotifiable(inc *incident) {
	m := &inc.m
	if !m.Notifiable && (m.Severity >= e.cfg.NotifySeverity || m.AlertCount >= e.cfg.NotifyCount) {
		m.Notifiable = true
	}
}

// merge folds incident o into target: its postings, counts, members and severity. o
// becomes merged and leaves the live set.
func (e *Engine) merge(target, o *incident, f *frame) {
	e.touchInc(target)
	e.touchInc(o)
	e.stats.Merges++
	for _, en := range o.keys {
		if en.dead {
			continue
		}
		oi, ti := -1, -1
		for i := range en.postings {
			switch en.postings[i].inc {
			case o:
				oi = i
			case target:
				ti = i
			}
		}
		if oi < 0 {
			continue
		}
		e.touchEnt(en)
		if ti >= 0 {
			tp := &en.postings[ti]
			tp.first = min(tp.first, en.postings[oi].first)
			tp.last = max(tp.last, en.postings[oi].last)
			en.postings = slices.Delete(en.postings, oi, oi+1)
		} else {
			en.postings[oi].inc = target
			target.keys = append(target.keys, en)
		}
	}
	tm, om := &target.m, &o.m
	if om.AlertCount > 0 {
		if tm.AlertCount == 0 || om.FirstSeen.Before(tm.FirstSeen) {
			tm.FirstSeen = om.FirstSeen
		}
		if tm.AlertCount == 0 || om.LastSeen.After(tm.LastSeen) {
			tm.LastSeen = om.LastSeen
		}
	}
	tm.AlertCount += om.AlertCount
	if takesCategory(tm.Severity, tm.Category, om.Severity, om.Category) {
		tm.Severity = max(tm.Severity, om.Severity)
		tm.Category = om.Category
		target.extra.rule, target.extra.flavour = o.extra.rule, o.extra.flavour
		target.extra.stale = true
		target.extra.mainSrc, target.extra.mainDst = o.extra.mainSrc, o.extra.mainDst
	}
	if target.extra.firstSrc == "" {
		target.extra.firstSrc = o.extra.firstSrc
	}
	if target.extra.firstDst == "" {
		target.extra.firstDst = o.extra.firstDst
	}
	for h, bits := range o.members {
		if bits&sideSrc != 0 {
			e.addMember(target, h, sideSrc)
		}
		if bits&sideDst != 0 {
			e.addMember(target, h, sideDst)
		}
		// The store moves o's entities to the target with its alerts.
		e.record(target, h, bits&(recSrc|recDst|recObs))
	}
	target.extra.fullSrc = target.extra.fullSrc || o.extra.fullSrc
	target.extra.fullDst = target.extra.fullDst || o.extra.fullDst
	tm.Notifiable = tm.Notifiable || om.Notifiable
	e.checkNotifiable(target)
	target.lastWall = max(target.lastWall, o.lastWall)
	now := time.Unix(0, f.now).UTC()
	tm.UpdatedAt = now
	// o is live (it was found through the index), so the move cannot be refused.
	_ = om.SetStatus(model.StatusMerged, now)
	om.MergedInto = tm.ID
	delete(e.live, om.ID)
	e.journal(undoRec{kind: uIncDel, inc: o})
	f.merges = append(f.merges, [2]int64{om.ID, tm.ID})
}

// close removes a closed incident's postings from the index and forgets it.
func (e *Engine) close(inc *incident) {
	e.touchInc(inc)
	e.dropPostings(inc)
	delete(e.live, inc.m.ID)
	e.journal(undoRec{kind: uIncDel, inc: inc})
}

func (e *Engine) dropPostings(inc *incident) {
	for _, en := range inc.keys {
		if en.dead {
			continue
		}
		for i := range en.postings {
			if en.postings[i].inc == inc {
				e.touchEnt(en)
				en.postings = slices.Delete(en.postings, i, i+1)
				break
			}
		}
	}
}

// Incident returns a copy of a live incident's state (without entities).
func (e *Engine) Incident(id int64) (model.Incident, bool) {
	inc, ok := e.live[id]
	if !ok {
		return model.Incident{}, false
	}
	m := inc.m
	m.Title = e.title(inc)
	return m, true
}

// SetStatus moves a live incident to status to at now, validating the move. Moving
// it to resolved or false_positive takes it out of the index. It reports ok=false
// when the engine holds no live incident with that id (it may be closed or unknown).
// It must be called between Begin and Changes.
func (e *Engine) SetStatus(id int64, to model.Status, now time.Time) (m model.Incident, ok bool, err error) {
	inc, ok := e.live[id]
	if !ok {
		return model.Incident{}, false, nil
	}
	if err := inc.m.Status.CheckTransition(to); err != nil {
		return inc.m, true, err
	}
	if to == model.StatusMerged {
		return inc.m, true, errMergeByHand
	}
	e.touchInc(inc)
	if err := inc.m.SetStatus(to, now.UTC()); err != nil {
		return inc.m, true, err
	}
	if !to.Live() {
		e.close(inc)
	}
	return inc.m, true, nil
}

// sweep forgets entries nobody mentioned for Window+Retain of wall time, and lets
// incidents idle that long go dormant: they keep their row state but lose their
// postings, so they no longer absorb alerts.
func (e *Engine) sweep(now int64) {
	every := e.horizon / 4
	if now-e.lastSweep < every {
		return
	}
	e.journal(undoRec{kind: uSweep, n: e.lastSweep})
	e.lastSweep = now
	cutoff := now - e.horizon
	for _, inc := range e.live {
		switch {
		case inc.extra.dormant:
		case inc.lastWall < cutoff:
			e.touchInc(inc)
			e.dropPostings(inc)
			inc.keys, inc.members = nil, nil
			inc.extra.dormant = true
		default:
			// Let forgotten entries go: a long incident keeps adding keys (a
			// community id per alert). Into a new array: the journal shares the old.
			dead := 0
			for _, en := range inc.keys {
				if en.dead {
					dead++
				}
			}
			if dead > 64 && 2*dead > len(inc.keys) {
				e.touchInc(inc)
				keys := make([]*entry, 0, len(inc.keys)-dead)
				for _, en := range inc.keys {
					if !en.dead {
						keys = append(keys, en)
					}
				}
				inc.keys = keys
			}
		}
	}
	for key, en := range e.index {
		if en.seen >= cutoff {
			continue
		}
		// Its incidents' key lists keep the dead entry; merge and close skip it.
		e.touchEnt(en)
		en.dead = true
		en.postings = nil
		en.peers = nil
		delete(e.index, key)
		e.journal(undoRec{kind: uEntDel, e: en})
	}
}

// Final follows the merges made in the current op: the incident an alert added in this
// op ended up in.
func (e *Engine) Final(id int64) int64 {
	f := e.top()
	if f == nil {
		return id
	}
	for range len(f.merges) + 1 {
		moved := false
		for _, mv := range f.merges {
			if mv[0] == id {
				id = mv[1]
				moved = true
				break
			}
		}
		if !moved {
			break
		}
	}
	return id
}
