package narrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Result is the structured answer the model is asked for.
type Result struct {
	// Summary is 2–4 sentences.
	Summary string `json:"summary"`
	// Stage is the attack stage, one of Stages.
	Stage      string      `json:"stage"`
	Techniques []Technique `json:"techniques"`
	// Confidence is low, medium or high, with its reason.
	Confidence       string     `json:"confidence"`
	ConfidenceReason string     `json:"confidence_reason"`
	Evidence         []Evidence `json:"evidence"`
	// Playbook is the id of the recommended playbook: the matched one, or "".
	Playbook string `json:"playbook"`
	// Actions are action ids of the matched playbook, in the suggested order.
	Actions []string `json:"actions"`
	// Questions are open questions for the analyst.
	Questions []string `json:"questions"`
}

// Technique is a MITRE ATT&CK technique.
type Technique struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Evidence is one finding, citing alerts and entities of the incident.
type Evidence struct {
	Text     string   `json:"text"`
	Alerts   []int64  `json:"alerts"`
	Entities []string `json:"entities"`
}

// Stages are the attack stages an answer may name (ATT&CK tactics, and two for
// what is not an attack).
var Stages = []string{"reconnaissance", "resource-development", "initial-access", "execution", "persistence",
	"privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement", "collection",
	"command-and-control", "exfiltration", "impact", "network-fault", "unknown"}

// Confidences are the confidence levels.
var Confidences = []string{"low", "medium", "high"}

// techniqueID is ATT&CK's technique id pattern: T1234 or T1234.567.
var techniqueID = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)

// Limits on what an answer keeps.
const (
	maxSummary    = 1200
	maxItemText   = 400
	maxTechniques = 6
	maxEvidence   = 8
	maxQuestions  = 5
)

// Dropped counts what validation removed from an answer.
type Dropped struct {
	Actions    int `json:"actions"`
	Alerts     int `json:"alerts"`
	Entities   int `json:"entities"`
	Techniques int `json:"techniques"`
	Evidence   int `json:"evidence"`
	Playbook   int `json:"playbook"`
}

// Total is the number of items dropped.
func (d Dropped) Total() int {
	return d.Actions + d.Alerts + d.Entities + d.Techniques + d.Evidence + d.Playbook
}

func (d Dropped) String() string {
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{d.Actions, "unknown action ids"}, {d.Alerts, "cited alerts that do not exist"}, {d.Entities, "cited entities that do not exist"},
		{d.Techniques, "malformed ATT&CK ids"}, {d.Evidence, "evidence without a valid citation"}, {d.Playbook, "unknown playbook"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// ErrInvalid is wrapped by every error about an answer that cannot be used.
var ErrInvalid = errors.New("invalid answer")

// Parse decodes the model's answer strictly: one JSON object with exactly Result's
// fields. Servers in JSON mode sometimes wrap the object in a Markdown code fence;
// that is tolerated.
func Parse(content string) (*Result, error) {
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: not the JSON object asked for: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: text after the JSON object", ErrInvalid)
	}
	// Required keys must be present, not just zero (a schema-violating answer).
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &keys); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, k := range []string{"summary", "stage", "techniques", "confidence", "confidence_reason", "evidence", "playbook", "actions", "questions"} {
		if v, ok := keys[k]; !ok || bytes.Equal(v, []byte("null")) {
			return nil, fmt.Errorf("%w: the key %q is missing", ErrInvalid, k)
		}
	}
	return &r, nil
}

