package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// alertmanagerDecoder decodes the Prometheus Alertmanager webhook payload, version
// "4" (webhook_config in alertmanager.yml). Each element of alerts[] is an item.
//
// Mapping: labels.alertname → Rule (required); "alertname: summary" → Title
// (annotations summary, else message); startsAt → EventTime; status firing or
// resolved → Status; fingerprint → SourceRef; generatorURL → URL. labels.severity
// maps by word (critical/page → critical, error/major → high, warning → medium,
// minor/notice → low, info/none → info; absent or unknown → medium). A category label
// naming a warroom category is taken as is, else the category is inferred from
// alertname and summary. Entities come from the labels listed in alertLabelEntities
// (instance "host:port", host, src_ip, dest_ip, device, ifName, peer...). Labels are
// kept as labels (more than MaxLabels, or a value over MaxLabelValue bytes, rejects
// the alert); annotations are kept as "annotation.<name>", cut to LabelValueKeep.
// The fingerprint combines Alertmanager's own with startsAt and status, so the
// firing and the resolved notification of one alert are distinct alerts.
type alertmanagerDecoder struct{}

var _ Decoder = alertmanagerDecoder{}

func init() { Register("alertmanager", alertmanagerDecoder{}) }

func (alertmanagerDecoder) ContentTypes() []string { return []string{"application/json"} }

type amPayload struct {
	Version     *string           `json:"version"`
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	ExternalURL string            `json:"externalURL"`
	Alerts      []json.RawMessage `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func (alertmanagerDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	var p amPayload
	if len(trimSpace(body)) == 0 {
		return nil, errEmptyBody
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("alertmanager webhook: %w", jsonError(err))
	}
	switch {
	case p.Version == nil:
		return nil, errors.New(`alertmanager webhook: missing version; want "4"`)
	case *p.Version != "4":
		return nil, fmt.Errorf(`alertmanager webhook version %s: want "4" (Alertmanager 0.x webhook_config)`, quote(*p.Version))
	case p.Alerts == nil:
		return nil, errors.New("alertmanager webhook: missing alerts array")
	}
	items := make([]Item, len(p.Alerts))
	badUTF8 := false
	for i, elem := range p.Alerts {
		a, err := decodeAMAlert(elem, &p, opts)
		if err != nil {
			if !utf8.Valid(elem) {
				badUTF8 = true
			}
			items[i].Err = err
			continue
		}
		finish(a, "alertmanager", opts)
		items[i].Alert = a
	}
	if !badUTF8 {
		if err := checkUTF8(body); err != nil {
			return nil, fmt.Errorf("alertmanager webhook: %w", err)
		}
	}
	return items, nil
}

func decodeAMAlert(elem []byte, p *amPayload, opts Options) (*model.Alert, error) {
	var in amAlert
	if err := decodeElement(elem, &in); err != nil {
		return nil, err
	}
	status := in.Status
	if status == "" {
		status = p.Status
	}
	if status != "firing" && status != "resolved" {
		if status == "" {
			return nil, errors.New("missing status; want firing or resolved")
		}
		return nil, fmt.Errorf("status %s: want firing or resolved", quote(status))
	}
	lbl, err := checkLabels(in.Labels)
	if err != nil {
		return nil, err
	}
	name := lbl["alertname"]
	if name == "" {
		return nil, errors.New("missing label alertname")
	}
	t, err := parseRFC3339("startsAt", in.StartsAt)
	if err != nil {
		if in.StartsAt == "0001-01-01T00:00:00Z" {
			return nil, missingTime("startsAt")
		}
		return nil, err
	}
	a := &model.Alert{
		Rule:      name,
		Status:    status,
		EventTime: t,
		SourceRef: clip(in.Fingerprint, maxRuleLen),
	}
	summary := firstNonEmpty(in.Annotations["summary"], in.Annotations["message"])
	a.Title = name
	if summary != "" {
		a.Title = name + ": " + clip(summary, maxTitleLen)
	} else if inst := lbl["instance"]; inst != "" {
		a.Title = name + " on " + clip(inst, maxTitleLen)
	}
	if u, ok := linkURL(in.GeneratorURL); ok {
		a.URL = u
	}
	a.Severity = model.SeverityMedium
	if s, ok := severityWord(lbl["severity"]); ok {
		a.Severity = s
	}
	if c, err := model.ParseCategory(lbl["category"]); err == nil {
		a.Category = c
	} else {
		a.Category = inferCategory(name, summary)
	}
	es := entities{list: make([]model.Entity, 0, 4)}
	if err := es.fromFields(alertLabelEntities, func(k string) string { return lbl[k] }); err != nil {
		return nil, err
	}
	a.Entities = es.list
	l := labels{m: lbl}
	keys := make([]string, 0, len(in.Annotations))
	for k := range in.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l.note("annotation."+clip(k, MaxLabelKey-len("annotation.")), in.Annotations[k])
	}
	a.Labels = l.m
	a.Raw = rawOf(elem)

	var fp fingerprinter
	fp.str("alertmanager").str(opts.Source)
	if in.Fingerprint != "" {
		fp.str(in.Fingerprint)
	} else {
		names := make([]string, 0, len(lbl))
		for k := range lbl {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fp.str(k).str(lbl[k])
		}
	}
	fp.str(in.StartsAt).str(status)
	a.Fingerprint = fp.sum()
	return a, nil
}
