package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// splunkDecoder decodes the body of Splunk's webhook alert action:
//
//	{"result": {...first result row...}, "sid": "...", "results_link": "...",
//	 "search_name": "...", "owner": "...", "app": "..."}
//
// One body is one alert (a JSON array or NDJSON of such bodies is also accepted).
//
// Mapping: search_name → Rule (required); "search_name: signature" → Title (when the
// result has a signature field); sid → SourceRef; results_link → URL. The event time
// is result._time (epoch seconds or ISO 8601), else the trigger time in a scheduled
// search's sid ("..._at_1763629230_42"). Severity comes from result.severity or
// result.urgency, as a word (critical, high, medium, low, informational...) or a
// Splunk level 1–6 (debug, info, warn, error, severe, fatal); absent → medium.
// Entities follow CIM field names: src_ip/source_ip → ip/src and dest_ip/dst_ip/
// destination_ip → ip/dst (must be addresses); src, src_host → src and dest, dst,
// dest_host → dst (address or host name); user, src_user → user/src, dest_user →
// user/dst; host (the reporting host) → host/observer; dvc → device/observer.
// Multivalue fields give one entity per value. Result fields not starting with "_"
// become labels, cut to LabelValueKeep bytes (search results legitimately hold long
// text, so they are never rejected for length); past MaxLabels, the remaining fields
// in name order are dropped.
type splunkDecoder struct{}

var _ Decoder = splunkDecoder{}

func init() { Register("splunk", splunkDecoder{}) }

func (splunkDecoder) ContentTypes() []string { return []string{"application/json"} }

type splunkPayload struct {
	Result      map[string]json.RawMessage `json:"result"`
	SID         string                     `json:"sid"`
	ResultsLink string                     `json:"results_link"`
	SearchName  string                     `json:"search_name"`
	Owner       string                     `json:"owner"`
	App         string                     `json:"app"`
}

// splunkEntities reads CIM fields; they may hold several values each.
var splunkEntities = []labelEntity{
	{"src_ip", asIP, model.RoleSrc},
	{"source_ip", asIP, model.RoleSrc},
	{"dest_ip", asIP, model.RoleDst},
	{"dst_ip", asIP, model.RoleDst},
	{"destination_ip", asIP, model.RoleDst},
	{"src", asHostOrIP, model.RoleSrc},
	{"src_host", asHostOrIP, model.RoleSrc},
	{"dest", asHostOrIP, model.RoleDst},
	{"dst", asHostOrIP, model.RoleDst},
	{"dest_host", asHostOrIP, model.RoleDst},
	{"user", asUser, model.RoleSrc},
	{"src_user", asUser, model.RoleSrc},
	{"dest_user", asUser, model.RoleDst},
	{"host", asHostOrIP, model.RoleObserver},
	{"dvc", asDevice, model.RoleObserver},
	{"community_id", asCommunity, model.RoleObserver},
}

func (splunkDecoder) Decode(body []byte, opts Options) ([]Item, error) {
	elems, err := elements(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	raw := bodyCopy{src: body}
	for i, elem := range elems {
		a, err := decodeSplunk(elem, opts)
		if err != nil {
			items[i].Err = err
			continue
		}
		a.Raw = raw.raw(elem)
		finish(a, "splunk", opts)
		items[i].Alert = a
	}
	return items, nil
}

// splunkValues reads a result field: a string, number or boolean is one value, an
// array of them several, null none.
func splunkValues(name string, raw json.RawMessage) ([]string, error) {
	var one scalar
	if err := json.Unmarshal(raw, &one); err == nil {
		if one.text == "" {
			return nil, nil
		}
		return []string{one.text}, nil
	}
	var many []scalar
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("result.%s: want a string or an array of strings, got %s", clip(name, MaxLabelKey), jsonTypeOf(raw))
	}
	out := make([]string, 0, len(many))
	for _, v := range many {
		if v.text != "" {
			out = append(out, v.text)
		}
	}
	return out, nil
}

func jsonTypeOf(raw []byte) string {
	s := scanner{b: raw}
	return s.kind()
}

