package ingest

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestElasticFixture(t *testing.T) {
	items := decode(t, "elastic", readFixture(t, "elastic.json"))
	if len(items) != 2 {
		t.Fatalf("got %d items, want 2 (the closing {} is not an item)", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "3d0e9a4c1f8b2e7d6a5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5",
		Rule:      "Potential SSH Brute Force Detected",
		Title:     "Potential SSH Brute Force Detected",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryBruteforce,
		EventTime: ts("2026-11-20T09:00:30Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "203.0.113.7", model.RoleSrc),
			ent(model.EntityHost, "bastion-01", model.RoleDst),
			ent(model.EntityUser, "root", model.RoleSrc),
		},
		Labels: map[string]string{"event.action": "ssh_login", "event.dataset": "system.auth", "event.module": "system",
			"reason":     "authentication event with source 203.0.113.7 by root on bastion-01 created medium alert Potential SSH Brute Force Detected.",
			"risk_score": "47", "rule_id": "9f4c3a10-6b2e-11ef-9a1c-3b1f0c2d4e5f", "source.port": "52114",
			"tags": "Domain: Endpoint,OS: Linux,Use Case: Threat Detection,Tactic: Credential Access"},
		URL: "https://kibana.example.net:5601/app/security/alerts/redirect/3d0e9a4c1f8b2e7d?index=.alerts-security.alerts-default",
	}, "elastic")
	wantAlert(t, 1, items[1].Alert, model.Alert{
		SourceRef: "8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b",
		Rule:      "Potential SSH Brute Force Detected",
		Title:     "Potential SSH Brute Force Detected",
		Severity:  model.SeverityHigh, // from risk_score 73
		Category:  model.CategoryBruteforce,
		EventTime: ts("2026-11-20T09:03:04.99Z"), // no original_time: @timestamp
		Entities: []model.Entity{
			ent(model.EntityIP, "2001:db8:bad::7", model.RoleSrc),
			ent(model.EntityIP, "10.20.0.22", model.RoleDst),
			ent(model.EntityHost, "fw-edge-01", model.RoleObserver),
			ent(model.EntityCommunityID, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", model.RoleObserver),
		},
		Labels: map[string]string{"destination.port": "22", "event.action": "flow_started", "event.dataset": "panw.panos",
			"event.module": "panw",
			"reason":       "network event with source 2001:db8:bad::7:40110, destination 10.20.0.22:22, created high alert Potential SSH Brute Force Detected.",
			"risk_score":   "73", "rule_id": "9f4c3a10-6b2e-11ef-9a1c-3b1f0c2d4e5f", "source.port": "40110",
			"tags": "Domain: Endpoint,OS: Linux,Use Case: Threat Detection,Tactic: Credential Access"},
		URL: "https://kibana.example.net:5601/app/security/rules/id/9f4c3a10-6b2e-11ef-9a1c-3b1f0c2d4e5f",
	}, "elastic")
}

// TestElasticTemplate renders the shipped template the way Kibana's mustache does
// (dotted names looked up through nested objects, absent values as "", values
// JSON-escaped), and checks the decoder reads what it produces.
func TestElasticTemplate(t *testing.T) {
	tmpl := string(readFixture(t, "elastic-template.json.mustache"))
	vars := map[string]any{
		"rule": map[string]any{"id": "r-1", "name": `SSH "brute" force`, "url": "https://kibana.example.net/r-1"},
		"date": "2026-11-20T09:03:05.412Z",
	}
	alerts := []map[string]any{
		{"@timestamp": "2026-11-20T09:03:04.981Z", "kibana": map[string]any{"alert": map[string]any{
			"uuid": "u-1", "severity": "high", "rule": map[string]any{"name": `SSH "brute" force`}}},
			"source": map[string]any{"ip": "203.0.113.7"}},
		{"@timestamp": "2026-11-20T09:03:05.001Z", "kibana": map[string]any{"alert": map[string]any{
			"uuid": "u-2", "rule": map[string]any{"name": `SSH "brute" force`}}},
			"destination": map[string]any{"ip": "10.20.0.22"}, "host": map[string]any{"name": "web-1"}},
	}
	body := renderTemplate(t, tmpl, vars, alerts)
	if !json.Valid([]byte(body)) {
		t.Fatalf("rendered template is not JSON:\n%s", body)
	}
	items := decode(t, "elastic", []byte(body))
	if len(items) != 2 || items[0].Alert == nil || items[1].Alert == nil {
		t.Fatalf("items: %+v", items)
	}
	if a := items[0].Alert; a.Rule != `SSH "brute" force` || a.Severity != model.SeverityHigh ||
		a.SourceRef != "u-1" || len(a.Entities) != 1 || a.Entities[0].Value != "203.0.113.7" {
		t.Errorf("alert 0: %+v", a)
	}
	if a := items[1].Alert; a.URL != "https://kibana.example.net/r-1" || len(a.Entities) != 2 {
		t.Errorf("alert 1: %+v", a)
	}
}

// renderTemplate implements the part of mustache the template uses: one section
// over context.alerts and {{name}} variables with JSON escaping.
func renderTemplate(t *testing.T, tmpl string, vars map[string]any, alerts []map[string]any) string {
	t.Helper()
	const open, close = "{{#context.alerts}}", "{{/context.alerts}}"
	i, j := strings.Index(tmpl, open), strings.Index(tmpl, close)
	if i < 0 || j < i {
		t.Fatal("template has no context.alerts section")
	}
	before, section, after := tmpl[:i], tmpl[i+len(open):j], tmpl[j+len(close):]
	var b strings.Builder
	b.WriteString(substitute(before, vars))
	for _, a := range alerts {
		b.WriteString(substitute(section, a))
	}
	b.WriteString(substitute(after, vars))
	return b.String()
}

var mustacheVar = regexp.MustCompile(`\{\{([^#/{}][^{}]*)\}\}`)

func substitute(s string, vars map[string]any) string {
	return mustacheVar.ReplaceAllStringFunc(s, func(m string) string {
		var v any = vars
		for _, part := range strings.Split(strings.TrimSpace(m[2:len(m)-2]), ".") {
			mv, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = mv[part]
		}
		str, _ := v.(string)
		q, _ := json.Marshal(str)
		return string(q[1 : len(q)-1])
	})
}

func kibanaBody(alerts ...string) []byte {
	return []byte(`{"version":"1","rule":{"id":"r","name":"Rule","url":""},"alerts":[` + strings.Join(alerts, ",") + `,{}]}`)
}

func TestElasticBadInput(t *testing.T) {
	good := `{"@timestamp":"2026-11-20T09:03:04.981Z","source.ip":"203.0.113.7"}`
	for _, tc := range []struct{ name, alert, want string }{
		{"missing event time", `{"@timestamp":"","source.ip":"203.0.113.7"}`, "missing event time (field @timestamp)"},
		{"bad event time", `{"@timestamp":"Nov 20"}`, `@timestamp "Nov 20": want a time like 2026-11-20T09:00:30.846551+0000`},
		{"bad original time", `{"@timestamp":"2026-11-20T09:03:04.981Z","kibana.alert.original_time":"x"}`, `kibana.alert.original_time "x": want a time like 2026-11-20T09:00:30.846551+0000`},
		{"unparsable IP", `{"@timestamp":"2026-11-20T09:03:04.981Z","source.ip":"not-an-ip"}`, `source.ip "not-an-ip": not an IP address`},
		{"unparsable destination", `{"@timestamp":"2026-11-20T09:03:04.981Z","destination.ip":"10.0.0.1:22"}`, `destination.ip "10.0.0.1:22": not an IP address`},
		{"wrong type", `{"@timestamp":"2026-11-20T09:03:04.981Z","source.ip":["1.2.3.4"]}`, "source.ip: want a string, got array"},
		{"risk score wrong type", `{"@timestamp":"2026-11-20T09:03:04.981Z","kibana.alert.risk_score":{}}`, "kibana.alert.risk_score: want a string or a number, got object"},
		{"not UTF-8", "{\"@timestamp\":\"2026-11-20T09:03:04.981Z\",\"host.name\":\"\xfe\"}", "invalid UTF-8 at byte 54: send UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := decode(t, "elastic", kibanaBody(good, tc.alert, good))
			if len(items) != 3 || items[0].Alert == nil || items[2].Alert == nil {
				t.Fatalf("the good alerts around the bad one were not decoded: %+v", items)
			}
			if items[1].Err == nil || items[1].Err.Error() != tc.want {
				t.Errorf("error %v\nwant  %q", items[1].Err, tc.want)
			}
		})
	}
	// A 5 MB reason is cut, not stored whole; the alert is kept.
	items := decode(t, "elastic", kibanaBody(`{"@timestamp":"2026-11-20T09:03:04.981Z","kibana.alert.reason":"`+
		strings.Repeat("r", 5<<20)+`"}`))
	if a := items[0].Alert; a == nil || len(a.Labels["reason"]) > LabelValueKeep {
		t.Fatalf("5 MB reason: %+v", items[0])
	}
	// No rule name anywhere.
	items = decode(t, "elastic", []byte(`{"alerts":[`+good+`]}`))
	if got, want := items[0].Err.Error(), "missing kibana.alert.rule.name (and rule.name)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestElasticBodyErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"version":"2","alerts":[]}`, `kibana webhook template version "2": want "1" (see the template in the ingest README)`},
		{`{"version":"1","rule":{}}`, "kibana webhook: missing alerts array; set the connector body to warroom's template"},
		{`{"version":"1","alerts":[{},]}`, "kibana webhook: malformed JSON at byte 28: invalid character ']' looking for beginning of value"},
		{`[]`, "kibana webhook: want an object, got array"},
	} {
		if got := decodeErr(t, "elastic", []byte(tc.body)).Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.body, got, tc.want)
		}
	}
}

func TestKibanaSeverity(t *testing.T) {
	for _, tc := range []struct {
		word, risk string
		want       model.Severity
	}{
		{"critical", "", model.SeverityCritical},
		{"low", "99", model.SeverityLow},
		{"", "21", model.SeverityLow},
		{"", "22", model.SeverityMedium},
		{"", "48", model.SeverityHigh},
		{"", "74", model.SeverityCritical},
		{"", "", model.SeverityMedium},
		{"", "250", model.SeverityMedium},
	} {
		if got := kibanaSeverity(tc.word, tc.risk); got != tc.want {
			t.Errorf("%q %q: %v, want %v", tc.word, tc.risk, got, tc.want)
		}
	}
}
