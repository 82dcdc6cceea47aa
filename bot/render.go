package bot

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// View is what the opening message shows about an incident.
type View struct {
	Incident  *model.Incident
	Commander string
	Stats     *store.ChatAlertStats
	Actions   []*model.Action
	// Requests: who asked in chat for a proposed action to be approved, by action id.
	Requests map[int64]string
	Playbook *PlaybookInfo
	// Proposals are the playbook's suggestions not yet requested as actions.
	Proposals []Proposal
	Narrative Narrative
}

// PlaybookInfo is the playbook that applies to an incident.
type PlaybookInfo struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Checklist []string `json:"checklist,omitempty"`
}

// Proposal is an action a playbook suggests, on one exact target.
type Proposal struct {
	Playbook       string        `json:"playbook,omitempty"`
	PlaybookAction string        `json:"playbook_action,omitempty"`
	Kind           string        `json:"kind"`
	Target         string        `json:"target"`
	Connector      string        `json:"connector,omitempty"`
	TTL            time.Duration `json:"ttl,omitempty"`
	Approvers      int           `json:"approvers"`
	Roles          []string      `json:"roles,omitempty"`
	TwoPerson      bool          `json:"two_person,omitempty"`
	Expires        time.Duration `json:"expires,omitempty"`
}

// Subject identifies the proposal among an incident's buttons.
func (p Proposal) Subject() string {
	return p.Kind + " " + p.Target + " " + p.Connector + " " + p.TTL.String()
}

// Button verbs: what a button does, recorded with its token.
const (
	VerbAck           = "ack"
	VerbResolve       = "resolve"
	VerbFalsePositive = "false_positive"
	VerbPropose       = "propose" // request a playbook proposal as an action (or approve it)
	VerbApprove       = "approve"
	VerbReject        = "reject"
	VerbRevert        = "revert"
	VerbRetry         = "retry"
)

// Minter returns the opaque token of a button: the same token for the same incident,
// verb and subject. data is kept with it (JSON) for the handler.
type Minter func(verb, subject string, data any) (string, error)

// Message keys of the room's standing messages.
const (
	KeyOpening = "opening"
	KeyRolling = "rolling"
)

// RenderOpening builds the incident's opening message.
func RenderOpening(v *View, mint Minter) (*Message, error) {
	inc := v.Incident
	m := &Message{
		Key:      KeyOpening,
		Kind:     KindOpening,
		Header:   incidentHeader(inc),
		Severity: inc.Severity.String(),
		Status:   string(inc.Status),
	}
	m.StatusLine = statusLine(v)
	m.Fallback = fmt.Sprintf("%s [%s, %s] %s", inc.Number, inc.Severity, statusWord(inc.Status), CleanText(inc.Title))
	n := v.Narrative
	if n.Text == "" {
		n = TemplateNarrative(v)
	}
	m.Narrative = &n

	m.Sections = append(m.Sections, evidence(v))
	if pb := v.Playbook; pb != nil {
		s := Section{Title: "Playbook: " + CleanText(pb.Title), Items: cleanAll(pb.Checklist), Checklist: true}
		if len(s.Items) == 0 {
			s.Text = "This playbook has no checklist."
		}
		m.Sections = append(m.Sections, s)
	}
	if s, ok := actionsSection(v); ok {
		m.Sections = append(m.Sections, s)
	}
	btns, err := buttons(v, mint)
	if err != nil {
		return nil, err
	}
	m.Buttons = btns
	if inc.Kind == model.KindDrill {
		m.Context = append(m.Context, "This is a drill: actions run in dry-run mode and the response times are recorded.")
	}
	if inc.Status.Live() {
		m.Context = append(m.Context, "Buttons act as you; your role is checked on every click. Type /warroom help for commands.")
	}
	return m, nil
}

func incidentHeader(inc *model.Incident) string {
	h := inc.Number + " · " + CleanText(inc.Title)
	if inc.Kind == model.KindDrill {
		h = "DRILL " + h
	}
	return Truncate(h, 150)
}

func statusWord(s model.Status) string {
	switch s {
	case model.StatusFalsePositive:
		return "false positive"
	}
	return string(s)
}