func decodeSplunk(elem []byte, opts Options) (*model.Alert, error) {
	var p splunkPayload
	if err := decodeElement(elem, &p); err != nil {
		return nil, err
	}
	if p.SearchName == "" {
		return nil, errors.New("missing search_name: send the body of Splunk's webhook alert action")
	}
	if p.Result == nil {
		return nil, errors.New("missing result: send the body of Splunk's webhook alert action")
	}
	fields := make(map[string][]string, len(p.Result))
	names := make([]string, 0, len(p.Result))
	for k, v := range p.Result {
		vals, err := splunkValues(k, v)
		if err != nil {
			return nil, err
		}
		if len(vals) > 0 {
			fields[k] = vals
			names = append(names, k)
		}
	}
	sort.Strings(names)
	first := func(k string) string {
		if v := fields[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}

	t, timeField, err := splunkTime(first("_time"), p.SID)
	if err != nil {
		return nil, err
	}
	a := &model.Alert{
		Rule:      p.SearchName,
		Title:     p.SearchName,
		EventTime: t,
		SourceRef: clip(p.SID, maxRuleLen),
	}
	sig := first("signature")
	if sig != "" {
		a.Title = p.SearchName + ": " + clip(sig, maxTitleLen)
	}
	if u, ok := linkURL(p.ResultsLink); ok {
		a.URL = u
	}
	a.Severity = model.SeverityMedium
	if s, ok := splunkSeverity(firstNonEmpty(first("severity"), first("urgency"))); ok {
		a.Severity = s
	}
	a.Category = inferCategory(p.SearchName, sig, first("category"))

	es := entities{list: make([]model.Entity, 0, 4)}
	for n := 0; ; n++ {
		more := false
		err := es.fromFields(splunkEntities, func(k string) string {
			if v := fields[k]; n < len(v) {
				more = more || n+1 < len(v)
				return v[n]
			}
			return ""
		})
		if err != nil {
			return nil, err
		}
		if !more || n >= maxEntities || len(es.list) >= maxEntities {
			break
		}
	}
	a.Entities = es.list

	var l labels
	for _, k := range names {
		if strings.HasPrefix(k, "_") || len(k) > MaxLabelKey {
			continue
		}
		l.note(k, strings.Join(fields[k], ","))
	}
	l.note("splunk.app", p.App)
	l.note("splunk.owner", p.Owner)
	a.Labels = l.m

	var fp fingerprinter
	fp.str("splunk").str(opts.Source).str(p.SID).str(p.SearchName).str(timeField)
	for _, k := range names {
		if !strings.HasPrefix(k, "_") || k == "_time" {
			fp.str(k).str(strings.Join(fields[k], ","))
		}
	}
	a.Fingerprint = fp.sum()
	return a, nil
}

// splunkTime reads result._time, falling back to the trigger time in the sid of a
// scheduled search. It also returns the text it used, for the fingerprint.
func splunkTime(timeField, sid string) (time.Time, string, error) {
	if timeField != "" {
		t, err := parseEpochOrISO("result._time", scalar{text: timeField})
		return t, timeField, err
	}
	if i := strings.LastIndex(sid, "_at_"); i >= 0 {
		rest := sid[i+len("_at_"):]
		digits, _, _ := strings.Cut(rest, "_")
		if allDigits(digits) && len(digits) >= 9 && len(digits) <= 11 {
			if t, ok := parseEpoch(digits); ok {
				if t, err := checkRange("sid", digits, t); err == nil {
					return t, digits, nil
				}
			}
		}
	}
	return time.Time{}, "", missingTime("result._time")
}

// splunkSeverity reads a severity word or a Splunk alert level (1 debug … 6 fatal).
func splunkSeverity(s string) (model.Severity, bool) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		switch {
		case n <= 0:
			return model.SeverityUnknown, false
		case n <= 2:
			return model.SeverityInfo, true
		case n == 3:
			return model.SeverityMedium, true
		case n == 4:
			return model.SeverityHigh, true
		}
		return model.SeverityCritical, true
	}
	return severityWord(s)
}
