// Package narrate writes incident narratives: one confident account of an incident
// instead of a list of alerts. With a language model configured (any OpenAI-compatible
// endpoint, through go-openai), it sends the incident's facts as delimited JSON data,
// asks for a structured answer and validates it against those facts: cited alerts and
// entities must exist, suggested actions must be the matched playbook's own, ATT&CK ids
// must look like ATT&CK ids. Anything else is dropped and counted; an invalid answer,
// an error, a timeout or a spent token budget leaves the deterministic template
// narrative in place.
//
// Model output is advisory text. Nothing here can propose, approve or run an action:
// the narrative can only reorder and suggest the playbook's predefined actions, in
// prose, and automatic actions never depend on it.
package narrate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Facts are what a narrative may say: the incident, a sample of its alerts, the
// matched playbook's actions and the actions taken. They are sent to the model as
// JSON data, so the field names are part of the prompt.
type Facts struct {
	Incident IncidentFacts `json:"incident"`
	// Rules counts the incident's alerts per rule, most first.
	Rules []RuleFacts `json:"rules,omitempty"`
	// Alerts are the most recent alerts, newest first; the only alert ids a
	// narrative may cite.
	Alerts   []AlertFacts   `json:"alerts"`
	Playbook *PlaybookFacts `json:"playbook,omitempty"`
	// Actions are the containment actions that exist on the incident.
	Actions []ActionFacts `json:"actions,omitempty"`
}

// IncidentFacts describe the incident itself.
type IncidentFacts struct {
	ID         int64         `json:"-"`
	Number     string        `json:"number"`
	Title      string        `json:"title"`
	Kind       string        `json:"kind"`
	Category   string        `json:"category"`
	Severity   string        `json:"severity"`
	Status     string        `json:"status"`
	MergedInto string        `json:"merged_into,omitempty"`
	Commander  string        `json:"-"` // kept out of the prompt
	AlertCount int           `json:"alert_count"`
	FirstSeen  time.Time     `json:"first_seen"`
	LastSeen   time.Time     `json:"last_seen"`
	Entities   []EntityFacts `json:"entities"`
}

// EntityFacts is one entity: the only values a narrative may cite as entities.
type EntityFacts struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	Role  string `json:"role,omitempty"`
}

// RuleFacts is one rule's share of the incident's alerts.
type RuleFacts struct {
	Rule     string `json:"rule"`
	Count    int    `json:"count"`
	Severity string `json:"max_severity"`
}

