package ingest

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestAlertmanagerFixture(t *testing.T) {
	items := decode(t, "alertmanager", readFixture(t, "alertmanager.json"))
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "5a8b4f0e2d1c7a93",
		Rule:      "BGPSessionDown",
		Title:     "BGPSessionDown: BGP session to 192.0.2.1 (AS64500) is down",
		Severity:  model.SeverityCritical,
		Category:  model.CategoryRouting,
		Status:    "firing",
		EventTime: ts("2026-11-20T09:01:15.123Z"),
		Entities: []model.Entity{
			ent(model.EntityHost, "core-rtr1.example.net", model.RoleDst),
			ent(model.EntityDevice, "core-rtr1", model.RoleDst),
			ent(model.EntityIP, "192.0.2.1", model.RoleDst),
		},
		Labels: map[string]string{
			"alertname": "BGPSessionDown", "device": "core-rtr1", "instance": "core-rtr1.example.net:9116",
			"job": "snmp", "peer_address": "192.0.2.1", "severity": "critical",
			"annotation.summary":     "BGP session to 192.0.2.1 (AS64500) is down",
			"annotation.runbook_url": "https://runbooks.example.net/bgp-session-down",
		},
		URL: "http://prometheus.example.net:9090/graph?g0.expr=bgpPeerState+%21%3D+6&g0.tab=1",
	}, "alertmanager")
	wantAlert(t, 1, items[1].Alert, model.Alert{
		SourceRef: "0c7e4d2b9a611f08",
		Rule:      "NodeDown",
		Title:     "NodeDown on [2001:db8:10::15]:9100",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryOther,
		Status:    "resolved",
		EventTime: ts("2026-11-20T08:52:00Z"),
		Entities:  []model.Entity{ent(model.EntityIP, "2001:db8:10::15", model.RoleDst)},
		Labels: map[string]string{
			"alertname": "NodeDown", "instance": "[2001:db8:10::15]:9100", "job": "node", "severity": "warning",
			"annotation.description": "Node exporter on [2001:db8:10::15]:9100 has not answered scrapes for 2 minutes.",
		},
		URL: "http://prometheus.example.net:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
	}, "alertmanager")
	wantAlert(t, 2, items[2].Alert, model.Alert{
		SourceRef: "e31f2a7cc0d94b55",
		Rule:      "SSHAuthFailuresHigh",
		Title:     "SSHAuthFailuresHigh: 57 failed SSH logins in 5 minutes",
		Severity:  model.SeverityCritical,
		Category:  model.CategoryBruteforce,
		Status:    "firing",
		EventTime: ts("2026-11-20T08:00:30Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "203.0.113.7", model.RoleSrc),
			ent(model.EntityHost, "bastion-01.example.net", model.RoleDst),
			ent(model.EntityUser, "root", model.RoleSrc),
			ent(model.EntityInterface, "bastion-01.example.net/eth0", model.RoleDst),
		},
		Labels: map[string]string{
			"alertname": "SSHAuthFailuresHigh", "hostname": "Bastion-01.example.net", "ifName": "eth0",
			"job": "sshd-exporter", "severity": "page", "src_ip": "203.0.113.7", "user": "Root",
			"annotation.summary": "57 failed SSH logins in 5 minutes",
		},
		URL: "http://prometheus.example.net:9090/graph?g0.expr=rate%28sshd_auth_failures_total%5B5m%5D%29+%3E+0.1",
	}, "alertmanager")
	if items[0].Alert.Fingerprint == items[1].Alert.Fingerprint {
		t.Error("distinct alerts share a fingerprint")
	}
}

// amBody wraps alert objects in a version 4 payload.
func amBody(alerts ...string) []byte {
	return []byte(`{"version":"4","status":"firing","receiver":"warroom","alerts":[` + strings.Join(alerts, ",") + `]}`)
}

