package ingest

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestZeekFixture(t *testing.T) {
	items := decode(t, "zeek", readFixture(t, "zeek-notice.ndjson"))
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		Rule:      "Scan::Port_Scan",
		Title:     "198.51.100.23 scanned at least 15 unique ports of host 10.20.0.15 in 0m2s",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryScan,
		EventTime: ts("2026-11-20T09:00:30.846551Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "198.51.100.23", model.RoleSrc),
			ent(model.EntityIP, "10.20.0.15", model.RoleDst),
		},
		Labels: map[string]string{"actions": "Notice::ACTION_LOG", "peer_descr": "worker-1-1", "sub": "local",
			"suppress_for": "3600"},
	}, "zeek")
	wantAlert(t, 1, items[1].Alert, model.Alert{
		Rule:      "SSH::Password_Guessing",
		Title:     "203.0.113.7 appears to be guessing SSH passwords (seen in 30 connections).",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryBruteforce,
		EventTime: ts("2026-11-20T09:02:11Z"),
		Entities:  []model.Entity{ent(model.EntityIP, "203.0.113.7", model.RoleSrc)},
		Labels: map[string]string{"actions": "Notice::ACTION_LOG,Notice::ACTION_EMAIL", "peer_descr": "worker-1-2",
			"sub": "Sampled servers:  10.20.0.21, 10.20.0.22, 10.20.0.21, 10.20.0.22", "suppress_for": "3600"},
	}, "zeek")
	wantAlert(t, 2, items[2].Alert, model.Alert{
		SourceRef: "CHhAvVGS1DHFjwGM9",
		Rule:      "SSL::Invalid_Server_Cert",
		Title:     "SSL certificate validation failed with (unable to get local issuer certificate)",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryOther,
		EventTime: ts("2026-11-20T09:05:12.123456Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "10.20.0.45", model.RoleSrc),
			ent(model.EntityIP, "2001:db8:beef::7", model.RoleDst),
		},
		Labels: map[string]string{"actions": "Notice::ACTION_LOG", "file_desc": "2001:db8:beef::7:443/tcp",
			"fuid": "FlaIzV19yTmBYwWwc6", "orig_port": "51234", "peer_descr": "worker-1-1", "port": "443",
			"proto": "tcp", "resp_port": "443", "sub": "CN=mail.example.net", "suppress_for": "3600",
			"uid": "CHhAvVGS1DHFjwGM9"},
	}, "zeek")
}

func TestZeekTimestamps(t *testing.T) {
	for ts0, want := range map[string]string{
		`1795165230`:                    "2026-11-20T09:00:30Z",
		`1795165230.5`:                  "2026-11-20T09:00:30.5Z",
		`"1795165230.000001"`:           "2026-11-20T09:00:30.000001Z",
		`1.79516523e9`:                  "2026-11-20T09:00:30Z",
		`"2026-11-20T09:00:30.123456Z"`: "2026-11-20T09:00:30.123456Z",
		`"2026-11-20T10:00:30+01:00"`:   "2026-11-20T09:00:30Z",
	} {
		items := decode(t, "zeek", []byte(`{"ts":`+ts0+`,"note":"Weird::Activity"}`))
		if a := items[0].Alert; a == nil || !a.EventTime.Equal(ts(want)) {
			t.Errorf("ts %s: %+v, want %s", ts0, items[0], want)
		}
	}
}

func TestZeekBadInput(t *testing.T) {
	good := `{"ts":1795165230.1,"note":"Scan::Port_Scan","src":"198.51.100.23"}`
	for _, tc := range []struct{ name, line, want string }{
		{"malformed JSON", `{"ts":1795165230.1,"note":`, "malformed JSON at byte 26: unexpected end of input"},
		{"missing note", `{"ts":1795165230.1,"msg":"x"}`, `missing note: want a notice type such as "Scan::Port_Scan"`},
		{"missing event time", `{"note":"Scan::Port_Scan"}`, "missing event time (field ts)"},
		{"bad event time", `{"ts":"last tuesday","note":"Scan::Port_Scan"}`, `ts "last tuesday": want seconds since 1970 or an ISO 8601 time`},
		{"negative time", `{"ts":-5,"note":"Scan::Port_Scan"}`, `ts "-5": want seconds since 1970 or an ISO 8601 time`},
		{"time too late", `{"ts":1e15,"note":"Scan::Port_Scan"}`, `ts "1e15": want seconds since 1970 or an ISO 8601 time`},
		{"ts wrong type", `{"ts":{"sec":1},"note":"Scan::Port_Scan"}`, "ts: want a string or a number, got object"},
		{"unparsable IP", `{"ts":1795165230.1,"note":"Scan::Port_Scan","src":"not-an-ip"}`, `src "not-an-ip": not an IP address`},
		{"unparsable orig_h", `{"ts":1795165230.1,"note":"X","id.orig_h":"10.0.0.1/24"}`, `id.orig_h "10.0.0.1/24": not an IP address`},
		{"port wrong type", `{"ts":1795165230.1,"note":"X","p":"22/tcp"}`, "p: want an integer, got string"},
		{"port fraction", `{"ts":1795165230.1,"note":"X","p":22.5}`, "p: want an integer, got number 22.5"},
		{"actions wrong type", `{"ts":1795165230.1,"note":"X","actions":"Notice::ACTION_LOG"}`, "actions: want an array, got string"},
		{"5 MB field", `{"ts":1795165230.1,"note":"X","peer_descr":"` + strings.Repeat("w", 5<<20) + `"}`, "label peer_descr is 5242880 bytes; at most 4096"},
		{"not UTF-8", "{\"ts\":1795165230.1,\"note\":\"X\",\"msg\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 37: send UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := decode(t, "zeek", []byte(good+"\n"+tc.line+"\n"+good+"\n"))
			if len(items) != 3 || items[0].Alert == nil || items[2].Alert == nil {
				t.Fatalf("the good lines around the bad one were not decoded: %+v", items)
			}
			if items[1].Err == nil || items[1].Err.Error() != tc.want {
				t.Errorf("error %v\nwant  %q", items[1].Err, tc.want)
			}
		})
	}
}
