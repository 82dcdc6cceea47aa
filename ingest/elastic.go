package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// elasticDecoder decodes what a Kibana webhook connector sends when its body is the
// template in testdata/elastic-template.json.mustache (see README.md): an envelope
// with the rule and one flat object per alert in context.alerts, every field a
// string (Kibana renders absent fields as ""):
//
//	{"version": "1", "rule": {"id", "name", "url"}, "date": "...",
//	 "alerts": [{"@timestamp", "kibana.alert.uuid", "kibana.alert.rule.name",
//	             "kibana.alert.severity", "source.ip", "destination.ip", "host.name",
//	             "user.name", ...}, ..., {}]}
//
// Mustache cannot omit the comma after the last element, so the template closes the
// array with an empty object; empty objects and nulls are not items.
//
// Mapping: kibana.alert.rule.name (else rule.name) → Rule and Title;
// kibana.alert.original_time (else @timestamp) → EventTime; kibana.alert.uuid →
// SourceRef; kibana.alert.url (else rule.url) → URL; kibana.alert.severity (low,
// medium, high, critical), else kibana.alert.risk_score (0–21 low, 22–47 medium,
// 48–73 high, 74–100 critical), else medium. source.ip → ip/src and destination.ip →
// ip/dst (must be addresses); host.name → host/dst; user.name → user/src;
// observer.name → host/observer; network.community_id → community_id. The category is
// inferred from the rule name, then its tags ("Tactic: Lateral Movement").
type elasticDecoder struct{}

var _ Decoder = elasticDecoder{}

func init() { Register("elastic", elasticDecoder{}) }

func (elasticDecoder) ContentTypes() []string { return []string{"application/json"} }

