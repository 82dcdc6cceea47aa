package ingest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/warroom/warroom/triage/model"
)

func TestSuricataFixture(t *testing.T) {
	items := decode(t, "suricata", readFixture(t, "suricata-eve.ndjson"))
	if len(items) != 6 {
		t.Fatalf("got %d items, want 6 (one per non-blank line)", len(items))
	}
	wantAlert(t, 0, items[0].Alert, model.Alert{
		SourceRef: "1:2027863:3",
		Rule:      "ET MALWARE Cobalt Strike Beacon Observed",
		Title:     "ET MALWARE Cobalt Strike Beacon Observed",
		Severity:  model.SeverityHigh,
		Category:  model.CategoryC2,
		EventTime: ts("2026-11-20T09:00:30.846551Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "172.16.7.33", model.RoleSrc),
			ent(model.EntityIP, "93.184.216.34", model.RoleDst),
			ent(model.EntityCommunityID, "1:pyYc1q3vpHJAKOPwACIxKfTAh3w=", model.RoleObserver),
			ent(model.EntityHost, "sensor-dmz", model.RoleObserver),
		},
		Labels: map[string]string{"action": "allowed", "app_proto": "tls", "class": "A Network Trojan was detected",
			"dest_port": "443", "in_iface": "eth1", "proto": "TCP"},
	}, "suricata")
	for _, i := range []int{1, 2, 5} {
		if !errors.Is(items[i].Err, ErrSkipped) {
			t.Errorf("item %d: %v, want ErrSkipped", i, items[i].Err)
		}
	}
	if got, want := items[1].Err.Error(), `event_type "flow": not an alert; skipped`; got != want {
		t.Errorf("item 1: %q, want %q", got, want)
	}
	wantAlert(t, 3, items[3].Alert, model.Alert{
		SourceRef: "1:2001219:20",
		Rule:      "ET SCAN Potential SSH Scan",
		Title:     "ET SCAN Potential SSH Scan",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryBruteforce,
		EventTime: ts("2026-11-20T09:00:52.23631Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "2001:db8::17", model.RoleSrc),
			ent(model.EntityIP, "2001:db8:ffff::5", model.RoleDst),
			ent(model.EntityCommunityID, "1:KqVUV017QSwd/eICsL2nL1cBHFo=", model.RoleObserver),
		},
		Labels: map[string]string{"action": "blocked", "app_proto": "ssh", "class": "Attempted Information Leak",
			"dest_port": "22", "in_iface": "eth1", "proto": "TCP"},
	}, "suricata")
	wantAlert(t, 4, items[4].Alert, model.Alert{
		SourceRef: "1:2100384:8",
		Rule:      "sid:2100384",
		Title:     "sid:2100384",
		Severity:  model.SeverityLow,
		Category:  model.CategoryOther,
		EventTime: ts("2026-11-20T08:01:02.000001Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "10.20.0.9", model.RoleSrc),
			ent(model.EntityIP, "10.20.0.1", model.RoleDst),
		},
		Labels: map[string]string{"action": "allowed", "class": "Misc activity", "in_iface": "eth1", "proto": "ICMP"},
	}, "suricata")
}

func TestSuricataArray(t *testing.T) {
	items := decode(t, "suricata", readFixture(t, "suricata-eve-array.json"))
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3", len(items))
	}
	if !errors.Is(items[1].Err, ErrSkipped) {
		t.Errorf("item 1: %v, want ErrSkipped", items[1].Err)
	}
	wantAlert(t, 2, items[2].Alert, model.Alert{
		SourceRef: "1:2025701:2",
		Rule:      "ET POLICY SMB2 NT Create AndX Request For an Executable File",
		Title:     "ET POLICY SMB2 NT Create AndX Request For an Executable File",
		Severity:  model.SeverityMedium,
		Category:  model.CategoryLateral,
		EventTime: ts("2026-11-20T09:01:40.118Z"),
		Entities: []model.Entity{
			ent(model.EntityIP, "172.16.7.33", model.RoleSrc),
			ent(model.EntityIP, "172.16.7.40", model.RoleDst),
		},
		Labels: map[string]string{"action": "allowed", "app_proto": "smb", "class": "Potentially Bad Traffic",
			"dest_port": "445", "in_iface": "eth1", "proto": "TCP"},
	}, "suricata")
}

