package ingest

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

func TestElements(t *testing.T) {
	for _, tc := range []struct {
		body string
		want []string
	}{
		{"{\"a\":1}\n\n  {\"b\":2}\r\n\t\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}},
		{"\xef\xbb\xbf{\"a\":1}", []string{`{"a":1}`}},
		{`[ {"a":"],[{"} , {"b":"\"]"}, [1,2] ,3 ]`, []string{`{"a":"],[{"}`, `{"b":"\"]"}`, `[1,2]`, `3`}},
		{"[\n]", nil},
		{"{\n \"a\": [\n 1,\n 2\n ]\n}\n", []string{"{\n \"a\": [\n 1,\n 2\n ]\n}"}},
		{"{\"a\":\n{\"b\":2}", []string{`{"a":`, `{"b":2}`}}, // not one valid object: lines
	} {
		got, err := elements([]byte(tc.body))
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: %q, want %q", tc.body, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%q element %d: %q, want %q", tc.body, i, got[i], tc.want[i])
			}
		}
	}
}

func TestCanonIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"2001:DB8:0:0:0:0:0:1":   "2001:db8::1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"fe80::1%eth0":           "fe80::1",
		"2001:db8::1":            "2001:db8::1",
		"192.0.2.01":             "",
		"192.0.2.1:80":           "",
		"[2001:db8::1]":          "",
		"2001:db8::1/64":         "",
		" 192.0.2.1":             "",
		"":                       "",
		"not-an-ip":              "",
		"1.2.3.4.5":              "",
		"2001:db8:0:0:0:0:0:0:1": "",
	} {
		got, ok := canonIP(in)
		if got != want || ok != (want != "") {
			t.Errorf("canonIP(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"web-1:9100":              "web-1",
		"[2001:db8::1]:9100":      "2001:db8::1",
		"2001:db8::1":             "2001:db8::1",
		"[2001:db8::1]":           "2001:db8::1",
		"10.0.0.1:9100":           "10.0.0.1",
		"10.0.0.1":                "10.0.0.1",
		"http://example.org:8080": "example.org",
		"https://[2001:db8::2]/x": "2001:db8::2",
		"web-1":                   "web-1",
	} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFastTimeMatchesTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-11-20T09:00:30.846551+0000", "2026-11-20T09:00:30+0000", "2026-11-20T09:00:30Z",
		"2026-11-20T09:00:30.5Z", "2026-11-20T09:00:30.123456789-0530", "2026-11-20T09:00:30.1+05:45",
		"2024-02-29T00:00:00Z", "2026-12-31T23:59:59.999999999+1400", "2026-11-20T09:00:30.1234567891Z",
	} {
		got, ok := fastTime([]byte(s))
		want, err := time.Parse(suricataLayout, s)
		if err != nil {
			want, err = time.Parse(time.RFC3339Nano, s)
		}
		if !ok || err != nil || !got.Equal(want) {
			t.Errorf("%s: fast %v %v, time.Parse %v %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{
		"2026-11-20 09:00:30Z", "2026-02-30T09:00:30Z", "2026-11-20T24:00:00Z", "2026-11-20T09:00:30",
		"2026-11-20T09:00:30.Z", "2026-11-20T09:00:30+000", "2026-11-20T09:00:30+00:0", "2026-13-20T09:00:30Z",
		"２026-11-20T09:00:30Z", "2026-11-20T09:00:30Zjunk",
	} {
		if got, ok := fastTime([]byte(s)); ok {
			t.Errorf("%s: accepted as %v", s, got)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	for in, want := range map[string]string{
		"1795165230":           "2026-11-20T09:00:30Z",
		"1795165230.846551":    "2026-11-20T09:00:30.846551Z",
		"1795165230.000000001": "2026-11-20T09:00:30.000000001Z",
		"1.79516523e9":         "2026-11-20T09:00:30Z",
		"0":                    "1970-01-01T00:00:00Z",
	} {
		got, ok := parseEpoch(in)
		if !ok || !got.Equal(ts(want)) {
			t.Errorf("parseEpoch(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "abc", "1795165230.", "-1", "1795165230.1234567890", "1e20", "17951652300000"} {
		if got, ok := parseEpoch(in); ok {
			t.Errorf("parseEpoch(%q) = %v; want failure", in, got)
		}
	}
}

func TestLabelsLimits(t *testing.T) {
	var l labels
	if err := l.put("k", strings.Repeat("a", MaxLabelValue+1)); err == nil ||
		err.Error() != "label k is 4097 bytes; at most 4096" {
		t.Errorf("over the limit: %v", err)
	}
	if err := l.put(strings.Repeat("k", MaxLabelKey+1), "v"); err == nil ||
		!strings.HasSuffix(err.Error(), "is 129 bytes; at most 128") {
		t.Errorf("long key: %v", err)
	}
	if err := l.put("k", strings.Repeat("é", 600)); err != nil {
		t.Fatal(err)
	}
	if v := l.m["k"]; len(v) > LabelValueKeep || !utf8.ValidString(v) || !strings.HasSuffix(v, "…") {
		t.Errorf("cut value: %d bytes, valid UTF-8 %v", len(v), utf8.ValidString(v))
	}
	for i := len(l.m); i < MaxLabels; i++ {
		if err := l.put(string(rune('A'+i%26))+strings.Repeat("x", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.put("one-more", "v"); err == nil || err.Error() != "more than 64 labels; send at most 64" {
		t.Errorf("too many: %v", err)
	}
	if err := l.put("k", "replaced"); err != nil {
		t.Errorf("replacing a label at the limit: %v", err)
	}
	l.note("another-note", "dropped")
	if _, ok := l.m["another-note"]; ok {
		t.Error("a note went past MaxLabels")
	}
}

func TestRawOf(t *testing.T) {
	big := []byte(`{"a":"` + strings.Repeat("x", model.RawCap) + `"}`)
	if got := string(rawOf(big)); got != `{"truncated":true,"size":16392}` {
		t.Errorf("raw of a big item: %s", got)
	}
	if got := string(rawOf([]byte(`{"a":1}`))); got != `{"a":1}` {
		t.Errorf("raw of a small item: %s", got)
	}
}

// TestScannerMatchesEncodingJSON: the scanner accepts exactly what encoding/json
// accepts, and decodes strings to the same text.
func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, in := range scannerCases {
		checkScannerAgainstJSON(t, []byte(in))
	}
}

var scannerCases = []string{
	`{}`, `[]`, `{"a":1}`, `{"a":-0.5e+10}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`,
	`{"a":"\u00e9\ud83d\ude00\ud800x\/\b\f\n\r\t\\\""}`, `{"a":"\u12"}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}",
	`{"a":tru}`, `{"a":true,"b":false,"c":null}`, `{"a":[1,[2,{"b":[]}]]}`, `{"a":[1,]}`, `{"a":1,}`,
	`{"a" 1}`, `{a:1}`, `{"a":1}}`, `[1 2]`, `"x"`, `12`, `nul`, ` {"a" : [ 1 , 2 ] } `, `{"a":"unterminated`,
	`{"a":"\ud83d"}`, `{"a":"\udc00\ud83d"}`, `{"":""}`, `{"a":1}{"b":2}`, `[[[[[[[[[[]]]]]]]]]]`, `{"a":[}`,
	`-`, `[-1.5E-3]`, `{"a":"\u0000"}`, `[1e309]`,
}

func checkScannerAgainstJSON(t testing.TB, in []byte) {
	t.Helper()
	s := scanner{b: in}
	err := s.skip()
	if err == nil {
		err = s.end()
	}
	if valid := json.Valid(in); valid != (err == nil) {
		t.Fatalf("%q: json.Valid %v, scanner error %v", in, valid, err)
	}
	// Strings decode like encoding/json, including invalid surrogates. (Invalid
	// UTF-8 is rejected before scanning, so only valid input is compared.)
	var want map[string]any
	if !utf8.Valid(in) || json.Unmarshal(in, &want) != nil {
		return
	}
	got := map[string]string{}
	s = scanner{b: in}
	err = s.object("", func(k []byte) error {
		key := string(k)
		if s.peek() == '"' {
			v, err := s.str(key, false)
			got[key] = v
			return err
		}
		return s.skip()
	})
	if err != nil {
		t.Fatalf("%q: %v", in, err)
	}
	for k, v := range want {
		if str, ok := v.(string); ok && got[k] != str {
			t.Fatalf("%q: key %q = %q, encoding/json %q", in, k, got[k], str)
		}
	}
}

func TestPeekEventType(t *testing.T) {
	for in, want := range map[string]string{
		`{"timestamp":"x","event_type":"flow"}`:               "flow",
		`{"a":{"event_type":"dns"},"event_type":"alert"}`:     "alert",
		`{"a":["event_type","dns"],"event_type" : "http"}`:    "http",
		`{"a":"\"event_type\":\"dns\"","event_type":"alert"}`: "alert",
		`{"x":{"event_type":"flow"}}`:                         "",
		`{"event_type":"fl\u006fw"}`:                          "",
		`{"event_type":7}`:                                    "",
		`{"event_type":"alert`:                                "",
	} {
		got, ok := peekEventType([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", in, got, ok, want)
		}
	}
}

// FuzzCanonIP checks the quick character test in front of canonIP never turns away
// an address netip.ParseAddr accepts.
func FuzzCanonIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "fe80::1%eth0", "::ffff:192.0.2.1", "srv-01", "dead.beef", "%x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := netip.ParseAddr(s)
		if _, ok := canonIP(s); ok != (err == nil) {
			t.Fatalf("canonIP(%q) ok = %v, ParseAddr error %v", s, ok, err)
		}
	})
}
