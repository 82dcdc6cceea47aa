package store

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// FuzzDecodeCursor: any string either decodes to a positive id that encodes back to a
// cursor decoding to the same id, or fails with ErrBadCursor; it never panics.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", encodeCursor(1), encodeCursor(1 << 62), "YzE6LTE", "abc", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeCursor(c)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decodeCursor(%q): %v does not wrap ErrBadCursor", c, err)
			}
			return
		}
		if c == "" {
			return
		}
		if id <= 0 {
			t.Fatalf("decodeCursor(%q) = %d", c, id)
		}
		again, err := decodeCursor(encodeCursor(id))
		if err != nil || again != id {
			t.Fatalf("cursor of %d does not round-trip: %d, %v", id, again, err)
		}
	})
}

// FuzzEntitiesJSON: the hand-written encoders produce JSON that encoding/json reads
// back as the same values (invalid UTF-8 replaced by U+FFFD, as encoding/json does).
func FuzzEntitiesJSON(f *testing.F) {
	f.Add("ip", "203.0.113.7", "src", "instance", "web-01:9100")
	f.Add("host", "a\"b\\c\n\t\x01", "dst", "<&>", "\u2028\u2029")
	f.Add("user", "\xff\xfe", "", "", "")
	f.Fuzz(func(t *testing.T, kind, value, role, key, label string) {
		ents := []model.Entity{{Kind: model.EntityKind(kind), Value: value, Role: model.Role(role)}, {Kind: "ip", Value: value}}
		var got []model.Entity
		b := appendEntitiesJSON(nil, ents)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("entities JSON %q: %v", b, err)
		}
		want := []model.Entity{
			{Kind: model.EntityKind(valid(kind)), Value: valid(value), Role: model.Role(valid(role))},
			{Kind: "ip", Value: valid(value)},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("entities %q decoded to %+v, want %+v", b, got, want)
		}
		if mine, err := decodeEntities(b, true); err != nil || !reflect.DeepEqual(mine, want) {
			t.Fatalf("decodeEntities(%q) = %+v, %v; want %+v", b, mine, err, want)
		}

		labels := map[string]string{key: label, "z": value}
		var gotLabels map[string]string
		b = appendLabelsJSON(nil, labels)
		if err := json.Unmarshal(b, &gotLabels); err != nil {
			t.Fatalf("labels JSON %q: %v", b, err)
		}
		wantLabels := map[string]string{}
		for k, v := range labels {
			wantLabels[valid(k)] = valid(v)
		}
		if len(labels) == len(wantLabels) && !reflect.DeepEqual(gotLabels, wantLabels) {
			t.Fatalf("labels %q decoded to %v, want %v", b, gotLabels, wantLabels)
		}
		if mine, err := decodeLabels(b, true); err != nil || !reflect.DeepEqual(mine, gotLabels) {
			t.Fatalf("decodeLabels(%q) = %v, %v; want %v", b, mine, err, gotLabels)
		}
	})
}

// valid is s with each invalid UTF-8 byte replaced by U+FFFD, as encoding/json does.
func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// FuzzDecodeEntitiesPlain: whatever the quick entities decoder accepts, encoding/json
// reads as the same entities.
func FuzzDecodeEntitiesPlain(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"kind":"ip","value":"203.0.113.7","role":"src"},{"kind":"host","value":"web-01","role":""}]`,
		`[{"kind":"user","value":"a\"b","role":"dst"}]`,
		`[ {"kind":"ip","value":"1","role":"src"} ]`,
		`[{"kind":"ip","value":"1","role":"src"}`,
		`[{"kind":"ip","value":"1","role":"src"},]`,
		"[{\"kind\":\"ip\",\"value\":\"\xff\",\"role\":\"src\"}]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeEntitiesPlain(b)
		if !ok {
			return
		}
		var want []model.Entity
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decodeEntitiesPlain accepted %q, which encoding/json refuses: %v", b, err)
		}
		if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("decodeEntitiesPlain(%q) = %+v, encoding/json %+v", b, got, want)
		}
	})
}

// FuzzDecodeLabelsPlain: whatever the quick labels decoder accepts, encoding/json
// reads as the same map.
func FuzzDecodeLabelsPlain(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"instance":"web-01:9100","job":"node"}`,
		`{"a":"1","a":"2"}`,
		`{"a":"b\\n"}`,
		`{ "a":"1"}`,
		`{"a":"1",}`,
		`{"a":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeLabelsPlain(b)
		if !ok {
			return
		}
		var want map[string]string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decodeLabelsPlain accepted %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeLabelsPlain(%q) = %v, encoding/json %v", b, got, want)
		}
	})
}
