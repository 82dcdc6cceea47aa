// Package model holds warroom's domain types: the normalized alert, the incident with its
// forward-only status machine, timeline events and audit entries. It is a leaf package
// with no dependencies inside the project, so ingest, triage and store share one
// vocabulary without importing each other's logic.
package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Severity is an alert's or incident's severity. Higher is worse; the zero value is unknown.
type Severity uint8

// Severities, in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "info", "low", "medium", "high", "critical"}

// String returns the severity's name.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// ParseSeverity parses one of critical, high, medium, low, info (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical, nil
	case "high":
		return SeverityHigh, nil
	case "medium":
		return SeverityMedium, nil
	case "low":
		return SeverityLow, nil
	case "info":
		return SeverityInfo, nil
	}
	return SeverityUnknown, fmt.Errorf("severity %q: want one of critical, high, medium, low, info", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Category is the kind of attack or fault an alert or incident is about.
type Category string

// Categories.
const (
	CategoryBruteforce Category = "bruteforce"
	CategoryScan       Category = "scan"
	CategoryC2         Category = "c2"
	CategoryLateral    Category = "lateral"
	CategoryExfil      Category = "exfil"
	CategoryDoS        Category = "dos"
	CategoryRouting    Category = "routing"
	CategoryPolicy     Category = "policy"
	CategoryOther      Category = "other"
)

// Categories lists every category, in documentation order.
var Categories = []Category{CategoryBruteforce, CategoryScan, CategoryC2, CategoryLateral,
	CategoryExfil, CategoryDoS, CategoryRouting, CategoryPolicy, CategoryOther}

// ParseCategory accepts one of Categories.
func ParseCategory(s string) (Category, error) {
	for _, c := range Categories {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("category %q: want one of bruteforce, scan, c2, lateral, exfil, dos, routing, policy, other", s)
}

// EntityKind is what an entity is.
type EntityKind string

// Entity kinds.
const (
	EntityIP          EntityKind = "ip"
	EntityHost        EntityKind = "host"
	EntityUser        EntityKind = "user"
	EntityDevice      EntityKind = "device"
	EntityInterface   EntityKind = "interface"
	EntityCommunityID EntityKind = "community_id"
	EntityDomain      EntityKind = "domain"
)

// Role is the part an entity plays in an alert.
type Role string

// Roles.
const (
	RoleSrc      Role = "src"
	RoleDst      Role = "dst"
	RoleObserver Role = "observer"
)

// Entity is something an alert is about: an address, a host, a user, a device...
// IP values are canonical (netip.Addr.String()); host and user values are lowercase.
type Entity struct {
	Kind  EntityKind `json:"kind"`
	Value string     `json:"value"`
	Role  Role       `json:"role"`
}

// Key identifies the entity regardless of role: "ip:203.0.113.7".
func (e Entity) Key() string { return string(e.Kind) + ":" + e.Value }

// Alert is one normalized alert, whatever format it arrived in.
type Alert struct {
	ID         int64             `json:"id"`
	IncidentID int64             `json:"-"` // 0 = none; rendered as incident_id (null when 0)
	Source     string            `json:"source"`
	Format     string            `json:"format"`
	SourceRef  string            `json:"source_ref,omitempty"` // the format's own id or link
	Rule       string            `json:"rule"`
	Title      string            `json:"title"`
	Severity   Severity          `json:"severity"`
	Category   Category          `json:"category"`
	Status     string            `json:"status,omitempty"` // "firing" or "resolved" where the format says
	EventTime  time.Time         `json:"event_time"`
	ReceivedAt time.Time         `json:"received_at"`
	Entities   []Entity          `json:"entities"`
	Labels     map[string]string `json:"labels,omitempty"`
	URL        string            `json:"url,omitempty"` // link back to the source, when the format gives one
	// Fingerprint deduplicates repeated deliveries of the same alert.
	Fingerprint string          `json:"fingerprint"`
	DrillID     string          `json:"drill_id,omitempty"`
	Raw         json.RawMessage `json:"raw,omitempty"` // the original item, capped at RawCap bytes
}

// RawCap is the most bytes of an alert's original item kept with it.
const RawCap = 16 << 10

// MarshalJSON renders incident_id as null when the alert has none.
func (a *Alert) MarshalJSON() ([]byte, error) {
	type plain Alert
	var inc *int64
	if a.IncidentID != 0 {
		inc = &a.IncidentID
	}
	return json.Marshal(struct {
		*plain
		IncidentID *int64 `json:"incident_id"`
	}{(*plain)(a), inc})
}

// Status is an incident's place in its life cycle.
type Status string

// Statuses. Open → acknowledged → contained → resolved, each step optional but never
// backwards; merged and false_positive end an incident from any live status.
const (
	StatusOpen          Status = "open"
	StatusAcknowledged  Status = "acknowledged"
	StatusContained     Status = "contained"
	StatusResolved      Status = "resolved"
	StatusMerged        Status = "merged"
	StatusFalsePositive Status = "false_positive"
)

func (s Status) rank() int {
	switch s {
	case StatusOpen:
		return 0
	case StatusAcknowledged:
		return 1
	case StatusContained:
		return 2
	}
	return 3 // resolved, merged, false_positive: final
}

// Live reports whether an incident in this status can still absorb alerts and change.
func (s Status) Live() bool { return s.rank() < 3 }

// ParseStatus accepts one of the statuses.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusOpen, StatusAcknowledged, StatusContained, StatusResolved, StatusMerged, StatusFalsePositive:
		return Status(s), nil
	}
	return "", fmt.Errorf("status %q: want one of open, acknowledged, contained, resolved, merged, false_positive", s)
}

