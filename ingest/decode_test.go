package ingest

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// testNow is the receive time stamped by every test decode.
var testNow = time.Date(2026, 11, 20, 9, 10, 0, 0, time.UTC)

func testOpts() Options { return Options{Source: "src1", Now: testNow} }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t testing.TB, format string, body []byte) []Item {
	t.Helper()
	d, ok := Lookup(format)
	if !ok {
		t.Fatalf("format %q not registered", format)
	}
	items, err := d.Decode(body, testOpts())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkInvariants(t, format, items)
	return items
}

func decodeErr(t testing.TB, format string, body []byte) error {
	t.Helper()
	d, _ := Lookup(format)
	items, err := d.Decode(body, testOpts())
	if err == nil {
		t.Fatalf("Decode succeeded with %d items; want a body error", len(items))
	}
	if items != nil {
		t.Errorf("Decode returned items with a body error")
	}
	return err
}

// itemErr decodes body and returns the error of its only item.
func itemErr(t testing.TB, format string, body []byte) string {
	t.Helper()
	items := decode(t, format, body)
	if len(items) != 1 {
		t.Fatalf("got %d items, want 1", len(items))
	}
	if items[0].Err == nil {
		t.Fatalf("item decoded to %+v; want an error", items[0].Alert)
	}
	return items[0].Err.Error()
}