type kibanaPayload struct {
	Version *string `json:"version"`
	Rule    struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"rule"`
	Alerts []json.RawMessage `json:"alerts"`
}

type kibanaAlert struct {
	Timestamp    string `json:"@timestamp"`
	OriginalTime string `json:"kibana.alert.original_time"`
	UUID         string `json:"kibana.alert.uuid"`
	RuleName     string `json:"kibana.alert.rule.name"`
	RuleUUID     string `json:"kibana.alert.rule.uuid"`
	RuleTags     string `json:"kibana.alert.rule.tags"`
	Severity     string `json:"kibana.alert.severity"`
	RiskScore    scalar `json:"kibana.alert.risk_score"`
	Reason       string `json:"kibana.alert.reason"`
	URL          string `json:"kibana.alert.url"`
	SourceIP     string `json:"source.ip"`
	SourcePort   scalar `json:"source.port"`
	DestIP       string `json:"destination.ip"`
	DestPort     scalar `json:"destination.port"`
	HostName     string `json:"host.name"`
	UserName     string `json:"user.name"`
	ObserverName string `json:"observer.name"`
	CommunityID  string `json:"network.community_id"`
	EventModule  string `json:"event.module"`
	EventDataset string `json:"event.dataset"`
	EventAction  string `json:"event.action"`
}

func (elasticDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	if len(trimSpace(body)) == 0 {
		return nil, errEmptyBody
	}
	var p kibanaPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("kibana webhook: %w", jsonError(err))
	}
	switch {
	case p.Version != nil && *p.Version != "1":
		return nil, fmt.Errorf(`kibana webhook template version %s: want "1" (see the template in the ingest README)`, quote(*p.Version))
	case p.Alerts == nil:
		return nil, errors.New("kibana webhook: missing alerts array; set the connector body to warroom's template")
	}
	items := make([]Item, 0, len(p.Alerts))
	badUTF8 := false
	for _, elem := range p.Alerts {
		if e := trimSpace(elem); bytes.Equal(e, []byte("{}")) || bytes.Equal(e, []byte("null")) {
			continue
		}
		a, err := decodeKibanaAlert(elem, &p, opts)
		if err != nil {
			badUTF8 = badUTF8 || !utf8.Valid(elem)
			items = append(items, Item{Err: err})
			continue
		}
		finish(a, "elastic", opts)
		items = append(items, Item{Alert: a})
	}
	if !badUTF8 {
		if err := checkUTF8(body); err != nil {
			return nil, fmt.Errorf("kibana webhook: %w", err)
		}
	}
	return items, nil
}

func decodeKibanaAlert(elem []byte, p *kibanaPayload, opts Options) (*model.Alert, error) {
	var in kibanaAlert
	if err := decodeElement(elem, &in); err != nil {
		return nil, err
	}
	name := firstNonEmpty(in.RuleName, p.Rule.Name)
	if name == "" {
		return nil, errors.New("missing kibana.alert.rule.name (and rule.name)")
	}
	var (
		t   time.Time
		err error
	)
	switch {
	case in.OriginalTime != "":
		t, err = parseISOTime("kibana.alert.original_time", in.OriginalTime)
	case in.Timestamp != "":
		t, err = parseISOTime("@timestamp", in.Timestamp)
	default:
		err = missingTime("@timestamp")
	}
	if err != nil {
		return nil, err
	}
	a := &model.Alert{
		Rule:      name,
		Title:     name,
		EventTime: t,
		SourceRef: clip(in.UUID, maxRuleLen),
	}
	if u, ok := linkURL(in.URL); ok {
		a.URL = u
	} else if u, ok := linkURL(p.Rule.URL); ok {
		a.URL = u
	}
	a.Severity = kibanaSeverity(in.Severity, in.RiskScore.text)
	a.Category = inferCategory(name, in.RuleTags)

	es := entities{list: make([]model.Entity, 0, 4)}
	if err := es.ip("source.ip", in.SourceIP, model.RoleSrc); err != nil {
		return nil, err
	}
	if err := es.ip("destination.ip", in.DestIP, model.RoleDst); err != nil {
		return nil, err
	}
	for _, h := range strings.Split(in.HostName, ",") {
		_ = es.host("host.name", strings.TrimSpace(h), model.RoleDst, false)
	}
	for _, u := range strings.Split(in.UserName, ",") {
		_ = es.name(model.EntityUser, "user.name", strings.TrimSpace(u), model.RoleSrc, false)
	}
	_ = es.host("observer.name", in.ObserverName, model.RoleObserver, false)
	es.communityID(in.CommunityID)
	a.Entities = es.list

	var l labels
	for _, kv := range [...][2]string{
		{"rule_id", firstNonEmpty(in.RuleUUID, p.Rule.ID)},
		{"risk_score", in.RiskScore.text},
		{"source.port", in.SourcePort.text},
		{"destination.port", in.DestPort.text},
		{"event.module", in.EventModule},
		{"event.dataset", in.EventDataset},
		{"event.action", in.EventAction},
	} {
		l.note(kv[0], kv[1])
	}
	l.note("tags", in.RuleTags)
	l.note("reason", in.Reason)
	a.Labels = l.m
	a.Raw = rawOf(elem)

	var fp fingerprinter
	fp.str("elastic").str(opts.Source)
	if in.UUID != "" {
		fp.str(in.UUID)
	} else {
		fp.str(name).str(in.OriginalTime).str(in.Timestamp).str(in.SourceIP).str(in.DestIP).
			str(in.HostName).str(in.UserName).str(in.Reason)
	}
	a.Fingerprint = fp.sum()
	return a, nil
}

// kibanaSeverity reads kibana.alert.severity, else the risk score with the ranges
// Elastic Security uses.
func kibanaSeverity(word, risk string) model.Severity {
	if s, ok := severityWord(word); ok {
		return s
	}
	if r, err := strconv.ParseFloat(strings.TrimSpace(risk), 64); err == nil && r >= 0 && r <= 100 {
		switch {
		case r >= 74:
			return model.SeverityCritical
		case r >= 48:
			return model.SeverityHigh
		case r >= 22:
			return model.SeverityMedium
		}
		return model.SeverityLow
	}
	return model.SeverityMedium
}