// TestSuricataPrettyObject: one object spread over several lines is one item.
func TestSuricataPrettyObject(t *testing.T) {
	body := "{\n  \"timestamp\": \"2026-11-20T09:00:30Z\",\n  \"event_type\": \"alert\",\n" +
		"  \"src_ip\": \"10.0.0.1\",\n  \"alert\": {\"signature_id\": 1, \"signature\": \"ET SCAN x\"}\n}\n"
	items := decode(t, "suricata", []byte(body))
	if len(items) != 1 || items[0].Alert == nil || items[0].Alert.Category != model.CategoryScan {
		t.Fatalf("items = %+v, want one scan alert", items)
	}
}

// suricataLine builds an alert line with one field replaced.
func suricataLine(field, value string) string {
	fields := map[string]string{
		"timestamp":  `"2026-11-20T09:00:30.846551+0000"`,
		"event_type": `"alert"`,
		"src_ip":     `"203.0.113.7"`,
		"src_port":   `52114`,
		"dest_ip":    `"10.20.0.21"`,
		"dest_port":  `22`,
		"proto":      `"TCP"`,
		"alert":      `{"gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan","severity":2}`,
	}
	if value == "" {
		delete(fields, field)
	} else {
		fields[field] = value
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"timestamp", "event_type", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "alert"} {
		if v, ok := fields[k]; ok {
			if !first {
				b.WriteString(",")
			}
			first = false
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
	}
	b.WriteString("}")
	return b.String()
}

func TestSuricataBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"malformed JSON", `{"event_type":"alert","src_ip":"not-an-ip",`, "malformed JSON at byte 43: unexpected end of input"},
		{"bad character", `{"event_type":"alert",,}`, `malformed JSON at byte 22: invalid character ',' looking for beginning of object key string`},
		{"not an object", `42`, "want an object, got number 42"},
		{"trailing data", suricataLine("", "") + ` x`, "malformed JSON at byte 265: invalid character 'x' after top-level value"},
		{"unparsable IP", suricataLine("src_ip", `"not-an-ip"`), `src_ip "not-an-ip": not an IP address`},
		{"unparsable dest IP", suricataLine("dest_ip", `"10.0.0.300"`), `dest_ip "10.0.0.300": not an IP address`},
		{"missing event time", suricataLine("timestamp", ""), "missing event time (field timestamp)"},
		{"bad time", suricataLine("timestamp", `"yesterday"`), `timestamp "yesterday": want a time like 2026-11-20T09:00:30.846551+0000`},
		{"time before 1970", suricataLine("timestamp", `"1969-12-31T23:59:59+0000"`), `timestamp "1969-12-31T23:59:59+0000": event time must be between 1970 and 9999`},
		{"port as string", suricataLine("src_port", `"52114"`), "src_port: want an integer, got string"},
		{"port fraction", suricataLine("dest_port", `22.5`), "dest_port: want an integer, got number 22.5"},
		{"severity as string", suricataLine("alert", `{"signature_id":1,"severity":"high"}`), "alert.severity: want an integer, got string"},
		{"alert not an object", suricataLine("alert", `"ET SCAN"`), "alert: want an object, got string"},
		{"alert without signature", suricataLine("alert", `{"severity":1}`), "event_type alert without alert.signature or alert.signature_id"},
		{"no event_type no alert", `{"timestamp":"2026-11-20T09:00:30Z"}`, `missing event_type; want "alert" (other events are skipped)`},
		{"bad escape", `{"event_type":"alert","src_ip":"\q"}`, `malformed JSON at byte 33: invalid character 'q' in string escape code`},
		{"control character", "{\"event_type\":\"alert\",\"src_ip\":\"a\tb\"}", `malformed JSON at byte 33: invalid character '\t' in string literal`},
		{"not UTF-8", "{\"event_type\":\"alert\",\"alert\":{\"signature\":\"ET \xff\"}}", "invalid UTF-8 at byte 47: send UTF-8 text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := itemErr(t, "suricata", []byte(tc.line)); got != tc.want {
				t.Errorf("error %q\nwant       %q", got, tc.want)
			}
		})
	}
}

