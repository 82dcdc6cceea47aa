package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each fuzz target feeds arbitrary bodies to one decoder. A decoder must never panic,
// and whatever it returns must hold checkInvariants: every alert has a real event
// time, a valid severity and category, canonical entities of known kinds, labels
// within their limits and serializes to JSON. Seed corpora live in
// testdata/fuzz/<target>/.

func fuzzDecoder(f *testing.F, format string, fixtures ...string) {
	for _, name := range fixtures {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, _ := Lookup(format)
		items, err := d.Decode(body, testOpts())
		if err != nil {
			if items != nil {
				t.Fatalf("items with a body error %v", err)
			}
			if msg := err.Error(); len(msg) > 1024 {
				t.Fatalf("body error of %d bytes", len(msg))
			}
			return
		}
		checkInvariants(t, format, items)
		// Alerts come from well-formed JSON only.
		if format == "suricata" || format == "generic" || format == "zeek" || format == "splunk" {
			elems, err := elements(body)
			if err != nil || len(elems) != len(items) {
				t.Fatalf("%d items for %d elements (%v)", len(items), len(elems), err)
			}
			for i, it := range items {
				if it.Alert != nil && !json.Valid(elems[i]) {
					t.Fatalf("item %d: alert from invalid JSON %q", i, elems[i])
				}
				if it.Err != nil && errors.Is(it.Err, ErrSkipped) && format != "suricata" {
					t.Fatalf("item %d: skipped in %s", i, format)
				}
			}
		}
	})
}

func FuzzAlertmanager(f *testing.F) { fuzzDecoder(f, "alertmanager", "alertmanager.json") }

func FuzzSuricata(f *testing.F) {
	fuzzDecoder(f, "suricata", "suricata-eve.ndjson", "suricata-eve-array.json")
}

func FuzzGeneric(f *testing.F) { fuzzDecoder(f, "generic", "generic.json") }

func FuzzZeek(f *testing.F) { fuzzDecoder(f, "zeek", "zeek-notice.ndjson") }

func FuzzSplunk(f *testing.F) { fuzzDecoder(f, "splunk", "splunk.json", "splunk-stats.json") }

func FuzzElastic(f *testing.F) { fuzzDecoder(f, "elastic", "elastic.json") }

// FuzzScanner checks the hand-written scanner against encoding/json: same verdict on
// validity, same decoded strings.
func FuzzScanner(f *testing.F) {
	for _, c := range scannerCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(strings.Repeat("[", 2000)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 0 && strings.Count(string(in), "[")+strings.Count(string(in), "{") > maxDepth {
			return // encoding/json allows deeper nesting than the scanner
		}
		checkScannerAgainstJSON(t, in)
	})
}

// FuzzScratchMatchesFresh decodes a body with a Scratch that already decoded another
// body, and checks the result equals decoding it into fresh memory: nothing of the
// earlier body (labels, entities, raw bytes, errors) may show through.
func FuzzScratchMatchesFresh(f *testing.F) {
	gen, sur := readFixture(f, "generic.json"), readFixture(f, "suricata-eve.ndjson")
	f.Add(gen, []byte(`{"rule":"r","severity":"low","event_time":"2026-11-20T09:00:00Z"}`), "generic")
	f.Add(sur, sur[:len(sur)/2], "suricata")
	f.Add(readFixture(f, "suricata-eve-array.json"), sur, "suricata")
	f.Fuzz(func(t *testing.T, first, second []byte, format string) {
		if format != "generic" && format != "suricata" {
			return
		}
		d, _ := Lookup(format)
		render := func(items []Item, err error) string {
			if err != nil {
				return "error: " + err.Error()
			}
			var b strings.Builder
			for i, it := range items {
				if it.Err != nil {
					fmt.Fprintf(&b, "%d: %v\n", i, it.Err)
					continue
				}
				j, err := json.Marshal(it.Alert)
				if err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				fmt.Fprintf(&b, "%d: %s\n", i, j)
			}
			return b.String()
		}
		want := render(d.Decode(bytes.Clone(second), testOpts()))
		var scr Scratch
		opts := testOpts()
		opts.Scratch = &scr
		d.Decode(bytes.Clone(first), opts)
		if got := render(d.Decode(bytes.Clone(second), opts)); got != want {
			t.Fatalf("with a used scratch:\n%s\nfresh:\n%s", got, want)
		}
	})
}
