package bot

import (
	"context"
	"sync"

	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// AlertReader reads an incident's alerts.
type AlertReader interface {
	Alerts(ctx context.Context, f store.AlertFilter) ([]*model.Alert, string, error)
}

// PlaybookSet answers Playbooks from a loaded playbook set: the playbook recorded on
// the incident (by the response engine) or on one of its actions wins; otherwise the
// set is matched against the incident and its most recent alerts (up to 500).
// Results are cached until the incident's alert count or status changes.
type PlaybookSet struct {
	set    *playbooks.Set
	alerts AlertReader
	// Suggest: also return the playbook's proposals, as buttons that request them.
	// Leave it off when the response engine proposes the playbook's actions itself.
	Suggest bool

	mu    sync.Mutex
	cache map[int64]pbCache
}

type pbCache struct {
	count    int
	status   model.Status
	playbook string
	info     *PlaybookInfo
	props    []Proposal
}

var _ Playbooks = (*PlaybookSet)(nil)

// NewPlaybookSet adapts set, reading alerts through r.
func NewPlaybookSet(set *playbooks.Set, r AlertReader) *PlaybookSet {
	return &PlaybookSet{set: set, alerts: r, cache: map[int64]pbCache{}}
}

// Playbook implements Playbooks.
func (s *PlaybookSet) Playbook(ctx context.Context, inc *model.Incident, actions []*model.Action) (*PlaybookInfo, []Proposal, error) {
	var pb *playbooks.Playbook
	if p, ok := s.set.Get(inc.Playbook); ok && inc.Playbook != "" {
		pb = p
	}
	for _, a := range actions {
		if pb != nil {
			break
		}
		if a.Playbook != "" {
			if p, ok := s.set.Get(a.Playbook); ok {
				pb = p
			}
		}
	}
	if pb != nil && !s.Suggest {
		// Recorded by the response engine: nothing to match.
		return &PlaybookInfo{ID: pb.ID, Title: pb.Title, Checklist: append([]string(nil), pb.Checklist...)}, nil, nil
	}
	s.mu.Lock()
	c, ok := s.cache[inc.ID]
	s.mu.Unlock()
	// Matching reads alerts and evaluates CEL: done again when the incident changes
	// status or playbook, or (suggesting targets) gains alerts, or (only naming the
	// playbook) doubles its alerts.
	if ok && c.status == inc.Status && c.playbook == inc.Playbook &&
		(c.count == inc.AlertCount || !s.Suggest && inc.AlertCount < 2*c.count) {
		return c.info, c.props, nil
	}
	alerts, _, err := s.alerts.Alerts(ctx, store.AlertFilter{IncidentID: inc.ID, Limit: 500, NoRaw: true})
	if err != nil {
		return nil, nil, err
	}
	if pb == nil {
		if p, ok := s.set.Match(inc, alerts); ok {
			pb = p
		}
	}
	c = pbCache{count: inc.AlertCount, status: inc.Status, playbook: inc.Playbook}
	if pb != nil {
		c.info = &PlaybookInfo{ID: pb.ID, Title: pb.Title, Checklist: append([]string(nil), pb.Checklist...)}
		if s.Suggest {
			for _, p := range pb.Propose(inc, alerts) {
				c.props = append(c.props, Proposal{Playbook: p.Playbook, PlaybookAction: p.ActionID, Kind: p.Kind,
					Target: p.Target, Connector: p.Connector, TTL: p.TTL, Approvers: p.Approval.Approvers,
					Roles: append([]string(nil), p.Approval.Roles...), TwoPerson: p.Approval.TwoPerson, Expires: p.Approval.Expires})
			}
		}
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[inc.ID] = c
	s.mu.Unlock()
	return c.info, c.props, nil
}