// TestSuricataBrokenLineAmongGood: the broken line is an item error at its index
// among non-blank lines; the lines around it still decode.
func TestSuricataBrokenLineAmongGood(t *testing.T) {
	good := suricataLine("", "")
	body := good + "\n\n" + `{"event_type":"alert","src_ip":"not-an-ip",` + "\n" + good + "\r\n" +
		suricataLine("src_ip", `"not-an-ip"`) + "\n   \n" + good + "\n"
	items := decode(t, "suricata", []byte(body))
	if len(items) != 5 {
		t.Fatalf("got %d items, want 5", len(items))
	}
	for i, want := range []string{"", "malformed JSON at byte 43: unexpected end of input", "",
		`src_ip "not-an-ip": not an IP address`, ""} {
		switch {
		case want == "" && items[i].Alert == nil:
			t.Errorf("item %d: %v, want an alert", i, items[i].Err)
		case want != "" && (items[i].Err == nil || items[i].Err.Error() != want):
			t.Errorf("item %d: %v, want %q", i, items[i].Err, want)
		}
	}
}

func TestSuricataNonUTF8Body(t *testing.T) {
	body := suricataLine("", "") + "\n" + "{\"event_type\":\"alert\",\"host\":\"\xc3\x28\"}\n"
	items := decode(t, "suricata", []byte(body))
	if items[0].Alert == nil {
		t.Fatalf("item 0: %v", items[0].Err)
	}
	if got, want := items[1].Err.Error(), "invalid UTF-8 at byte 30: send UTF-8 text"; got != want {
		t.Errorf("item 1: %q, want %q", got, want)
	}
}

func TestSuricataArrayErrors(t *testing.T) {
	good := suricataLine("", "")
	items := decode(t, "suricata", []byte("["+good+`, {"event_type": "alert", "src_ip": 7}, `+good+"]"))
	if len(items) != 3 || items[0].Alert == nil || items[2].Alert == nil {
		t.Fatalf("items = %+v", items)
	}
	if got, want := items[1].Err.Error(), "src_ip: want a string, got number 7"; got != want {
		t.Errorf("item 1: %q, want %q", got, want)
	}
	for _, tc := range []struct{ body, want string }{
		{"[" + good, "malformed JSON array: unexpected end of input; check for a missing ] or }"},
		{"[" + good + "] x", "malformed JSON at byte 267: data after the closing ] of the array"},
		{"[" + good + ",,]", "malformed JSON array at byte 266: empty element"},
		{`["abc`, "malformed JSON array: a string is not terminated before the end of the body"},
	} {
		if got := decodeErr(t, "suricata", []byte(tc.body)).Error(); got != tc.want {
			t.Errorf("%.40q: %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestSuricataEventTypes: a line without event_type but with an alert object is an
// alert; an event type peekEventType cannot read (escaped) is still skipped after a
// full decode.
func TestSuricataEventTypes(t *testing.T) {
	items := decode(t, "suricata", []byte(suricataLine("event_type", "")+"\n"+
		suricataLine("event_type", `"fl\u006fw"`)+"\n"+suricataLine("event_type", `"netflow"`)+"\n"))
	if items[0].Alert == nil {
		t.Errorf("line without event_type: %v", items[0].Err)
	}
	for _, i := range []int{1, 2} {
		if !errors.Is(items[i].Err, ErrSkipped) {
			t.Errorf("item %d: %v, want ErrSkipped", i, items[i].Err)
		}
	}
	if got := items[1].Err.Error(); got != `event_type "flow": not an alert; skipped` {
		t.Errorf("item 1: %q", got)
	}
}

func TestSuricataSeverity(t *testing.T) {
	for p, want := range map[int]model.Severity{0: model.SeverityLow, 1: model.SeverityHigh, 2: model.SeverityMedium,
		3: model.SeverityLow, 4: model.SeverityInfo, 255: model.SeverityInfo, -1: model.SeverityLow} {
		if got := suricataSeverity(int64(p)); got != want {
			t.Errorf("severity %d → %v, want %v", p, got, want)
		}
	}
}

// TestSuricataDevCorpus decodes the shared development corpus when it is present:
// every line decodes, and the inferred category fits each labelled campaign.
func TestSuricataDevCorpus(t *testing.T) {
	body, err := osReadFileIfPresent("../../shared/corpus/dev/suricata.ndjson")
	if err != nil {
		t.Skip("dev corpus not present:", err)
	}
	items := decode(t, "suricata", body)
	counts := map[model.Category]int{}
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("line %d: %v", i, it.Err)
		}
		counts[it.Alert.Category]++
	}
	for _, c := range []model.Category{model.CategoryBruteforce, model.CategoryScan, model.CategoryC2,
		model.CategoryLateral, model.CategoryExfil, model.CategoryDoS, model.CategoryPolicy} {
		if counts[c] == 0 {
			t.Errorf("no %s alerts in the dev corpus: %v", c, counts)
		}
	}
}