// CheckTransition says whether an incident may move from s to t, and why not.
func (s Status) CheckTransition(t Status) error {
	if !s.Live() {
		return fmt.Errorf("incident is %s: no further status changes", s)
	}
	if _, err := ParseStatus(string(t)); err != nil {
		return err
	}
	if t == StatusOpen || t.rank() <= s.rank() && t.rank() < 3 {
		return fmt.Errorf("incident is %s: cannot move back to %s", s, t)
	}
	return nil
}

// Kind tells real incidents from drills.
type Kind string

// Incident kinds.
const (
	KindNormal Kind = "normal"
	KindDrill  Kind = "drill"
)

// Incident is a group of correlated alerts worked as one.
type Incident struct {
	ID             int64      `json:"id"`
	Number         string     `json:"number"` // INC-0042
	Title          string     `json:"title"`
	Kind           Kind       `json:"kind"`
	Status         Status     `json:"status"`
	Severity       Severity   `json:"severity"`
	Category       Category   `json:"category"`
	Notifiable     bool       `json:"notifiable"`
	AlertCount     int        `json:"alert_count"`
	Entities       []Entity   `json:"entities"`
	FirstSeen      time.Time  `json:"first_seen"` // earliest alert event time
	LastSeen       time.Time  `json:"last_seen"`  // latest alert event time
	OpenedAt       time.Time  `json:"opened_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ContainedAt    *time.Time `json:"contained_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"` // merged or false_positive
	MergedInto     int64      `json:"merged_into,omitempty"`
	Commander      string     `json:"commander,omitempty"`
	Playbook       string     `json:"playbook,omitempty"` // id of the playbook that matched
	DrillID        string     `json:"drill_id,omitempty"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// IncidentNumber formats an incident id as its human number.
func IncidentNumber(id int64) string { return fmt.Sprintf("INC-%04d", id) }

// ParseIncidentRef accepts "42", "INC-42" or "INC-0042" (case-insensitive) and returns the id.
func ParseIncidentRef(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > 4 && strings.EqualFold(t[:4], "INC-") {
		t = t[4:]
	}
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("incident %q: want an id like 42 or a number like INC-0042", s)
	}
	return id, nil
}

// SetStatus moves the incident to t at time now, stamping the matching timestamp.
// It refuses invalid moves and changes nothing then.
func (in *Incident) SetStatus(t Status, now time.Time) error {
	if err := in.Status.CheckTransition(t); err != nil {
		return err
	}
	at := now
	switch t {
	case StatusAcknowledged:
		in.AcknowledgedAt = &at
	case StatusContained:
		in.ContainedAt = &at
	case StatusResolved:
		in.ResolvedAt = &at
	default:
		in.ClosedAt = &at
	}
	in.Status = t
	in.UpdatedAt = now
	return nil
}

// SystemActor is the actor recorded for what warroom does by itself: correlation,
// playbook proposals, automatic actions, TTL rollbacks.
const SystemActor = "warroom"

// TimelineEvent is one line of an incident's history: who did what, when.
type TimelineEvent struct {
	ID         int64           `json:"id"`
	IncidentID int64           `json:"incident_id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"` // SystemActor for warroom itself
	Kind       string          `json:"kind"`  // opened, alert, merged, severity, status, note...
	Text       string          `json:"text"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// AuditEntry is one row of the append-only, hash-chained audit log.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`  // e.g. incident.status, incident.open
	Subject  string          `json:"subject"` // e.g. INC-0042
	Detail   json.RawMessage `json:"detail,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}
