package store

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// Times are stored as INTEGER unix nanoseconds (UTC), which sort and compare in SQL and
// round-trip exactly. The zero time is stored as NULL. Unix nanoseconds cover the years
// 1677 to 2262; a time outside that range is refused rather than silently altered.
var (
	minStoredTime = time.Unix(0, math.MinInt64+1)
	maxStoredTime = time.Unix(0, math.MaxInt64)
)

// timeValue converts t to its column value: nil for the zero time, else unix nanoseconds.
func timeValue(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return nil, fmt.Errorf("time %s is outside the storable range 1678..2262", t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// timeFrom converts a column value back; NULL is the zero time.
func timeFrom(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// timePtrFrom converts an optional timestamp column back; NULL is nil.
func timePtrFrom(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

// idValue stores 0 as NULL (no reference).
func idValue(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// rawValue stores a JSON document as TEXT, nil as NULL. The bytes are copied: the
// caller may reuse its buffer once Submit returns.
func rawValue(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// rawFrom converts a nullable TEXT column back to raw JSON.
func rawFrom(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// appendEntitiesJSON encodes ents as [{"kind":..,"value":..,"role":..}], the same
// document encoding/json produces, without reflection.
func appendEntitiesJSON(b []byte, ents []model.Entity) []byte {
	b = append(b, '[')
	for i, e := range ents {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"kind":`...)
		b = appendJSONString(b, string(e.Kind))
		b = append(b, `,"value":`...)
		b = appendJSONString(b, e.Value)
		b = append(b, `,"role":`...)
		b = appendJSONString(b, string(e.Role))
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendLabelsJSON encodes labels as a JSON object with sorted keys.
func appendLabelsJSON(b []byte, labels map[string]string) []byte {
	var small [16]string
	keys := small[:0]
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, labels[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as with
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeEntities parses an entities column; NULL is nil.
func decodeEntities(b []byte, valid bool) ([]model.Entity, error) {
	if !valid {
		return nil, nil
	}
	if ents, ok := decodeEntitiesPlain(b); ok {
		return ents, nil
	}
	ents := []model.Entity{}
	if err := json.Unmarshal(b, &ents); err != nil {
		return nil, fmt.Errorf("decode entities: %w", err)
	}
	return ents, nil
}

// decodeEntitiesPlain decodes exactly what appendEntitiesJSON writes when no string
// needs an escape: [{"kind":"…","value":"…","role":"…"},…]. Anything else reports
// false, for encoding/json to decode. Kinds and roles are the model's own strings
// where they are one of them, so reading an alert allocates only its values.
func decodeEntitiesPlain(b []byte) ([]model.Entity, bool) {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, false
	}
	n := bytes.Count(b, []byte(`{"kind":`))
	ents := make([]model.Entity, 0, n)
	i := 1
	for i < len(b)-1 {
		if len(ents) > 0 {
			if b[i] != ',' {
				return nil, false
			}
			i++
		}
		var kind, value, role []byte
		var ok bool
		if i, ok = expect(b, i, `{"kind":`); !ok {
			return nil, false
		}
		if kind, i, ok = plainBytes(b, i); !ok {
			return nil, false
		}
		if i, ok = expect(b, i, `,"value":`); !ok {
			return nil, false
		}
		if value, i, ok = plainBytes(b, i); !ok {
			return nil, false
		}
		if i, ok = expect(b, i, `,"role":`); !ok {
			return nil, false
		}
		if role, i, ok = plainBytes(b, i); !ok {
			return nil, false
		}
		if i, ok = expect(b, i, `}`); !ok {
			return nil, false
		}
		ents = append(ents, model.Entity{Kind: model.EntityKind(knownString(kind)), Value: string(value), Role: model.Role(knownString(role))})
	}
	return ents, i == len(b)-1
}

// decodeLabelsPlain decodes exactly what appendLabelsJSON writes when no string needs
// an escape: {"key":"value",…}. Anything else reports false, for encoding/json.
func decodeLabelsPlain(b []byte) (map[string]string, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	m := make(map[string]string, bytes.Count(b, []byte(`":"`)))
	i := 1
	for first := true; i < len(b)-1; first = false {
		var (
			k, v []byte
			ok   bool
		)
		if !first {
			if i, ok = expect(b, i, ","); !ok {
				return nil, false
			}
		}
		if k, i, ok = plainBytes(b, i); !ok {
			return nil, false
		}
		if i, ok = expect(b, i, ":"); !ok {
			return nil, false
		}
		if v, i, ok = plainBytes(b, i); !ok {
			return nil, false
		}
		m[string(k)] = string(v)
	}
	return m, i == len(b)-1
}

// expect reports whether b holds lit at i, and the index after it.
func expect(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// plainBytes reads a JSON string without escapes or control characters at i, and
// returns its bytes with the index after its closing quote. Invalid UTF-8 reports
// false: encoding/json would change it.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			if !utf8.Valid(s) {
				return nil, i, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}

// knownString returns s as a string: the model's own when it is an entity kind or
// role, so that those allocate nothing.
func knownString(s []byte) string {
	switch string(s) {
	case "":
		return ""
	case string(model.EntityIP):
		return string(model.EntityIP)
	case string(model.EntityHost):
		return string(model.EntityHost)
	case string(model.EntityUser):
		return string(model.EntityUser)
	case string(model.EntityDevice):
		return string(model.EntityDevice)
	case string(model.EntityInterface):
		return string(model.EntityInterface)
	case string(model.EntityCommunityID):
		return string(model.EntityCommunityID)
	case string(model.EntityDomain):
		return string(model.EntityDomain)
	case string(model.RoleSrc):
		return string(model.RoleSrc)
	case string(model.RoleDst):
		return string(model.RoleDst)
	case string(model.RoleObserver):
		return string(model.RoleObserver)
	}
	return string(s)
}

// decodeLabels parses a labels column; NULL is nil.
func decodeLabels(b []byte, valid bool) (map[string]string, error) {
	if !valid {
		return nil, nil
	}
	if m, ok := decodeLabelsPlain(b); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode labels: %w", err)
	}
	return m, nil
}

// A cursor is the id of the last row of the previous page, base64url-encoded so that
// callers treat it as opaque. Listings are newest first, so the next page holds the
// rows with a smaller id.
const cursorPrefix = "c1:"

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt([]byte(cursorPrefix), id, 10))
}

// decodeCursor returns the id a cursor continues before; "" starts at the newest row.
func decodeCursor(c string) (int64, error) {
	if c == "" {
		return math.MaxInt64, nil
	}
	bad := fmt.Errorf("%w (got %q; leave it empty for the first page)", ErrBadCursor, truncate(c, 64))
	if len(c) > 64 {
		return 0, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) <= len(cursorPrefix) || string(b[:len(cursorPrefix)]) != cursorPrefix {
		return 0, bad
	}
	id, err := strconv.ParseInt(string(b[len(cursorPrefix):]), 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