func statusLine(v *View) string {
	inc := v.Incident
	parts := []string{
		"Severity " + inc.Severity.String(),
		"Status " + statusWord(inc.Status),
		plural(inc.AlertCount, "alert", "alerts"),
	}
	if inc.Status == model.StatusMerged && inc.MergedInto != 0 {
		parts[1] = "Merged into " + model.IncidentNumber(inc.MergedInto)
	}
	if v.Commander != "" {
		parts = append(parts, "Commander "+CleanText(v.Commander))
	}
	return strings.Join(parts, " · ")
}

// TemplateNarrative writes the incident's story from its fields: what, who, where,
// since when, how many, which playbook, what is proposed.
func TemplateNarrative(v *View) Narrative {
	inc := v.Incident
	var b strings.Builder
	b.WriteString(CleanText(inc.Title))
	b.WriteString(".")
	src, dst, _ := entityGroups(inc.Entities)
	if len(src) > 0 {
		b.WriteString(" " + pluralWord(len(src), "Source", "Sources") + ": " + listSome(src, 3) + ".")
	}
	if len(dst) > 0 {
		b.WriteString(" " + pluralWord(len(dst), "Target", "Targets") + ": " + listSome(dst, 3) + ".")
	}
	first, last := inc.FirstSeen, inc.LastSeen
	if v.Stats != nil && !v.Stats.First.IsZero() {
		first, last = v.Stats.First, v.Stats.Last
	}
	count := fmt.Sprintf(" %s", plural(inc.AlertCount, "alert", "alerts"))
	if v.Stats != nil && len(v.Stats.Rules) > 0 {
		count += " from " + plural(len(v.Stats.Rules), "rule", "rules")
		if len(v.Stats.Rules) > 1 {
			count += fmt.Sprintf(", mostly %q,", CleanText(v.Stats.Rules[0].Rule))
		}
	}
	b.WriteString(count)
	if !first.IsZero() {
		b.WriteString(" since " + fmtTime(first))
		if last.After(first) {
			b.WriteString(", the last at " + fmtClock(last, first) + " (" + fmtSpan(last.Sub(first)) + ")")
		}
	}
	b.WriteString(".")
	if v.Playbook != nil {
		b.WriteString(" Playbook: " + CleanText(v.Playbook.Title) + ".")
	}
	var proposed, done []string
	for _, p := range v.Proposals {
		proposed = append(proposed, strings.ToLower(ActionLabel(p.Kind, p.Target, p.TTL)))
	}
	for _, a := range v.Actions {
		switch a.State {
		case model.ActionProposed, model.ActionApproved, model.ActionRunning:
			proposed = append(proposed, strings.ToLower(ActionLabel(a.Kind, a.Target, a.TTL)))
		case model.ActionSucceeded:
			done = append(done, strings.ToLower(ActionLabel(a.Kind, a.Target, a.TTL)))
		}
	}
	if len(done) > 0 {
		b.WriteString(" In place: " + listSome(done, 4) + ".")
	}
	if len(proposed) > 0 {
		b.WriteString(" Proposed: " + listSome(proposed, 4) + ".")
	} else if len(done) == 0 && inc.Status.Live() {
		b.WriteString(" No containment is proposed yet.")
	}
	return Narrative{Text: b.String(), Source: NarrativeTemplate}
}

// entityGroups splits entities into sources, targets and the rest (as "kind value").
func entityGroups(es []model.Entity) (src, dst, other []string) {
	seen := map[string]bool{}
	for _, e := range es {
		if e.Kind == model.EntityCommunityID {
			continue
		}
		v := CleanText(e.Value)
		key := string(e.Role) + "\x00" + e.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		switch e.Role {
		case model.RoleSrc:
			src = append(src, v)
		case model.RoleDst:
			dst = append(dst, v)
		default:
			other = append(other, string(e.Kind)+" "+v)
		}
	}
	return src, dst, other
}