// AlertFacts is one alert, as the model sees it. Title, rule and labels are copied
// from the alert source and are untrusted text.
type AlertFacts struct {
	ID        int64             `json:"id"`
	Source    string            `json:"source"`
	Rule      string            `json:"rule"`
	Title     string            `json:"title"`
	Severity  string            `json:"severity"`
	Category  string            `json:"category"`
	EventTime time.Time         `json:"event_time"`
	Entities  []EntityFacts     `json:"entities,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// PlaybookFacts is the matched playbook and its predefined actions.
type PlaybookFacts struct {
	ID      string           `json:"id"`
	Title   string           `json:"title"`
	Actions []PlaybookAction `json:"actions"`
}

// PlaybookAction is one predefined action of the playbook: the only action ids a
// narrative may suggest.
type PlaybookAction struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Targets are the exact targets the playbook proposes for this incident.
	Targets   []string `json:"proposed_targets,omitempty"`
	Auto      bool     `json:"automatic,omitempty"`
	Approvers int      `json:"approvers"`
}

// ActionFacts is an action that exists on the incident.
type ActionFacts struct {
	PlaybookAction string `json:"playbook_action,omitempty"`
	Kind           string `json:"kind"`
	Target         string `json:"target"`
	State          string `json:"state"`
}

// Playbook is the matched playbook as Build needs it.
type Playbook struct {
	ID, Title string
	Actions   []PlaybookActionDef
}

// PlaybookActionDef is one of the playbook's predefined actions.
type PlaybookActionDef struct {
	ID, Kind  string
	Auto      bool
	Approvers int
}

// Proposal is an action the playbook proposes on one target.
type Proposal struct {
	ActionID, Kind, Target string
}

// Input is what Build reads.
type Input struct {
	Incident  *model.Incident
	Commander string
	Stats     *store.ChatAlertStats
	// Alerts of the incident, newest first; Build keeps MaxAlerts of them.
	Alerts    []*model.Alert
	MaxAlerts int
	Playbook  *Playbook
	Proposals []Proposal
	Actions   []*model.Action
}

// maxLabels and maxText bound what one alert contributes to the prompt.
const (
	maxLabels = 12
	maxText   = 300
)

// Build gathers the facts of an incident.
func Build(in Input) *Facts {
	inc := in.Incident
	f := &Facts{Incident: IncidentFacts{ID: inc.ID, Number: inc.Number, Title: clip(inc.Title), Kind: string(inc.Kind),
		Category: string(inc.Category), Severity: inc.Severity.String(), Status: string(inc.Status),
		Commander: in.Commander, AlertCount: inc.AlertCount, FirstSeen: inc.FirstSeen.UTC(), LastSeen: inc.LastSeen.UTC()}}
	if f.Incident.Number == "" {
		f.Incident.Number = model.IncidentNumber(inc.ID)
	}
	if inc.MergedInto != 0 {
		f.Incident.MergedInto = model.IncidentNumber(inc.MergedInto)
	}
	f.Incident.Entities = entities(inc.Entities)
	if in.Stats != nil {
		for i, r := range in.Stats.Rules {
			if i == 20 {
				break
			}
			f.Rules = append(f.Rules, RuleFacts{Rule: clip(r.Rule), Count: r.Count, Severity: r.MaxSeverity.String()})
		}
	}
	max := in.MaxAlerts
	if max <= 0 {
		max = 20
	}
	f.Alerts = []AlertFacts{}
	for _, a := range in.Alerts {
		if len(f.Alerts) == max {
			break
		}
		af := AlertFacts{ID: a.ID, Source: a.Source, Rule: clip(a.Rule), Title: clip(a.Title), Severity: a.Severity.String(),
			Category: string(a.Category), EventTime: a.EventTime.UTC(), Entities: entities(a.Entities)}
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == maxLabels {
				break
			}
			if af.Labels == nil {
				af.Labels = map[string]string{}
			}
			af.Labels[clip(k)] = clip(a.Labels[k])
		}
		f.Alerts = append(f.Alerts, af)
	}
	if pb := in.Playbook; pb != nil {
		pf := &PlaybookFacts{ID: pb.ID, Title: pb.Title, Actions: []PlaybookAction{}}
		for _, a := range pb.Actions {
			pa := PlaybookAction{ID: a.ID, Kind: a.Kind, Auto: a.Auto, Approvers: a.Approvers}
			for _, p := range in.Proposals {
				if p.ActionID == a.ID && !slices.Contains(pa.Targets, p.Target) {
					pa.Targets = append(pa.Targets, p.Target)
				}
			}
			pf.Actions = append(pf.Actions, pa)
		}
		f.Playbook = pf
	}
	for _, a := range in.Actions {
		f.Actions = append(f.Actions, ActionFacts{PlaybookAction: a.PlaybookAction, Kind: a.Kind, Target: a.Target, State: string(a.State)})
	}
	return f
}

func entities(es []model.Entity) []EntityFacts {
	out := make([]EntityFacts, 0, len(es))
	seen := map[string]bool{}
	for _, e := range es {
		k := string(e.Role) + "\x00" + e.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, EntityFacts{Kind: string(e.Kind), Value: e.Value, Role: string(e.Role)})
	}
	return out
}

// clip bounds a piece of alert text.
func clip(s string) string {
	r := []rune(s)
	if len(r) <= maxText {
		return s
	}
	return string(r[:maxText-1]) + "…"
}

// Fingerprint identifies the incident's stage: what must change for a narrative to
// be written again. Counts and times do not count; status, severity, category, a
// merge, the playbook, a new rule (a new kind of activity) and containment
// (an action that ran, expired or was undone) do.
func (f *Facts) Fingerprint() string {
	inc := f.Incident
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|", inc.Status, inc.Severity, inc.Category, inc.MergedInto)
	if f.Playbook != nil {
		b.WriteString(f.Playbook.ID)
	}
	rules := make([]string, 0, len(f.Rules))
	for _, r := range f.Rules {
		rules = append(rules, r.Rule)
	}
	sort.Strings(rules)
	b.WriteString("|" + strings.Join(rules, "\x00"))
	var acts []string
	for _, a := range f.Actions {
		switch a.State {
		case string(model.ActionSucceeded), string(model.ActionExpired), string(model.ActionReverted):
			acts = append(acts, a.Kind+" "+a.Target+" "+a.State)
		}
	}
	sort.Strings(acts)
	b.WriteString("|" + strings.Join(acts, "\x00"))
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:10])
}

// alertIDs and entityValues are the citable facts.
func (f *Facts) alertIDs() map[int64]bool {
	out := make(map[int64]bool, len(f.Alerts))
	for _, a := range f.Alerts {
		out[a.ID] = true
	}
	return out
}

func (f *Facts) entityValues() map[string]string {
	out := map[string]string{}
	add := func(es []EntityFacts) {
		for _, e := range es {
			out[strings.ToLower(e.Value)] = e.Value
		}
	}
	add(f.Incident.Entities)
	for _, a := range f.Alerts {
		add(a.Entities)
	}
	return out
}

func (f *Facts) actionIDs() map[string]bool {
	out := map[string]bool{}
	if f.Playbook != nil {
		for _, a := range f.Playbook.Actions {
			out[a.ID] = true
		}
	}
	return out
}
