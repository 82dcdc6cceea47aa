package drill

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/triage/model"
)

// Seconds is a duration in seconds, as stored and reported.
type Seconds = float64

// Gap is one hand-off in the response: time that passed between two steps, and where.
type Gap struct {
	// Name is the kind of hand-off: "open → acknowledge", "acknowledge → first action",
	// "proposal → approval", "first → second approval", "approval → containment",
	// "containment → resolve".
	Name string `json:"name"`
	// Where says which action or step it was.
	Where   string  `json:"where,omitempty"`
	Seconds Seconds `json:"seconds"`
}

// Measures are the response times of one incident (drill or real), all from the
// incident's opening and computed from stored timestamps. A nil time means the step
// did not happen.
type Measures struct {
	Incident string    `json:"incident"`
	OpenedAt time.Time `json:"opened_at"`
	// TTA: to acknowledge; TTP: to the first action proposal; TTApproval: to the first
	// approval; TTC: to containment (a containment action succeeded and verified, or
	// the incident marked contained); TTR: to resolve.
	TTA        *Seconds `json:"tta_s"`
	TTP        *Seconds `json:"ttp_s"`
	TTApproval *Seconds `json:"tt_approval_s"`
	TTC        *Seconds `json:"ttc_s"`
	TTR        *Seconds `json:"ttr_s"`
	// Gaps are the hand-offs, in the order they happened.
	Gaps []Gap `json:"gaps"`
	// Participants are the people who did something (platform:user), sorted;
	// Platforms their platforms.
	Participants []string `json:"participants"`
	Platforms    []string `json:"platforms"`
}

// Biggest returns the longest gap, if any.
func (m *Measures) Biggest() (Gap, bool) {
	var best Gap
	ok := false
	for _, g := range m.Gaps {
		if !ok || g.Seconds > best.Seconds {
			best, ok = g, true
		}
	}
	return best, ok
}

func secs(from time.Time, to *time.Time) *Seconds {
	if to == nil || to.IsZero() || from.IsZero() || to.Before(from) {
		return nil
	}
	s := to.Sub(from).Seconds()
	return &s
}

func earliest(ts ...*time.Time) *time.Time {
	var out *time.Time
	for _, t := range ts {
		if t != nil && !t.IsZero() && (out == nil || t.Before(*out)) {
			out = t
		}
	}
	return out
}

func describeAction(a *model.Action) string {
	return fmt.Sprintf("%s %s via %s (#%d)", a.Kind, a.Target, a.Connector, a.ID)
}

// Measure computes the measures of an incident from its stored record, its actions
// and its timeline. It reads no clock: the same inputs give the same figures.
func Measure(inc *model.Incident, acts []*model.Action, tl []model.TimelineEvent) Measures {
	m := Measures{Incident: inc.Number, OpenedAt: inc.OpenedAt.UTC(), Gaps: []Gap{}, Participants: []string{}, Platforms: []string{}}
	start := inc.OpenedAt
	var (
		firstProposal, firstApproval, contained *time.Time
		humanAction                             *time.Time
	)
	people := map[string]bool{}
	sorted := append([]*model.Action(nil), acts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].RequestedAt.Before(sorted[j].RequestedAt) })
	for _, a := range sorted {
		req := a.RequestedAt
		firstProposal = earliest(firstProposal, &req)
		if a.RequestedBy != "" && a.RequestedBy != model.SystemActor {
			people[a.RequestedBy] = true
			humanAction = earliest(humanAction, &req)
		}
		for i := range a.Approvals {
			ap := a.Approvals[i]
			at := ap.At
			firstApproval = earliest(firstApproval, &at)
			humanAction = earliest(humanAction, &at)
			if ap.By != "" {
				people[ap.By] = true
			}
		}
		if len(a.Approvals) > 0 {
			m.Gaps = append(m.Gaps, Gap{Name: "proposal → approval", Where: describeAction(a),
				Seconds: a.Approvals[0].At.Sub(a.RequestedAt).Seconds()})
			if len(a.Approvals) > 1 {
				m.Gaps = append(m.Gaps, Gap{Name: "first → second approval", Where: describeAction(a),
					Seconds: a.Approvals[1].At.Sub(a.Approvals[0].At).Seconds()})
			}
		}
		verified := a.Verified && a.ExecutedAt != nil && connectors.ActionKind(a.Kind).Containment() &&
			(a.State == model.ActionSucceeded || a.State == model.ActionReverted || a.State == model.ActionExpired)
		if verified {
			contained = earliest(contained, a.ExecutedAt)
			if n := len(a.Approvals); n > 0 {
				m.Gaps = append(m.Gaps, Gap{Name: "approval → containment", Where: describeAction(a),
					Seconds: a.ExecutedAt.Sub(a.Approvals[n-1].At).Seconds()})
			}
		}
	}
	contained = earliest(contained, inc.ContainedAt)
	for _, ev := range tl {
		if ev.Actor != "" && ev.Actor != model.SystemActor {
			people[ev.Actor] = true
		}
	}
	m.TTA = secs(start, inc.AcknowledgedAt)
	m.TTP = secs(start, firstProposal)
	m.TTApproval = secs(start, firstApproval)
	m.TTC = secs(start, contained)
	m.TTR = secs(start, inc.ResolvedAt)
	var head []Gap
	if m.TTA != nil {
		head = append(head, Gap{Name: "open → acknowledge", Seconds: *m.TTA})
		if humanAction != nil && !humanAction.Before(*inc.AcknowledgedAt) {
			head = append(head, Gap{Name: "acknowledge → first action", Seconds: humanAction.Sub(*inc.AcknowledgedAt).Seconds()})
		}
	}
	m.Gaps = append(head, m.Gaps...)
	if contained != nil && inc.ResolvedAt != nil && !inc.ResolvedAt.Before(*contained) {
		m.Gaps = append(m.Gaps, Gap{Name: "containment → resolve", Seconds: inc.ResolvedAt.Sub(*contained).Seconds()})
	}
	plats := map[string]bool{}
	for p := range people {
		m.Participants = append(m.Participants, p)
		if pl, _, ok := strings.Cut(p, ":"); ok {
			plats[pl] = true
		}
	}
	sort.Strings(m.Participants)
	for p := range plats {
		m.Platforms = append(m.Platforms, p)
	}
	sort.Strings(m.Platforms)
	return m
}