func evidence(v *View) Section {
	inc := v.Incident
	s := Section{Title: "Evidence"}
	src, dst, other := entityGroups(inc.Entities)
	if len(src) > 0 {
		s.Fields = append(s.Fields, Field{pluralWord(len(src), "Source", "Sources"), listSome(src, 5)})
	}
	if len(dst) > 0 {
		s.Fields = append(s.Fields, Field{pluralWord(len(dst), "Target", "Targets"), listSome(dst, 5)})
	}
	if len(other) > 0 {
		s.Fields = append(s.Fields, Field{"Also seen", listSome(other, 5)})
	}
	first, last := inc.FirstSeen, inc.LastSeen
	if v.Stats != nil && !v.Stats.First.IsZero() {
		first, last = v.Stats.First, v.Stats.Last
	}
	if !first.IsZero() {
		s.Fields = append(s.Fields, Field{"First seen", fmtTime(first)}, Field{"Last seen", fmtTime(last)})
	}
	s.Fields = append(s.Fields, Field{"Alerts", strconv.Itoa(inc.AlertCount)})
	if v.Stats != nil {
		rules := v.Stats.Rules
		for i, r := range rules {
			if i == 5 {
				s.Items = append(s.Items, fmt.Sprintf("and %s more", plural(len(rules)-5, "rule", "rules")))
				break
			}
			s.Items = append(s.Items, fmt.Sprintf("%s — %s (%s)", CleanText(Truncate(r.Rule, 120)), plural(r.Count, "alert", "alerts"), r.MaxSeverity))
		}
		for i, u := range v.Stats.Links {
			if su := SafeURL(u); su != "" {
				s.Links = append(s.Links, Link{Text: fmt.Sprintf("Source alert %d", i+1), URL: su})
			}
		}
	}
	return s
}

// kindVerb names an action kind as a verb.
func kindVerb(kind string) string {
	switch kind {
	case "block_ip":
		return "Block"
	case "unblock_ip":
		return "Unblock"
	case "isolate_host":
		return "Isolate"
	case "release_host":
		return "Release"
	case "webhook":
		return "Notify"
	}
	return strings.ReplaceAll(kind, "_", " ")
}

// actionLabel is "Block 203.0.113.45/32 (24h)".
func ActionLabel(kind, target string, ttl time.Duration) string {
	l := kindVerb(kind) + " " + CleanText(target)
	if ttl > 0 {
		l += " (" + fmtTTL(ttl) + ")"
	}
	return l
}

// isPerson reports whether an action was requested by a person rather than by
// warroom or a playbook.
func isPerson(by string) bool {
	return by != "" && by != "system" && by != "warroom" && !strings.HasPrefix(by, "playbook")
}

// ApprovalState describes where an action stands with its approvals. requester is who
// asked in chat for it to be approved, "" for no one.
func ApprovalState(a *model.Action, requester string) string {
	need := a.Policy.Approvers - len(a.Approvals)
	switch {
	case need <= 0:
		return "approved"
	case need == 1 && (isPerson(a.RequestedBy) || requester != "" || len(a.Approvals) > 0):
		return "waiting for a second approver"
	case need == 1:
		return "waiting for an approver"
	}
	return fmt.Sprintf("waiting for %d approvers", need)
}

func actionLine(a *model.Action, requester string) string {
	l := ActionLabel(a.Kind, a.Target, a.TTL)
	if a.Connector != "" {
		l += " via " + CleanText(a.Connector)
	}
	if a.DryRun {
		l += " [dry run]"
	}
	by := ""
	if isPerson(a.RequestedBy) {
		by = " by " + CleanText(a.RequestedBy)
	}
	switch a.State {
	case model.ActionProposed:
		if !isPerson(a.RequestedBy) && requester != "" {
			by = " by " + CleanText(requester)
		}
		if by != "" {
			return l + " — requested" + by + "; " + ApprovalState(a, requester)
		}
		return l + " — proposed by the playbook; " + ApprovalState(a, requester)
	case model.ActionApproved:
		return l + " — approved; running soon"
	case model.ActionRunning:
		return l + " — running"
	case model.ActionSucceeded:
		s := l + " — succeeded"
		if a.PendingReview {
			s = l + " — ran automatically; keep or release it"
		}
		if a.Verified {
			s += ", verified"
		}
		if a.ExpiresAt != nil {
			s += "; expires " + fmtTime(*a.ExpiresAt)
		}
		return s
	case model.ActionFailed:
		return l + " — failed: " + CleanText(Truncate(a.Error, 200))
	case model.ActionReverted:
		return l + " — reverted"
	case model.ActionExpired:
		return l + " — expired and rolled back"
	case model.ActionRejected:
		return l + " — rejected"
	}
	return l + " — " + string(a.State)
}

