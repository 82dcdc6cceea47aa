package store

import (
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
	ents := []model.Entity{}
	if err := json.Unmarshal(b, &ents); err != nil {
		return nil, fmt.Errorf("decode entities: %w", err)
	}
	return ents, nil
}

// decodeLabels parses a labels column; NULL is nil.
func decodeLabels(b []byte, valid bool) (map[string]string, error) {
	if !valid {
		return nil, nil
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
