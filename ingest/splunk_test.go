package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestSplunkFixtures(t *testing.T) {
	items := decode(t, "splunk", readFixture(t, "splunk.json"))
	if len(items) != 1 {
		t.Fatalf("got %d items, want 1", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "scheduler__admin__search__RMD5e461d1ea1ba2f5f8_at_1795165200_1234",
		Rule:      "Brute Force Access Behavior Detected",
		Title:     "Brute Force Access Behavior Detected",
		Severity:  model.SeverityHigh,
		Category:  model.CategoryBruteforce,
		EventTime: ts("2026-11-20T09:00:30Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "203.0.113.7", model.RoleSrc),
			ent(model.EntityHost, "bastion-01", model.RoleDst),
			ent(model.EntityUser, "root", model.RoleSrc),
			ent(model.EntityHost, "syslog-01", model.RoleObserver),
			ent(model.EntityIP, "10.20.0.22", model.RoleDst),
		},
		Labels: map[string]string{"count": "57", "dest": "bastion-01,10.20.0.22", "host": "syslog-01",
			"sourcetype": "linux_secure", "splunk.app": "search", "splunk.owner": "admin", "src": "203.0.113.7",
			"urgency": "high", "user": "root"},
		URL: "https://splunk.example.net:8000/app/search/search?q=%7Cloadjob%20scheduler__admin__search__RMD5e461d1ea1ba2f5f8_at_1795165200_1234%20%7C%20head%201",
	}, "splunk")

	items = decode(t, "splunk", readFixture(t, "splunk-stats.json"))
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "scheduler__admin__search__RMD5a7b8c9d0e1f2a3b4_at_1795165440_88",
		Rule:      "Network - Port Scan Detected",
		Title:     "Network - Port Scan Detected: Port scan from external host",
		Severity:  model.SeverityHigh,
		Category:  model.CategoryScan,
		EventTime: ts("2026-11-20T09:04:00Z"), // from the sid: the search has no _time
		Entities:  []model.Entity{ent(model.EntityIP, "198.51.100.23", model.RoleSrc)},
		Labels: map[string]string{"dest_port_count": "1022", "severity": "4", "signature": "Port scan from external host",
			"splunk.app": "SplunkEnterpriseSecuritySuite", "splunk.owner": "nobody", "src_ip": "198.51.100.23"},
		URL: "https://splunk.example.net:8000/app/search/@go?sid=scheduler__admin__search__RMD5a7b8c9d0e1f2a3b4_at_1795165440_88",
	}, "splunk")
}

func splunkBody(result string) []byte {
	return []byte(`{"result":{` + result + `},"sid":"rt_md_1795165230.42","results_link":"https://splunk.example.net/x",` +
		`"search_name":"Test Search","owner":"admin","app":"search"}`)
}

func TestSplunkSeverityAndTime(t *testing.T) {
	for _, tc := range []struct {
		result string
		sev    model.Severity
		time   string
	}{
		{`"_time":"1795165230"`, model.SeverityMedium, "2026-11-20T09:00:30Z"},
		{`"_time":1795165230.25,"urgency":"critical"`, model.SeverityCritical, "2026-11-20T09:00:30.25Z"},
		{`"_time":"2026-11-20T10:00:30.000+01:00","severity":"informational"`, model.SeverityInfo, "2026-11-20T09:00:30Z"},
		{`"_time":"1795165230","severity":"3"`, model.SeverityMedium, "2026-11-20T09:00:30Z"},
		{`"_time":"1795165230","severity":"6"`, model.SeverityCritical, "2026-11-20T09:00:30Z"},
		{`"_time":"1795165230","severity":"1"`, model.SeverityInfo, "2026-11-20T09:00:30Z"},
	} {
		items := decode(t, "splunk", splunkBody(tc.result))
		a := items[0].Alert
		if a == nil || a.Severity != tc.sev || !a.EventTime.Equal(ts(tc.time)) {
			t.Errorf("%s: %+v, want %v at %s", tc.result, items[0], tc.sev, tc.time)
		}
	}
}

func TestSplunkBadInput(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	for _, tc := range []struct{ name, body, want string }{
		{"malformed JSON", `{"result":{"_time":"1"`, "malformed JSON at byte 22: unexpected end of input"},
		{"missing search_name", `{"result":{"_time":"1795165230"},"sid":"x"}`, "missing search_name: send the body of Splunk's webhook alert action"},
		{"missing result", `{"search_name":"s","sid":"x"}`, "missing result: send the body of Splunk's webhook alert action"},
		{"result wrong type", `{"search_name":"s","result":"x"}`, "result: want an object, got string"},
		{"field is an object", string(splunkBody(`"_time":"1795165230","src":{"ip":"1.2.3.4"}`)), "result.src: want a string or an array of strings, got object"},
		{"missing event time", string(splunkBody(`"src":"1.2.3.4"`)), "missing event time (field result._time)"},
		{"bad event time", string(splunkBody(`"_time":"noon"`)), `result._time "noon": want seconds since 1970 or an ISO 8601 time`},
		{"unparsable IP", string(splunkBody(`"_time":"1795165230","src_ip":"not-an-ip"`)), `src_ip "not-an-ip": not an IP address`},
		{"unparsable IP among values", string(splunkBody(`"_time":"1795165230","dest_ip":["10.0.0.1","10.0.0.x"]`)), `dest_ip "10.0.0.x": not an IP address`},
		{"not UTF-8", "{\"search_name\":\"s\xff\"}", "invalid UTF-8 at byte 17: send UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := itemErr(t, "splunk", []byte(tc.body)); got != tc.want {
				t.Errorf("error %q\nwant  %q", got, tc.want)
			}
		})
	}
	// A 5 MB result field is cut, not stored whole: search results legitimately
	// carry long text, so Splunk fields are never rejected for length.
	items := decode(t, "splunk", splunkBody(`"_time":"1795165230","message":"`+big+`"`))
	if a := items[0].Alert; a == nil || len(a.Labels["message"]) > LabelValueKeep {
		t.Fatalf("5 MB field: %+v", items[0])
	}
}

// TestSplunkManyFields: past MaxLabels, fields are dropped in name order rather than
// rejecting the alert; _raw and other internal fields are never labels.
func TestSplunkManyFields(t *testing.T) {
	var b strings.Builder
	b.WriteString(`"_time":"1795165230","_raw":"raw text"`)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, `,"f%03d":"v"`, i)
	}
	items := decode(t, "splunk", splunkBody(b.String()))
	a := items[0].Alert
	if a == nil {
		t.Fatal(items[0].Err)
	}
	if len(a.Labels) != MaxLabels || a.Labels["f000"] != "v" || a.Labels["f063"] != "v" || a.Labels["_raw"] != "" {
		t.Errorf("labels: %d, f000=%q f063=%q _raw=%q", len(a.Labels), a.Labels["f000"], a.Labels["f063"], a.Labels["_raw"])
	}
}