func actionsSection(v *View) (Section, bool) {
	s := Section{Title: "Actions"}
	for _, p := range v.Proposals {
		line := ActionLabel(p.Kind, p.Target, p.TTL)
		if p.Connector != "" {
			line += " via " + CleanText(p.Connector)
		}
		line += " — suggested by the playbook"
		switch {
		case p.Approvers == 0:
			line += "; runs without approval"
		case p.Approvers == 1 && p.TwoPerson:
			line += "; needs one approver besides the requester"
		default:
			line += "; needs " + plural(p.Approvers, "approver", "approvers")
		}
		s.Items = append(s.Items, line)
	}
	for _, a := range v.Actions {
		s.Items = append(s.Items, actionLine(a, v.Requests[a.ID]))
	}
	return s, len(s.Items) > 0
}

func buttons(v *View, mint Minter) ([]Button, error) {
	inc := v.Incident
	if !inc.Status.Live() {
		return nil, nil
	}
	var out []Button
	add := func(verb, subject string, data any, b Button) error {
		tok, err := mint(verb, subject, data)
		if err != nil {
			return err
		}
		b.ActionID = tok
		out = append(out, b)
		return nil
	}
	for _, p := range v.Proposals {
		label := ActionLabel(p.Kind, p.Target, p.TTL)
		b := Button{Label: Truncate(label, 75), Style: StyleDanger, Confirm: &Confirm{
			Title: Truncate(label+"?", 100),
			Text:  proposalConfirm(p),
			OK:    "Request", Deny: "Cancel"}}
		if err := add(VerbPropose, p.Subject(), p, b); err != nil {
			return nil, err
		}
	}
	for _, a := range v.Actions {
		id := strconv.FormatInt(a.ID, 10)
		label := ActionLabel(a.Kind, a.Target, a.TTL)
		switch a.State {
		case model.ActionProposed:
			// Nobody has asked for a playbook's proposal yet: the first click asks
			// (or, by an approver, approves); then the button approves.
			b := Button{Label: Truncate(label, 75), Style: StyleDanger, Confirm: &Confirm{
				Title: Truncate(label+"?", 100), Text: approveConfirm(a), OK: "Go ahead", Deny: "Cancel"}}
			if isPerson(a.RequestedBy) || v.Requests[a.ID] != "" {
				b.Label = Truncate("Approve: "+label, 75)
				b.Confirm.Title, b.Confirm.OK = Truncate("Approve "+strings.ToLower(label)+"?", 100), "Approve"
			}
			if err := add(VerbApprove, id, nil, b); err != nil {
				return nil, err
			}
			if err := add(VerbReject, id, nil, Button{Label: Truncate("Reject: "+label, 75)}); err != nil {
				return nil, err
			}
		case model.ActionFailed:
			if err := add(VerbRetry, id, nil, Button{Label: Truncate("Retry: "+label, 75), Style: StylePrimary}); err != nil {
				return nil, err
			}
		case model.ActionSucceeded:
			if a.PendingReview {
				if err := add(VerbApprove, id, nil, Button{Label: Truncate("Keep: "+label, 75), Style: StylePrimary}); err != nil {
					return nil, err
				}
				if err := add(VerbRevert, id, nil, Button{Label: Truncate("Release: "+label, 75), Style: StyleDanger}); err != nil {
					return nil, err
				}
				continue
			}
			if revertible(a.Kind) {
				if err := add(VerbRevert, id, nil, Button{Label: Truncate("Undo: "+label, 75), Confirm: &Confirm{
					Title: Truncate("Undo "+strings.ToLower(label)+"?", 100),
					Text:  "Rolls the change back now, before its TTL ends.", OK: "Undo", Deny: "Cancel"}}); err != nil {
					return nil, err
				}
			}
		}
	}
	if inc.Status == model.StatusOpen {
		if err := add(VerbAck, "", nil, Button{Label: "Acknowledge", Style: StylePrimary}); err != nil {
			return nil, err
		}
	}
	if err := add(VerbResolve, "", nil, Button{Label: "Resolve"}); err != nil {
		return nil, err
	}
	if err := add(VerbFalsePositive, "", nil, Button{Label: "False positive", Confirm: &Confirm{
		Title: "Close as a false positive?", Text: "The incident is closed and stops absorbing alerts.", OK: "Close", Deny: "Cancel"}}); err != nil {
		return nil, err
	}
	return out, nil
}

func revertible(kind string) bool {
	return kind == "block_ip" || kind == "isolate_host"
}

