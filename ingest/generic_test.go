package ingest

import (
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestGenericFixture(t *testing.T) {
	items := decode(t, "generic", readFixture(t, "generic.json"))
	if len(items) != 2 {
		t.Fatalf("got %d items, want 2", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "edr-7f3a9c",
		Rule:      "edr-credential-dumping",
		Title:     "LSASS memory read by unsigned process on WS-0142",
		Severity:  model.SeverityCritical,
		Category:  model.CategoryOther,
		EventTime: ts("2026-11-20T09:02:11Z"),
		Entities: []model.Entity{
			ent(model.EntityHost, "ws-0142.corp.example.net", model.RoleDst),
			ent(model.EntityUser, `corp\j.doe`, model.RoleSrc),
			ent(model.EntityIP, "10.20.4.142", model.RoleDst),
		},
		Labels: map[string]string{
			"edr_policy":  "default",
			"process":     `C:\Users\Public\svc.exe`,
			"description": "An unsigned binary opened a handle to lsass.exe with PROCESS_VM_READ.",
		},
		URL: "https://edr.example.net/alerts/7f3a9c",
	}, "generic")
	wantAlert(t, 1, items[1].Alert, model.Alert{
		Rule:      "netflow-large-upload",
		Title:     "12 GiB uploaded to 198.51.100.80 in 40 minutes",
		Severity:  model.SeverityHigh,
		Category:  model.CategoryExfil,
		Status:    "firing",
		EventTime: ts("2026-11-20T09:04:00.5Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "10.20.4.142", model.RoleSrc),
			ent(model.EntityIP, "198.51.100.80", model.RoleDst),
			ent(model.EntityDomain, "files.example.org", model.RoleDst),
			ent(model.EntityInterface, "edge-fw1/ae0.100", model.RoleObserver),
		},
	}, "generic")
}

const genericGood = `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z"}`

// TestGenericForms: one object, an array and NDJSON all decode, one item per object.
func TestGenericForms(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int
	}{
		{genericGood, 1},
		{"\n" + genericGood + "\n", 1},
		{"[" + genericGood + "]", 1},
		{"[]", 0},
		{"[" + genericGood + ", " + genericGood + "]", 2},
		{genericGood + "\n" + genericGood + "\n", 2},
		{"\xef\xbb\xbf" + genericGood, 1},
		{"{\n  \"rule\": \"r\",\n  \"severity\": \"low\",\n  \"event_time\": \"2026-11-20T09:00:00Z\"\n}", 1},
	} {
		items := decode(t, "generic", []byte(tc.body))
		if len(items) != tc.n {
			t.Errorf("%q: %d items, want %d", tc.body, len(items), tc.n)
		}
		for i, it := range items {
			if it.Alert == nil {
				t.Errorf("%q item %d: %v", tc.body, i, it.Err)
				continue
			}
			if it.Alert.Title != "r" || it.Alert.Category != model.CategoryOther {
				t.Errorf("%q item %d: title %q category %q", tc.body, i, it.Alert.Title, it.Alert.Category)
			}
		}
	}
}

func TestGenericDefaultsAndInference(t *testing.T) {
	items := decode(t, "generic", []byte(`{"rule":"fw-portscan","title":"Port scan from 198.51.100.23",
		"severity":"medium","event_time":"2026-11-20T09:00:00+01:00","entities":[],"labels":{"a":null},
		"unknown_field":{"kept":"out"},"drill_id":"drill-42","status":"resolved"}`))
	a := items[0].Alert
	if a == nil {
		t.Fatal(items[0].Err)
	}
	if a.Category != model.CategoryScan || a.DrillID != "drill-42" || a.Status != "resolved" ||
		!a.EventTime.Equal(ts("2026-11-20T08:00:00Z")) || len(a.Labels) != 0 {
		t.Errorf("got %+v", a)
	}
}