// wantAlert compares an alert with the expected one, ignoring Raw and Fingerprint
// (checked by checkInvariants and the fingerprint tests) and filling what every
// alert shares.
func wantAlert(t *testing.T, i int, got *model.Alert, want model.Alert, format string) {
	t.Helper()
	if got == nil {
		t.Errorf("item %d: no alert", i)
		return
	}
	want.Format = format
	want.Source = "src1"
	want.ReceivedAt = testNow
	g := *got
	g.Raw, g.Fingerprint = nil, ""
	gb, _ := json.MarshalIndent(&g, "", "  ")
	wb, _ := json.MarshalIndent(&want, "", "  ")
	if string(gb) != string(wb) {
		t.Errorf("item %d:\ngot  %s\nwant %s", i, gb, wb)
	}
	if !got.EventTime.Equal(want.EventTime) || got.EventTime.Location() != time.UTC {
		t.Errorf("item %d: event time %v, want %v in UTC", i, got.EventTime, want.EventTime)
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ent(kind model.EntityKind, value string, role model.Role) model.Entity {
	return model.Entity{Kind: kind, Value: value, Role: role}
}

// checkInvariants holds for every decoder and every input, and is what the fuzz
// targets check: one of Alert and Err per item; a complete, valid, serializable alert.
func checkInvariants(t testing.TB, format string, items []Item) {
	t.Helper()
	for i, it := range items {
		if (it.Alert == nil) == (it.Err == nil) {
			t.Fatalf("item %d: alert %v and error %v; want exactly one", i, it.Alert, it.Err)
		}
		if it.Err != nil {
			if msg := it.Err.Error(); msg == "" || len(msg) > 1024 || !utf8.ValidString(msg) {
				t.Fatalf("item %d: error text %q: want short UTF-8 text", i, msg)
			}
			continue
		}
		a := it.Alert
		if a.Format != format || a.Source != "src1" || !a.ReceivedAt.Equal(testNow) {
			t.Fatalf("item %d: format %q source %q received %v", i, a.Format, a.Source, a.ReceivedAt)
		}
		if a.EventTime.IsZero() || a.EventTime.Year() < 1970 || a.EventTime.Year() > 9999 {
			t.Fatalf("item %d: event time %v", i, a.EventTime)
		}
		if a.Severity < model.SeverityInfo || a.Severity > model.SeverityCritical {
			t.Fatalf("item %d: severity %d", i, a.Severity)
		}
		if _, err := model.ParseCategory(string(a.Category)); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if a.Rule == "" || a.Title == "" || len(a.Rule) > maxRuleLen || len(a.Title) > maxTitleLen {
			t.Fatalf("item %d: rule %q title %q", i, a.Rule, a.Title)
		}
		if len(a.Fingerprint) != 32 {
			t.Fatalf("item %d: fingerprint %q", i, a.Fingerprint)
		}
		if a.Status != "" && a.Status != "firing" && a.Status != "resolved" {
			t.Fatalf("item %d: status %q", i, a.Status)
		}
		if a.Entities == nil {
			t.Fatalf("item %d: nil entities; want an empty list", i)
		}
		for _, e := range a.Entities {
			checkEntity(t, i, e)
		}
		if len(a.Labels) > MaxLabels {
			t.Fatalf("item %d: %d labels", i, len(a.Labels))
		}
		for k, v := range a.Labels {
			if k == "" || v == "" || len(k) > MaxLabelKey || len(v) > LabelValueKeep {
				t.Fatalf("item %d: label %q=%q (%d bytes)", i, k, v, len(v))
			}
		}
		if len(a.Raw) > model.RawCap+64 || !json.Valid(a.Raw) {
			t.Fatalf("item %d: raw %q: want valid JSON within RawCap", i, clip(string(a.Raw), 200))
		}
		plain := *a
		plain.Raw = nil // checked above; marshalling it again only costs time
		if _, err := json.Marshal(&plain); err != nil {
			t.Fatalf("item %d: marshal: %v", i, err)
		}
	}
}

func checkEntity(t testing.TB, i int, e model.Entity) {
	t.Helper()
	switch e.Role {
	case model.RoleSrc, model.RoleDst, model.RoleObserver:
	default:
		t.Fatalf("item %d: entity %+v: bad role", i, e)
	}
	if e.Value == "" || len(e.Value) > maxEntityLen || !utf8.ValidString(e.Value) {
		t.Fatalf("item %d: entity %+v: bad value", i, e)
	}
	switch e.Kind {
	case model.EntityIP:
		a, err := netip.ParseAddr(e.Value)
		if err != nil || a.String() != e.Value || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("item %d: entity %+v: not a canonical IP", i, e)
		}
	case model.EntityHost, model.EntityUser, model.EntityDevice, model.EntityDomain:
		if strings.ToLower(e.Value) != e.Value {
			t.Fatalf("item %d: entity %+v: not lowercase", i, e)
		}
	case model.EntityInterface, model.EntityCommunityID:
	default:
		t.Fatalf("item %d: entity %+v: unknown kind", i, e)
	}
}

func TestRegistered(t *testing.T) {
	got := strings.Join(Formats(), ",")
	if want := "alertmanager,elastic,generic,splunk,suricata,zeek"; got != want {
		t.Fatalf("Formats() = %s, want %s", got, want)
	}
	for _, f := range Formats() {
		d, _ := Lookup(f)
		if len(d.ContentTypes()) == 0 {
			t.Errorf("%s: no content types", f)
		}
	}
}

// TestEmptyBody: every format answers an empty body with a body error.
func TestEmptyBody(t *testing.T) {
	for _, f := range Formats() {
		for _, body := range []string{"", "  \n\t "} {
			err := decodeErr(t, f, []byte(body))
			if !errors.Is(err, errEmptyBody) {
				t.Errorf("%s %q: %v, want %v", f, body, err, errEmptyBody)
			}
		}
	}
}

// TestFingerprintStable: decoding the same body twice gives the same fingerprints,
// and distinct alerts of a fixture get distinct ones.
func TestFingerprintStable(t *testing.T) {
	for format, file := range map[string]string{
		"alertmanager": "alertmanager.json", "suricata": "suricata-eve.ndjson", "generic": "generic.json",
		"zeek": "zeek-notice.ndjson", "splunk": "splunk.json", "elastic": "elastic.json",
	} {
		body := readFixture(t, file)
		a, b := decode(t, format, body), decode(t, format, body)
		seen := map[string]bool{}
		for i := range a {
			if a[i].Alert == nil {
				continue
			}
			fp := a[i].Alert.Fingerprint
			if fp != b[i].Alert.Fingerprint {
				t.Errorf("%s item %d: fingerprint changed between decodes", format, i)
			}
			if seen[fp] {
				t.Errorf("%s item %d: fingerprint %s shared with another alert", format, i, fp)
			}
			seen[fp] = true
		}
		// Another source never shares a fingerprint.
		d, _ := Lookup(format)
		other, _ := d.Decode(body, Options{Source: "src2", Now: testNow})
		for i := range other {
			if other[i].Alert != nil && seen[other[i].Alert.Fingerprint] {
				t.Errorf("%s item %d: same fingerprint for another source", format, i)
			}
		}
	}
}

// TestRawIsItem: Raw holds the item's own bytes and does not alias the body.
func TestRawIsItem(t *testing.T) {
	body := readFixture(t, "suricata-eve.ndjson")
	items := decode(t, "suricata", body)
	first := strings.SplitN(string(body), "\n", 2)[0]
	if got := string(items[0].Alert.Raw); got != first {
		t.Fatalf("raw = %q, want the first line", got)
	}
	for i := range body {
		body[i] = 'x'
	}
	if got := string(items[0].Alert.Raw); got != first {
		t.Fatalf("raw changed with the body: it aliases the caller's buffer")
	}
}

func osReadFileIfPresent(p string) ([]byte, error) { return os.ReadFile(p) }