func proposalConfirm(p Proposal) string {
	s := "Requests: " + strings.ToLower(ActionLabel(p.Kind, p.Target, p.TTL))
	if p.Connector != "" {
		s += " through " + CleanText(p.Connector)
	}
	s += "."
	if p.Approvers > 0 {
		s += " It runs once " + map[bool]string{true: "an approver agrees", false: plural(p.Approvers, "approver agrees", "approvers agree")}[p.Approvers == 1]
		if p.TwoPerson {
			s += " (not the requester)"
		}
		s += "."
	}
	return s
}

func approveConfirm(a *model.Action) string {
	s := "Approves: " + strings.ToLower(ActionLabel(a.Kind, a.Target, a.TTL)) + "."
	if d := strings.TrimSpace(a.Diff); d != "" {
		s += " Change: " + CleanText(Truncate(d, 200))
	}
	return s
}

// RenderRolling builds the room's rolling update from its recent lines, newest first.
func RenderRolling(inc *model.Incident, lines []string) *Message {
	return &Message{
		Key:       KeyRolling,
		Kind:      KindRolling,
		ThreadKey: KeyOpening,
		Header:    "New alerts",
		Fallback:  fmt.Sprintf("%s: %s", inc.Number, firstOr(lines, "new alerts")),
		Sections:  []Section{{Items: lines}},
	}
}

// RollingLine summarizes alerts that arrived since the last update.
func RollingLine(st *store.ChatAlertStats, total int, at time.Time) string {
	var rules []string
	for i, r := range st.Rules {
		if i == 3 {
			rules = append(rules, fmt.Sprintf("%d more", len(st.Rules)-3))
			break
		}
		rules = append(rules, fmt.Sprintf("%s ×%d", CleanText(Truncate(r.Rule, 80)), r.Count))
	}
	return fmt.Sprintf("%s · +%d (total %d): %s", at.UTC().Format("15:04:05 UTC"), st.Total, total, strings.Join(rules, ", "))
}

// RenderAnnouncement builds a one-off message.
func RenderAnnouncement(key, text string) *Message {
	text = CleanText(text)
	return &Message{Key: key, Kind: KindAnnouncement, Text: text, Fallback: Truncate(text, 150)}
}

// RenderReply builds the public message of a reply.
func RenderReply(key, text string) *Message {
	text = CleanText(text)
	return &Message{Key: key, Kind: KindReply, Text: text, Fallback: Truncate(text, 150)}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func cleanAll(s []string) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		out = append(out, CleanText(x))
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listSome lists up to n items, "a, b and c", then "and N more".
func listSome(items []string, n int) string {
	if len(items) <= n {
		switch len(items) {
		case 0:
			return ""
		case 1:
			return items[0]
		}
		return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// fmtClock writes t briefly when it is on the same day as ref.
func fmtClock(t, ref time.Time) string {
	t, ref = t.UTC(), ref.UTC()
	if t.YearDay() == ref.YearDay() && t.Year() == ref.Year() {
		return t.Format("15:04:05 UTC")
	}
	return fmtTime(t)
}

// fmtSpan writes a duration as "7m", "2h 5m", "3d 4h", "45s".
func fmtSpan(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

// fmtTTL writes a TTL as "24h", "7d", "30m".
func fmtTTL(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return d.String()
}

// sortProposals orders proposals by kind then target, for stable rendering.
func sortProposals(ps []Proposal) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Kind != ps[j].Kind {
			return ps[i].Kind < ps[j].Kind
		}
		return ps[i].Target < ps[j].Target
	})
}

// RequestKind is the timeline event of a person asking in chat for a proposed action
// to be approved (package commands records it).
const RequestKind = "action_request"

// ChatRequests returns, from an incident's timeline, who first asked in chat for each
// proposed action to be approved: action id → actor.
func ChatRequests(tl []model.TimelineEvent) map[int64]string {
	out := map[int64]string{}
	for _, ev := range tl {
		if ev.Kind != RequestKind {
			continue
		}
		var d struct {
			ActionID int64 `json:"action_id"`
		}
		if json.Unmarshal(ev.Data, &d) == nil && d.ActionID > 0 {
			if _, ok := out[d.ActionID]; !ok {
				out[d.ActionID] = ev.Actor
			}
		}
	}
	return out
}