func TestGenericBadInput(t *testing.T) {
	big := strings.Repeat("a", 5<<20)
	for _, tc := range []struct{ name, obj, want string }{
		{"malformed JSON", `{"rule":"r",}`, "malformed JSON at byte 12: invalid character '}' looking for beginning of object key string"},
		{"missing rule", `{"severity":"low","event_time":"2026-11-20T09:00:00Z"}`, `missing rule: name the detection, e.g. "ssh-bruteforce"`},
		{"missing severity", `{"rule":"r","event_time":"2026-11-20T09:00:00Z"}`, "missing severity; want one of critical, high, medium, low, info"},
		{"bad severity", `{"rule":"r","severity":"urgent","event_time":"2026-11-20T09:00:00Z"}`, `severity "urgent": want one of critical, high, medium, low, info`},
		{"severity as number", `{"rule":"r","severity":3,"event_time":"2026-11-20T09:00:00Z"}`, "severity: want a string, got number 3"},
		{"bad category", `{"rule":"r","severity":"low","category":"malware","event_time":"2026-11-20T09:00:00Z"}`, `category "malware": want one of bruteforce, scan, c2, lateral, exfil, dos, routing, policy, other`},
		{"missing event time", `{"rule":"r","severity":"low"}`, "missing event time (field event_time)"},
		{"bad event time", `{"rule":"r","severity":"low","event_time":"1763629230"}`, `event_time "1763629230": want an RFC 3339 time like 2026-11-20T09:00:30Z`},
		{"event time as number", `{"rule":"r","severity":"low","event_time":1763629230}`, "event_time: want a string, got number 1763629230"},
		{"unparsable IP", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"ip","value":"not-an-ip","role":"src"}]}`, `entities[0].value "not-an-ip": not an IP address`},
		{"unknown kind", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"ip","value":"10.0.0.1","role":"src"},{"kind":"mac","value":"x","role":"src"}]}`, `entities[1].kind "mac": want one of ip, host, user, device, interface, community_id, domain`},
		{"bad role", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"host","value":"h","role":"victim"}]}`, `entities[0].role "victim": want src, dst or observer`},
		{"missing role", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"host","value":"h"}]}`, "entities[0].role: missing; want src, dst or observer"},
		{"bad host", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"host","value":"two words","role":"dst"}]}`, `entities[0].value "two words": not a host name or IP address`},
		{"entity value wrong type", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[{"kind":"ip","value":167772161,"role":"src"}]}`, "entities[0].value: want a string, got number 167772161"},
		{"entities not an array", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":{"kind":"ip"}}`, "entities: want an array, got object"},
		{"too many entities", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","entities":[` + strings.Repeat(`{"kind":"host","value":"h","role":"dst"},`, 32) + `{}]}`, "entities: more than 32; send at most 32"},
		{"label not a string", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","labels":{"n":1}}`, "labels.n: want a string, got number 1"},
		{"5 MB label", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","labels":{"blob":"` + big + `"}}`, "label blob is 5242880 bytes; at most 4096"},
		{"bad url", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","url":"javascript:alert(1)"}`, `url "javascript:alert(1)": want an absolute http or https URL`},
		{"bad status", `{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z","status":"open"}`, `status "open": want firing or resolved`},
		{"not UTF-8", "{\"rule\":\"r\xff\",\"severity\":\"low\",\"event_time\":\"2026-11-20T09:00:00Z\"}", "invalid UTF-8 at byte 10: send UTF-8 text"},
		{"not an object", `"alert"`, "want an object, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := decode(t, "generic", []byte("["+genericGood+",\n"+tc.obj+"\n,"+genericGood+"]"))
			if len(items) != 3 || items[0].Alert == nil || items[2].Alert == nil {
				t.Fatalf("the good objects around the bad one were not decoded: %+v", items)
			}
			if items[1].Err == nil || items[1].Err.Error() != tc.want {
				t.Errorf("error %v\nwant  %q", items[1].Err, tc.want)
			}
		})
	}
}

// TestGenericNDJSONBrokenLine: in NDJSON even an unbalanced line is isolated.
func TestGenericNDJSONBrokenLine(t *testing.T) {
	items := decode(t, "generic", []byte(genericGood+"\n"+`{"rule":"r",`+"\n"+genericGood+"\n"))
	if len(items) != 3 || items[0].Alert == nil || items[2].Alert == nil {
		t.Fatalf("items = %+v", items)
	}
	if got, want := items[1].Err.Error(), "malformed JSON at byte 12: unexpected end of input"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestGenericEscapedLabels: escaped keys and values decode like encoding/json's.
func TestGenericEscapedLabels(t *testing.T) {
	items := decode(t, "generic", []byte(`{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z",`+
		`"labels":{"k\u00e9y":"v\u00e0l\n","plain":"x\"y"}}`))
	a := items[0].Alert
	if a == nil {
		t.Fatal(items[0].Err)
	}
	if a.Labels["kéy"] != "vàl\n" || a.Labels["plain"] != `x"y` {
		t.Errorf("labels %q", a.Labels)
	}
}

func TestGenericBodyErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[" + genericGood, "malformed JSON array: unexpected end of input; check for a missing ] or }"},
		{"[" + genericGood + "]]", "malformed JSON at byte 67: data after the closing ] of the array"},
	} {
		if got := decodeErr(t, "generic", []byte(tc.body)).Error(); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.body, got, tc.want)
		}
	}
}