func amAlertJSON(labels, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"status":"firing","labels":{` + labels + `},"startsAt":"2026-11-20T09:00:00Z","fingerprint":"f1"` + extra + `}`
}

// TestAlertmanagerResolvedFingerprint: the resolved notification of an alert is a
// new alert (new fingerprint), a repeated firing notification is not.
func TestAlertmanagerResolvedFingerprint(t *testing.T) {
	firing := amAlertJSON(`"alertname":"X"`, "")
	resolved := strings.Replace(firing, `"status":"firing"`, `"status":"resolved"`, 1)
	items := decode(t, "alertmanager", amBody(firing, firing, resolved))
	if items[0].Alert.Fingerprint != items[1].Alert.Fingerprint {
		t.Error("a repeated notification got a new fingerprint")
	}
	if items[0].Alert.Fingerprint == items[2].Alert.Fingerprint {
		t.Error("the resolved notification shares the firing one's fingerprint")
	}
	if items[2].Alert.Status != "resolved" {
		t.Errorf("status %q, want resolved", items[2].Alert.Status)
	}
}

func TestAlertmanagerInstance(t *testing.T) {
	for _, tc := range []struct {
		instance string
		want     model.Entity
	}{
		{"10.0.0.5:9100", ent(model.EntityIP, "10.0.0.5", model.RoleDst)},
		{"[2001:DB8::1]:9100", ent(model.EntityIP, "2001:db8::1", model.RoleDst)},
		{"2001:db8::1", ent(model.EntityIP, "2001:db8::1", model.RoleDst)},
		{"Web-01.Example.net:9100", ent(model.EntityHost, "web-01.example.net", model.RoleDst)},
		{"web-01", ent(model.EntityHost, "web-01", model.RoleDst)},
		{"https://www.example.org/health", ent(model.EntityHost, "www.example.org", model.RoleDst)},
		{"::ffff:192.0.2.9", ent(model.EntityIP, "192.0.2.9", model.RoleDst)},
	} {
		items := decode(t, "alertmanager", amBody(amAlertJSON(`"alertname":"X","instance":"`+tc.instance+`"`, "")))
		a := items[0].Alert
		if a == nil || len(a.Entities) != 1 || a.Entities[0] != tc.want {
			t.Errorf("instance %q: %+v, want [%+v]", tc.instance, items[0], tc.want)
		}
	}
	// A value that is no host at all is not an entity, and not an error either.
	items := decode(t, "alertmanager", amBody(amAlertJSON(`"alertname":"X","instance":"my service"`, "")))
	if a := items[0].Alert; a == nil || len(a.Entities) != 0 {
		t.Errorf("instance with a space: %+v", items[0])
	}
}

func TestAlertmanagerSeverityCategory(t *testing.T) {
	for _, tc := range []struct {
		labels string
		sev    model.Severity
		cat    model.Category
	}{
		{`"alertname":"HighLatency","severity":"warning"`, model.SeverityMedium, model.CategoryOther},
		{`"alertname":"HighLatency","severity":"info"`, model.SeverityInfo, model.CategoryOther},
		{`"alertname":"HighLatency","severity":"minor"`, model.SeverityLow, model.CategoryOther},
		{`"alertname":"HighLatency","severity":"error"`, model.SeverityHigh, model.CategoryOther},
		{`"alertname":"HighLatency","severity":"whatever"`, model.SeverityMedium, model.CategoryOther},
		{`"alertname":"HighLatency"`, model.SeverityMedium, model.CategoryOther},
		{`"alertname":"HighLatency","category":"dos"`, model.SeverityMedium, model.CategoryDoS},
		{`"alertname":"OSPFNeighborDown"`, model.SeverityMedium, model.CategoryRouting},
		{`"alertname":"NodeNetworkInterfaceFlapping"`, model.SeverityMedium, model.CategoryRouting},
		{`"alertname":"SYNFloodDetected"`, model.SeverityMedium, model.CategoryDoS},
	} {
		items := decode(t, "alertmanager", amBody(amAlertJSON(tc.labels, "")))
		a := items[0].Alert
		if a == nil || a.Severity != tc.sev || a.Category != tc.cat {
			t.Errorf("%s: %+v, want %v %v", tc.labels, items[0], tc.sev, tc.cat)
		}
	}
}

func TestAlertmanagerBadInput(t *testing.T) {
	big := strings.Repeat("a", 5<<20)
	for _, tc := range []struct{ name, alert, want string }{
		{"missing alertname", amAlertJSON(`"job":"x"`, ""), "missing label alertname"},
		{"bad status", strings.Replace(amAlertJSON(`"alertname":"X"`, ""), "firing", "pending", 1), `status "pending": want firing or resolved`},
		{"missing event time", `{"status":"firing","labels":{"alertname":"X"}}`, "missing event time (field startsAt)"},
		{"zero event time", `{"status":"firing","labels":{"alertname":"X"},"startsAt":"0001-01-01T00:00:00Z"}`, "missing event time (field startsAt)"},
		{"bad event time", `{"status":"firing","labels":{"alertname":"X"},"startsAt":"20 Nov 2026"}`, `startsAt "20 Nov 2026": want an RFC 3339 time like 2026-11-20T09:00:30Z`},
		{"unparsable IP", amAlertJSON(`"alertname":"X","src_ip":"not-an-ip"`, ""), `src_ip "not-an-ip": not an IP address`},
		{"unparsable peer", amAlertJSON(`"alertname":"X","peer_address":"192.0.2"`, ""), `peer_address "192.0.2": not an IP address`},
		{"label not a string", amAlertJSON(`"alertname":"X","count":3`, ""), "labels: want a string, got number"},
		{"labels not an object", `{"status":"firing","labels":["alertname"],"startsAt":"2026-11-20T09:00:00Z"}`, "labels: want an object, got array"},
		{"5 MB label", amAlertJSON(`"alertname":"X","blob":"`+big+`"`, ""), "label blob is 5242880 bytes; at most 4096"},
		{"too many labels", amAlertJSON(manyLabels(65), ""), "65 labels; at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := decode(t, "alertmanager", amBody(amAlertJSON(`"alertname":"Good"`, ""), tc.alert))
			if items[0].Alert == nil {
				t.Fatalf("the good alert was rejected: %v", items[0].Err)
			}
			if items[1].Err == nil || items[1].Err.Error() != tc.want {
				t.Errorf("error %v\nwant  %q", items[1].Err, tc.want)
			}
		})
	}
}

func manyLabels(n int) string {
	var b strings.Builder
	b.WriteString(`"alertname":"X"`)
	for i := 1; i < n; i++ {
		b.WriteString(`,"l` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":"v"`)
	}
	return b.String()
}

// TestAlertmanagerLongValues: a label between LabelValueKeep and MaxLabelValue bytes
// is cut; an annotation of any length is cut, never rejected.
func TestAlertmanagerLongValues(t *testing.T) {
	long := strings.Repeat("é", 1500) // 3000 bytes
	huge := strings.Repeat("x", 5<<20)
	items := decode(t, "alertmanager", amBody(amAlertJSON(`"alertname":"X","note":"`+long+`"`,
		`"annotations":{"description":"`+huge+`","summary":"`+long+`"}`)))
	a := items[0].Alert
	if a == nil {
		t.Fatal(items[0].Err)
	}
	for _, k := range []string{"note", "annotation.description", "annotation.summary"} {
		v := a.Labels[k]
		if len(v) > LabelValueKeep || !strings.HasSuffix(v, "…") {
			t.Errorf("label %s: %d bytes, want cut to at most %d ending in …", k, len(v), LabelValueKeep)
		}
	}
	if len(a.Title) > maxTitleLen {
		t.Errorf("title is %d bytes", len(a.Title))
	}
}

func TestAlertmanagerBodyErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"version":"3","alerts":[]}`, `alertmanager webhook version "3": want "4" (Alertmanager 0.x webhook_config)`},
		{`{"alerts":[]}`, `alertmanager webhook: missing version; want "4"`},
		{`{"version":"4"}`, "alertmanager webhook: missing alerts array"},
		{`{"version":"4","alerts":[`, "alertmanager webhook: malformed JSON at byte 25: unexpected end of input"},
		{`{"version":4,"alerts":[]}`, "alertmanager webhook: version: want a string, got number"},
		{`[{"version":"4"}]`, "alertmanager webhook: want an object, got array"},
		{"{\"version\":\"4\",\"receiver\":\"\xff\",\"alerts\":[]}", "alertmanager webhook: invalid UTF-8 at byte 27: send UTF-8 text"},
	} {
		if got := decodeErr(t, "alertmanager", []byte(tc.body)).Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.body, got, tc.want)
		}
	}
}

// TestAlertmanagerNonUTF8Alert: bad bytes inside one alert reject that alert only.
func TestAlertmanagerNonUTF8Alert(t *testing.T) {
	items := decode(t, "alertmanager", amBody(amAlertJSON(`"alertname":"Good"`, ""),
		amAlertJSON("\"alertname\":\"B\xe9d\"", "")))
	if items[0].Alert == nil {
		t.Fatal(items[0].Err)
	}
	if got, want := items[1].Err.Error(), "invalid UTF-8 at byte 43: send UTF-8 text"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
