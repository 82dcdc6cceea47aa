package triage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// StateReader is what Restore reads from the store.
type StateReader interface {
	LiveIncidents(ctx context.Context) ([]*model.Incident, error)
	ScanAlerts(ctx context.Context, since time.Time, fn func(*model.Alert) error) error
	Alerts(ctx context.Context, f store.AlertFilter) ([]*model.Alert, string, error)
}

// Restore rebuilds an empty engine from the store: every live incident, then the
// alerts whose event time is within Window+Retain of the newest one, replayed in id
// order into the incidents they belong to (peers, postings and fingerprints come back
// as they were). now is the wall time. Alerts delivered more than Retain behind the
// newest event time before a restart may correlate differently than without it;
// duplicates of alerts older than that are not recognised after a restart.
func (e *Engine) Restore(ctx context.Context, r StateReader, now time.Time) error {
	if len(e.live) > 0 || len(e.index) > 0 || len(e.frames) > 0 {
		return fmt.Errorf("restore correlation state: the engine is not empty; restore into a new engine")
	}
	e.wallNow = max(e.wallNow, now.UnixNano())
	e.lastSweep = e.wallNow
	incs, err := r.LiveIncidents(ctx)
	if err != nil {
		return fmt.Errorf("restore correlation state: read live incidents: %w", err)
	}
	var latest time.Time
	for _, mi := range incs {
		inc := &incident{m: *mi, members: map[uint64]uint8{}, lastWall: e.wallNow}
		inc.m.Entities = nil
		x := &inc.extra
		for _, en := range mi.Entities {
			h := e.entityHash(mi.DrillID, en)
			e.record(inc, h, recBit(en.Role))
			if !memberKind(en.Kind) {
				continue
			}
			switch en.Role {
			case model.RoleSrc:
				if x.firstSrc == "" {
					x.firstSrc = en.Value
				}
				e.addMember(inc, h, sideSrc)
			case model.RoleDst:
				if x.firstDst == "" {
					x.firstDst = en.Value
				}
				e.addMember(inc, h, sideDst)
			}
		}
		x.flavour = flavourFromTitle(mi.Title)
		if x.flavour == "" {
			x.rule, _, _ = strings.Cut(mi.Title, " on ")
		}
		e.live[mi.ID] = inc
		if mi.LastSeen.After(latest) {
			latest = mi.LastSeen
		}
	}
	newest, _, err := r.Alerts(ctx, store.AlertFilter{Limit: 1})
	if err != nil {
		return fmt.Errorf("restore correlation state: read the newest alert: %w", err)
	}
	if len(newest) > 0 && newest[0].EventTime.After(latest) {
		latest = newest[0].EventTime
	}
	if latest.IsZero() {
		return nil
	}
	since := latest.Add(-time.Duration(e.horizon))
	restored := map[*incident]bool{}
	err = r.ScanAlerts(ctx, since, func(a *model.Alert) error {
		e.replay(a, restored)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("restore correlation state: scan alerts since %s: %w", since.Format(time.RFC3339), err)
	}
	return nil
}

// replay registers a stored alert as Add would have, into the incident it belongs to.
func (e *Engine) replay(a *model.Alert, restored map[*incident]bool) {
	t := eventNanos(a, e.wallNow)
	var pbuf [8]party
	ps, sides := e.parties(a, pbuf[:0])
	e.scope(a, ps, sides)
	for i := range ps {
		ps[i].e.seen = e.wallNow
		if ps[i].sc != nil {
			ps[i].sc.seen = e.wallNow
		}
	}
	e.updatePeers(ps, t)
	if inc := e.live[a.IncidentID]; inc != nil && !inc.extra.dormant {
		var pb [16]*entry
		_, post := e.pivots(ps, sides, t, nil, pb[:0])
		for _, en := range post {
			e.postTo(en, inc, t)
		}
		x := &inc.extra
		if !restored[inc] && a.Severity == inc.m.Severity && (a.Category == inc.m.Category || a.Category == "" && inc.m.Category == model.CategoryOther) {
			restored[inc] = true
			x.rule = a.Rule
			if x.rule == "" {
				x.rule = a.Title
			}
			x.flavour = flavourOf(inc.m.Category, x.rule)
			x.mainSrc, x.mainDst = mainParty(ps, sideSrc), mainParty(ps, sideDst)
			if x.mainSrc == "" && x.mainDst == "" {
				x.mainDst = mainParty(ps, sideObs)
			}
		}
	}
	e.stats.Alerts++
	e.rememberFP(a.Fingerprint, a.ID)
}