// Validate checks an answer against the facts it was written from: it drops unknown
// action ids, cited alerts and entities the incident does not have, malformed ATT&CK
// ids and evidence left without a citation, and counts them. It fails when what
// remains is not a narrative (no summary, an unknown stage or confidence).
func Validate(r *Result, f *Facts) (*Result, Dropped, error) {
	var d Dropped
	out := &Result{
		Summary:          oneLine(r.Summary, maxSummary),
		Stage:            strings.ToLower(strings.TrimSpace(r.Stage)),
		Confidence:       strings.ToLower(strings.TrimSpace(r.Confidence)),
		ConfidenceReason: oneLine(r.ConfidenceReason, maxItemText),
		Techniques:       []Technique{}, Evidence: []Evidence{}, Actions: []string{}, Questions: []string{},
	}
	if out.Summary == "" {
		return nil, d, fmt.Errorf("%w: empty summary", ErrInvalid)
	}
	if !slices.Contains(Stages, out.Stage) {
		return nil, d, fmt.Errorf("%w: stage %q is not one of the stages asked for", ErrInvalid, Truncated(out.Stage, 40))
	}
	if !slices.Contains(Confidences, out.Confidence) {
		return nil, d, fmt.Errorf("%w: confidence %q is not low, medium or high", ErrInvalid, Truncated(out.Confidence, 40))
	}
	for _, t := range r.Techniques {
		id := strings.ToUpper(strings.TrimSpace(t.ID))
		if !techniqueID.MatchString(id) || len(out.Techniques) == maxTechniques {
			d.Techniques++
			continue
		}
		out.Techniques = append(out.Techniques, Technique{ID: id, Name: oneLine(t.Name, 80)})
	}
	alerts, ents := f.alertIDs(), f.entityValues()
	for _, e := range r.Evidence {
		ev := Evidence{Text: oneLine(e.Text, maxItemText), Alerts: []int64{}, Entities: []string{}}
		for _, id := range e.Alerts {
			if !alerts[id] {
				d.Alerts++
				continue
			}
			if !slices.Contains(ev.Alerts, id) {
				ev.Alerts = append(ev.Alerts, id)
			}
		}
		for _, v := range e.Entities {
			real, ok := ents[strings.ToLower(strings.TrimSpace(v))]
			if !ok {
				d.Entities++
				continue
			}
			if !slices.Contains(ev.Entities, real) {
				ev.Entities = append(ev.Entities, real)
			}
		}
		if ev.Text == "" || len(ev.Alerts)+len(ev.Entities) == 0 || len(out.Evidence) == maxEvidence {
			d.Evidence++
			continue
		}
		out.Evidence = append(out.Evidence, ev)
	}
	pb := strings.TrimSpace(r.Playbook)
	switch {
	case pb == "":
	case f.Playbook != nil && pb == f.Playbook.ID:
		out.Playbook = pb
	default:
		d.Playbook++
	}
	ids := f.actionIDs()
	for _, a := range r.Actions {
		a = strings.TrimSpace(a)
		if !ids[a] {
			d.Actions++
			continue
		}
		if !slices.Contains(out.Actions, a) {
			out.Actions = append(out.Actions, a)
		}
	}
	for _, q := range r.Questions {
		if q = oneLine(q, maxItemText); q != "" && len(out.Questions) < maxQuestions {
			out.Questions = append(out.Questions, q)
		}
	}
	return out, d, nil
}

// oneLine trims s, folds its white space (newlines included) and bounds its length.
func oneLine(s string, n int) string {
	return Truncated(strings.Join(strings.Fields(s), " "), n)
}

// Truncated shortens s to at most n runes, ending with "…" when cut.
func Truncated(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// restore puts the redacted values back into every text of the answer.
func (r *Result) restore(red *Redactor) {
	if red == nil {
		return
	}
	r.Summary = red.Restore(r.Summary)
	r.ConfidenceReason = red.Restore(r.ConfidenceReason)
	for i := range r.Techniques {
		r.Techniques[i].Name = red.Restore(r.Techniques[i].Name)
	}
	for i := range r.Evidence {
		r.Evidence[i].Text = red.Restore(r.Evidence[i].Text)
		for j, e := range r.Evidence[i].Entities {
			r.Evidence[i].Entities[j] = red.Restore(e)
		}
	}
	for i, q := range r.Questions {
		r.Questions[i] = red.Restore(q)
	}
}

// Text renders a validated answer as the narrative rooms show: plain text, escaped
// by each platform like any other text. Suggested actions are named by the playbook's
// action ids and the targets the playbook itself proposed.
func (r *Result) Text(f *Facts) string {
	var b strings.Builder
	b.WriteString(r.Summary)
	b.WriteString("\n\nStage: " + r.Stage)
	if len(r.Techniques) > 0 {
		var ts []string
		for _, t := range r.Techniques {
			if t.Name != "" {
				ts = append(ts, t.ID+" "+t.Name)
			} else {
				ts = append(ts, t.ID)
			}
		}
		b.WriteString(" · ATT&CK: " + strings.Join(ts, ", "))
	}
	b.WriteString("\nConfidence: " + r.Confidence)
	if r.ConfidenceReason != "" {
		b.WriteString(" — " + r.ConfidenceReason)
	}
	if len(r.Evidence) > 0 {
		b.WriteString("\nEvidence:")
		for _, e := range r.Evidence {
			var cites []string
			for _, id := range e.Alerts {
				cites = append(cites, fmt.Sprintf("alert %d", id))
			}
			cites = append(cites, e.Entities...)
			b.WriteString("\n• " + e.Text + " [" + strings.Join(cites, ", ") + "]")
		}
	}
	if len(r.Actions) > 0 && f.Playbook != nil {
		var as []string
		for _, id := range r.Actions {
			s := id
			for _, a := range f.Playbook.Actions {
				if a.ID == id && len(a.Targets) > 0 {
					s += " (" + strings.Join(a.Targets, ", ") + ")"
				}
			}
			as = append(as, s)
		}
		b.WriteString("\nSuggested from the playbook, in order: " + strings.Join(as, "; ") + ". The buttons below decide; this is advice.")
	}
	if len(r.Questions) > 0 {
		b.WriteString("\nOpen questions:")
		for _, q := range r.Questions {
			b.WriteString("\n• " + q)
		}
	}
	return b.String()
}
