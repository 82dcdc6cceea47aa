package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/warroom/warroom/triage/model"
)

// ErrSkipped marks an element that is well formed but is not an alert, such as a
// Suricata flow or dns event. Items carrying it (errors.Is) are counted apart from
// rejected ones: the sender did nothing wrong.
var ErrSkipped = errors.New("not an alert; skipped")

// Limits on what one alert may carry. A label value longer than LabelValueKeep bytes
// is cut to that length; one longer than MaxLabelValue bytes rejects its alert, since
// no monitoring label is legitimately that long and keeping it whole would let one
// sender fill memory and disk. Annotations and free text (descriptions, reasons) are
// only ever cut, never rejected.
const (
	MaxLabels      = 64   // labels per alert, annotations included
	MaxLabelKey    = 128  // bytes in a label name
	MaxLabelValue  = 4096 // bytes in a label value; longer rejects the alert
	LabelValueKeep = 1024 // bytes of a label value kept; longer values are cut
	maxRuleLen     = 512  // bytes of Alert.Rule kept
	maxTitleLen    = 512  // bytes of Alert.Title kept
	maxEntityLen   = 255  // bytes in an entity value
	maxErrValue    = 64   // bytes of an offending value quoted in an error
)

// ---------------------------------------------------------------------------
// Splitting a body into elements.

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// errEmptyBody is returned by decoders for a body with nothing in it.
var errEmptyBody = errors.New("empty body: want at least one JSON object")

// elements splits a body holding JSON objects into one slice per element: the elements
// of a JSON array, or the non-blank lines of NDJSON. A body holding a single object
// spread over several lines (pretty-printed JSON) is one element. The slices alias body.
func elements(body []byte) ([][]byte, error) { return elementsInto(nil, body) }

// elementsInto is elements appending to out (reused when it has room).
func elementsInto(out [][]byte, body []byte) ([][]byte, error) {
	b := trimSpace(bytes.TrimPrefix(body, utf8BOM))
	if len(b) == 0 {
		return nil, errEmptyBody
	}
	if b[0] == '[' {
		return splitArray(out, b)
	}
	lines := splitLines(out, b)
	if len(lines) > 1 && b[0] == '{' && !json.Valid(lines[0]) && json.Valid(b) {
		return append(lines[:0], b), nil
	}
	return lines, nil
}

// splitLines appends the non-blank lines of b, trimmed of surrounding whitespace, to out.
func splitLines(out [][]byte, b []byte) [][]byte {
	if n := bytes.Count(b, []byte{'\n'}) + 1; cap(out) < n {
		out = make([][]byte, 0, n)
	}
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if line = trimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}

// splitArray splits a JSON array into its elements without decoding them, so that one
// malformed element is reported on its own and the others still decode. Only a broken
// array structure (unbalanced brackets, an unterminated string, data after the closing
// bracket) fails the whole body.
func splitArray(out [][]byte, b []byte) ([][]byte, error) {
	out = out[:0]
	i := 1
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, fmt.Errorf("malformed JSON array: unexpected end of input after %d elements", len(out))
		}
		if b[i] == ']' && len(out) == 0 {
			i++
			break
		}
		start := i
		end, err := scanElement(b, i)
		if err != nil {
			return nil, err
		}
		elem := trimSpace(b[start:end])
		if len(elem) == 0 {
			return nil, fmt.Errorf("malformed JSON array at byte %d: empty element", start)
		}
		out = append(out, elem)
		i = end + 1
		if b[end] == ']' {
			break
		}
	}
	if j := skipSpace(b, i); j < len(b) {
		return nil, fmt.Errorf("malformed JSON at byte %d: data after the closing ] of the array", j)
	}
	return out, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanElement returns the index of the ',' or ']' that ends the array element
// starting at i.
func scanElement(b []byte, i int) (int, error) {
	depth := 0
	inString := false
	for j := i; j < len(b); j++ {
		c := b[j]
		if inString {
			switch c {
			case '\\':
				j++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ']':
			if depth == 0 {
				return j, nil
			}
			depth--
		case ',':
			if depth == 0 {
				return j, nil
			}
		}
	}
	if inString {
		return 0, errors.New("malformed JSON array: a string is not terminated before the end of the body")
	}
	return 0, errors.New("malformed JSON array: unexpected end of input; check for a missing ] or }")
}

// ---------------------------------------------------------------------------
// Decoding one element.

// checkUTF8 rejects an element that is not valid UTF-8; encoding/json would
// otherwise replace the bad bytes silently.
func checkUTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("invalid UTF-8 at byte %d: send UTF-8 text", i)
		}
		i += n
	}
	return errors.New("invalid UTF-8: send UTF-8 text")
}

// decodeElement unmarshals one element after checking its encoding, turning
// encoding/json's errors into ones that name the JSON field and what it should be.
func decodeElement(b []byte, v any) error {
	if err := checkUTF8(b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError rewrites an encoding/json error for the sender.
func jsonError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// encoding/json counts the bytes read, the bad one included; report the
		// offending byte's index, as the scanner does.
		off, msg := se.Offset, se.Error()
		if strings.HasPrefix(msg, "invalid character") && off > 0 {
			off--
		}
		if msg == "unexpected end of JSON input" {
			msg = "unexpected end of input"
		}
		return &syntaxError{off: off, msg: msg, err: err}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := jsonKind(te.Type)
		got := te.Value // "string", "number 22.5"...
		if te.Field == "" {
			return fmt.Errorf("want %s, got %s", want, got)
		}
		return fmt.Errorf("%s: want %s, got %s", te.Field, want, got)
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// syntaxError is a JSON syntax error from encoding/json, worded like the scanner's.
type syntaxError struct {
	off int64
	msg string
	err error
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg)
}
func (e *syntaxError) Unwrap() error { return e.err }

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	if t == scalarType {
		return "a string or a number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value of another type"
}

// ---------------------------------------------------------------------------
// Flexible scalars.

// scalar is a JSON value that may arrive as a string or a number (Zeek and Splunk
// timestamps, Kibana template fields). Its text is the string's content or the
// number's literal; null and absent leave it empty.
type scalar struct {
	text string
	num  bool
}

func (s *scalar) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = scalar{}
		return nil
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = scalar{text: str}
		return nil
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*s = scalar{text: string(b), num: true}
		return nil
	case string(b) == "true" || string(b) == "false":
		*s = scalar{text: string(b)}
		return nil
	case b[0] == '{':
		return &json.UnmarshalTypeError{Value: "object", Type: scalarType}
	}
	return &json.UnmarshalTypeError{Value: "array", Type: scalarType}
}

var scalarType = reflect.TypeFor[scalar]()

// ---------------------------------------------------------------------------
// Times.

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func missingTime(field string) error {
	return fmt.Errorf("missing event time (field %s)", field)
}

func checkRange(field, s string, t time.Time) (time.Time, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("%s %s: event time must be between 1970 and 9999", field, quote(s))
	}
	return t.UTC(), nil
}

// parseRFC3339 parses an RFC 3339 time with optional fractional seconds.
func parseRFC3339(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, missingTime(field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s: want an RFC 3339 time like 2026-11-20T09:00:30Z", field, quote(s))
	}
	return checkRange(field, s, t)
}

// suricataLayout is EVE's timestamp: numeric zone without a colon, e.g.
// 2026-11-20T09:00:30.846551+0000. Z0700 also accepts a literal Z.
const suricataLayout = "2006-01-02T15:04:05.999999999Z0700"

// parseISOTime accepts EVE's layout and RFC 3339.
func parseISOTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, missingTime(field)
	}
	t, err := time.Parse(suricataLayout, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s: want a time like 2026-11-20T09:00:30.846551+0000", field, quote(s))
	}
	return checkRange(field, s, t)
}

// parseISOTimeBytes is parseISOTime for bytes, with an allocation-free fast path
// for the common layouts (UTC or numeric offset, up to nanoseconds).
func parseISOTimeBytes(field string, b []byte) (time.Time, error) {
	if t, ok := fastTime(b); ok {
		if t.Before(minTime) || t.After(maxTime) {
			return checkRange(field, string(b), t)
		}
		return t.UTC(), nil
	}
	return parseISOTime(field, string(b))
}

// fastTime parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hhmm|±hh:mm).
func fastTime(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for k := i; k < i+n; k++ {
			c := b[k]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if b[i] == '.' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, false
	}
	offset := 0
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		sign := 1
		if b[i] == '-' {
			sign = -1
		}
		i++
		var hh, mm int
		switch len(b) - i {
		case 4:
			hh, mm = num(i, 2), num(i+2, 2)
		case 5:
			if b[i+2] != ':' {
				return time.Time{}, false
			}
			hh, mm = num(i, 2), num(i+3, 2)
		default:
			return time.Time{}, false
		}
		if hh < 0 || hh > 23 || mm < 0 || mm > 59 {
			return time.Time{}, false
		}
		offset = sign * (hh*3600 + mm*60)
		i = len(b)
	default:
		return time.Time{}, false
	}
	if i != len(b) {
		return time.Time{}, false
	}
	if day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseEpochOrISO parses seconds since the Unix epoch with an optional fraction
// ("1763629230.846551", as a JSON number or string), or an ISO 8601 / RFC 3339 time.
func parseEpochOrISO(field string, v scalar) (time.Time, error) {
	s := strings.TrimSpace(v.text)
	if s == "" {
		return time.Time{}, missingTime(field)
	}
	if t, ok := parseEpoch(s); ok {
		return checkRange(field, s, t)
	}
	if v.num {
		return time.Time{}, fmt.Errorf("%s %s: want seconds since 1970 or an ISO 8601 time", field, quote(s))
	}
	t, err := parseISOTime(field, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s: want seconds since 1970 or an ISO 8601 time", field, quote(s))
	}
	return t, nil
}

// parseEpoch parses decimal seconds exactly (no float rounding), falling back to
// ParseFloat for exponent forms.
func parseEpoch(s string) (time.Time, bool) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if !hasFrac || len(frac) > 0 && len(frac) <= 9 && allDigits(frac) {
		if allDigits(intPart) && len(intPart) > 0 && len(intPart) <= 12 {
			sec, err := strconv.ParseInt(intPart, 10, 64)
			if err == nil {
				var nsec int64
				if len(frac) > 0 {
					n, _ := strconv.ParseInt(frac, 10, 64)
					for i := len(frac); i < 9; i++ {
						n *= 10
					}
					nsec = n
				}
				return time.Unix(sec, nsec), true
			}
		}
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && f >= 0 && f < 1e12 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)), true
		}
	}
	return time.Time{}, false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Text.

// quote renders a value for an error message, cut so a huge value cannot bloat it.
func quote(s string) string {
	if len(s) > maxErrValue {
		return strconv.Quote(cutUTF8(s, maxErrValue)) + "…"
	}
	return strconv.Quote(s)
}

// cutUTF8 returns at most n bytes of s, not splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clip returns s, or a copy of its first bytes ending in "…" so the result is at
// most n bytes. The copy lets a huge input be freed.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.Clone(cutUTF8(s, n-len("…"))) + "…"
}

// oneLine collapses control characters (newlines, tabs) to spaces, for titles.
func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, s)
		}
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// Severity.

// severityWord maps the severity words monitoring tools use to warroom's scale:
//
//	critical: critical, crit, fatal, emergency, emerg, alert, page, disaster, p1, sev1
//	high:     high, error, err, major, severe, p2, sev2
//	medium:   medium, warning, warn, moderate, average, p3, sev3
//	low:      low, minor, notice, p4, sev4
//	info:     info, informational, information, debug, none, ok, p5, sev5
func severityWord(s string) (model.Severity, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "disaster", "p1", "sev1", "sev-1":
		return model.SeverityCritical, true
	case "high", "error", "err", "major", "severe", "p2", "sev2", "sev-2":
		return model.SeverityHigh, true
	case "medium", "warning", "warn", "moderate", "average", "p3", "sev3", "sev-3":
		return model.SeverityMedium, true
	case "low", "minor", "notice", "p4", "sev4", "sev-4":
		return model.SeverityLow, true
	case "info", "informational", "information", "debug", "none", "ok", "p5", "sev5", "sev-5":
		return model.SeverityInfo, true
	}
	return model.SeverityUnknown, false
}

// severityForCategory is the severity given to alerts whose format carries none
// (Zeek notices): compromise-shaped categories high, policy low, the rest medium.
func severityForCategory(c model.Category) model.Severity {
	switch c {
	case model.CategoryC2, model.CategoryExfil, model.CategoryLateral:
		return model.SeverityHigh
	case model.CategoryPolicy:
		return model.SeverityLow
	}
	return model.SeverityMedium
}

// ---------------------------------------------------------------------------
// Entities.

// entities collects an alert's entities, dropping exact duplicates.
type entities struct {
	list []model.Entity
}

func (es *entities) add(kind model.EntityKind, value string, role model.Role) {
	for _, e := range es.list {
		if e.Kind == kind && e.Value == value && e.Role == role {
			return
		}
	}
	es.list = append(es.list, model.Entity{Kind: kind, Value: value, Role: role})
}

// entitiesPerAlert is the room reserved per alert when a decoder allocates the
// entities of a whole body at once; an alert with more grows its own slice.
const entitiesPerAlert = 4

// slabEntities returns the empty, capacity-limited share of slab for element i.
func slabEntities(slab []model.Entity, i int) []model.Entity {
	off := i * entitiesPerAlert
	return slab[off : off : off+entitiesPerAlert]
}

// canonIP parses an IP address and returns its canonical text: IPv4-mapped IPv6
// addresses become IPv4, zones are dropped. It returns s itself when already canonical.
func canonIP(s string) (string, bool) {
	if !ipChars(s) {
		return "", false // a name: no parse, and no error to allocate
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	var buf [64]byte
	c := a.AppendTo(buf[:0])
	if string(c) == s {
		return s, true
	}
	return string(c), true
}

// ipChars reports whether s could be an address literal: hex digits, dots and colons,
// then an optional %zone.
func ipChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':':
		case c == '%' && i > 0:
			return true
		default:
			return false
		}
	}
	return true
}

// ip adds an address that must parse: an unparsable value rejects the alert.
func (es *entities) ip(field, value string, role model.Role) error {
	if value == "" {
		return nil
	}
	c, ok := canonIP(value)
	if !ok {
		return fmt.Errorf("%s %s: not an IP address", field, quote(value))
	}
	es.add(model.EntityIP, c, role)
	return nil
}

// validName reports whether s can be a host, user or device name: not empty, not
// too long, no spaces or control characters.
func validName(s string) bool {
	if s == "" || len(s) > maxEntityLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// host adds a host name, or an IP entity when the value is an address literal.
// With strict, a value that is neither rejects the alert; otherwise it is skipped.
func (es *entities) host(field, value string, role model.Role, strict bool) error {
	if value == "" {
		return nil
	}
	if c, ok := canonIP(value); ok {
		es.add(model.EntityIP, c, role)
		return nil
	}
	h := strings.TrimSuffix(value, ".")
	if !validName(h) {
		if strict {
			return fmt.Errorf("%s %s: not a host name or IP address", field, quote(value))
		}
		return nil
	}
	es.add(model.EntityHost, strings.ToLower(h), role)
	return nil
}

// hostPort adds the host of an address such as Prometheus' instance label:
// "host:port", "[2001:db8::1]:9100", a bare address or name, or a URL.
func (es *entities) hostPort(field, value string, role model.Role) {
	h := hostOf(value)
	_ = es.host(field, h, role, false)
}

// hostOf returns the host part of host:port, [v6]:port, a URL or a bare name.
func hostOf(value string) string {
	if value == "" {
		return ""
	}
	if _, ok := canonIP(value); ok {
		return value
	}
	if strings.Contains(value, "://") {
		if u, err := url.Parse(value); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(value); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(value, "["), "]")
}

// name adds a user or device name, lowercased. With strict, an invalid value rejects
// the alert; otherwise it is skipped.
func (es *entities) name(kind model.EntityKind, field, value string, role model.Role, strict bool) error {
	if value == "" {
		return nil
	}
	if !validName(value) {
		if strict {
			return fmt.Errorf("%s %s: not a valid %s name (no spaces or control characters, at most %d bytes)",
				field, quote(value), kind, maxEntityLen)
		}
		return nil
	}
	es.add(kind, strings.ToLower(value), role)
	return nil
}

// iface adds a network interface, qualified by the device it belongs to when known
// ("core-sw1/Gi0/1"), so that eth0 on two machines are different entities.
func (es *entities) iface(value, device string, role model.Role) {
	if value == "" || len(value)+len(device) >= maxEntityLen || !validName(value) {
		return
	}
	if device != "" && validName(device) {
		value = strings.ToLower(device) + "/" + value
	}
	es.add(model.EntityInterface, value, role)
}

// communityID adds a flow's Community ID ("1:base64"), which is case-sensitive.
func (es *entities) communityID(value string) {
	if value != "" && validName(value) {
		es.add(model.EntityCommunityID, value, model.RoleObserver)
	}
}

// labelEntity describes how a label (or a flat field) names an entity.
type labelEntity struct {
	key  string
	how  entityHow
	role model.Role
}

type entityHow uint8

const (
	asIP        entityHow = iota // must be an IP address; anything else rejects the alert
	asHostOrIP                   // an IP literal or a host name; invalid values are skipped
	asHostPort                   // instance-style host:port
	asIPOrHost                   // like asHostOrIP (BGP peers may be named)
	asUser                       // a user name
	asDevice                     // a network device name
	asInterface                  // an interface name, qualified by the device
	asCommunity                  // a Community ID flow hash
)

// alertLabelEntities is how entities are read from Alertmanager labels: the subject
// of the alert (instance, host, device) plays the dst role, addresses named src play src.
var alertLabelEntities = []labelEntity{
	{"src_ip", asIP, model.RoleSrc},
	{"source_ip", asIP, model.RoleSrc},
	{"dest_ip", asIP, model.RoleDst},
	{"dst_ip", asIP, model.RoleDst},
	{"destination_ip", asIP, model.RoleDst},
	{"instance", asHostPort, model.RoleDst},
	{"host", asHostOrIP, model.RoleDst},
	{"hostname", asHostOrIP, model.RoleDst},
	{"user", asUser, model.RoleSrc},
	{"username", asUser, model.RoleSrc},
	{"device", asDevice, model.RoleDst},
	{"interface", asInterface, model.RoleDst},
	{"ifName", asInterface, model.RoleDst},
	{"peer_address", asIP, model.RoleDst},
	{"peer", asIPOrHost, model.RoleDst},
	{"community_id", asCommunity, model.RoleObserver},
}

// fromFields adds the entities a table names, reading values with get. A value that
// must be an IP and is not rejects the alert.
func (es *entities) fromFields(table []labelEntity, get func(string) string) error {
	device := firstNonEmpty(get("device"), get("hostname"), get("host"))
	if device == "" {
		device = hostOf(get("instance"))
	}
	for _, le := range table {
		v := get(le.key)
		if v == "" {
			continue
		}
		var err error
		switch le.how {
		case asIP:
			err = es.ip(le.key, v, le.role)
		case asHostOrIP, asIPOrHost:
			err = es.host(le.key, v, le.role, false)
		case asHostPort:
			es.hostPort(le.key, v, le.role)
		case asUser:
			err = es.name(model.EntityUser, le.key, v, le.role, false)
		case asDevice:
			err = es.name(model.EntityDevice, le.key, v, le.role, false)
		case asInterface:
			es.iface(v, device, le.role)
		case asCommunity:
			es.communityID(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Labels.

// labels builds an alert's label map within the limits above.
type labels struct {
	m map[string]string
}

// put adds a label. Values over MaxLabelValue reject the alert; values over
// LabelValueKeep are cut; empty keys and values are dropped.
func (l *labels) put(key, value string) error {
	if key == "" || value == "" {
		return nil
	}
	if len(key) > MaxLabelKey {
		return fmt.Errorf("label name %s is %d bytes; at most %d", quote(key), len(key), MaxLabelKey)
	}
	if len(value) > MaxLabelValue {
		return fmt.Errorf("label %s is %d bytes; at most %d", key, len(value), MaxLabelValue)
	}
	if _, dup := l.m[key]; !dup && len(l.m) >= MaxLabels {
		return fmt.Errorf("more than %d labels; send at most %d", MaxLabels, MaxLabels)
	}
	if l.m == nil {
		l.m = make(map[string]string, 8)
	}
	l.m[key] = clip(value, LabelValueKeep)
	return nil
}

// note adds free text (an annotation, a description): cut to LabelValueKeep, never
// rejected, and dropped silently once MaxLabels is reached.
func (l *labels) note(key, value string) {
	if key == "" || value == "" || len(key) > MaxLabelKey {
		return
	}
	if _, dup := l.m[key]; !dup && len(l.m) >= MaxLabels {
		return
	}
	if l.m == nil {
		l.m = make(map[string]string, 8)
	}
	l.m[key] = clip(value, LabelValueKeep)
}

// checkLabels validates a decoded label map in place (no copy when nothing needs
// cutting) and returns it.
func checkLabels(m map[string]string) (map[string]string, error) {
	if len(m) > MaxLabels {
		return nil, fmt.Errorf("%d labels; at most %d", len(m), MaxLabels)
	}
	for k, v := range m {
		if len(k) > MaxLabelKey {
			return nil, fmt.Errorf("label name %s is %d bytes; at most %d", quote(k), len(k), MaxLabelKey)
		}
		if len(v) > MaxLabelValue {
			return nil, fmt.Errorf("label %s is %d bytes; at most %d", k, len(v), MaxLabelValue)
		}
		if v == "" {
			delete(m, k)
		} else if len(v) > LabelValueKeep {
			m[k] = clip(v, LabelValueKeep)
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// Fingerprint and raw.

// fingerprinter hashes the fields that identify one alert (format-specific), so
// repeated deliveries of the same alert share a fingerprint: 32 hex digits (128 bits
// of SHA-256). Fields are separated by a NUL byte, so ("ab","c") and ("a","bc") differ.
type fingerprinter struct {
	buf  [480]byte
	n    int
	over []byte // used once buf is full
}

func (f *fingerprinter) write(p []byte, s string) *fingerprinter {
	if f.over == nil && f.n+len(p)+len(s)+1 <= len(f.buf) {
		f.n += copy(f.buf[f.n:], p)
		f.n += copy(f.buf[f.n:], s)
		f.buf[f.n] = 0
		f.n++
		return f
	}
	if f.over == nil {
		f.over = append(make([]byte, 0, 2*len(f.buf)), f.buf[:f.n]...)
	}
	f.over = append(append(append(f.over, p...), s...), 0)
	return f
}

func (f *fingerprinter) bytes(p []byte) *fingerprinter { return f.write(p, "") }

func (f *fingerprinter) str(s string) *fingerprinter { return f.write(nil, s) }

func (f *fingerprinter) int(n int64) *fingerprinter {
	var b [24]byte
	return f.write(strconv.AppendInt(b[:0], n, 10), "")
}

func (f *fingerprinter) sum() string {
	data := f.over
	if data == nil {
		data = f.buf[:f.n]
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:16])
}

// fingerprint hashes parts with a fingerprinter.
func fingerprint(parts ...string) string {
	var f fingerprinter
	for _, p := range parts {
		f.str(p)
	}
	return f.sum()
}

// rawOf returns the item's bytes as kept with the alert: the item itself, or for an
// item over model.RawCap a small marker giving its size.
func rawOf(item []byte) json.RawMessage {
	if len(item) > model.RawCap {
		return json.RawMessage(`{"truncated":true,"size":` + strconv.Itoa(len(item)) + `}`)
	}
	return item
}

// bodyCopy copies a body once, lazily, so that alerts' Raw fields can share one
// allocation without aliasing a buffer the caller may reuse. With borrow set (the
// caller lent a Scratch and keeps the body unchanged) Raw aliases the body itself.
type bodyCopy struct {
	src, dst []byte
	borrow   bool
}

// raw returns the alert's Raw for elem, a subslice of src.
func (c *bodyCopy) raw(elem []byte) json.RawMessage {
	if len(elem) > model.RawCap {
		return rawOf(elem)
	}
	if c.borrow {
		return json.RawMessage(elem[:len(elem):len(elem)])
	}
	if c.dst == nil {
		c.dst = bytes.Clone(c.src)
	}
	off := offsetIn(c.src, elem)
	if off < 0 {
		return bytes.Clone(elem)
	}
	return json.RawMessage(c.dst[off : off+len(elem) : off+len(elem)])
}

// offsetIn returns where sub starts within b, given that sub was sliced from b
// (s[i:j] keeps the end of the capacity, so the offset is the capacity difference),
// or -1 when the numbers show it was not.
func offsetIn(b, sub []byte) int {
	off := cap(b) - cap(sub)
	if off < 0 || off+len(sub) > len(b) {
		return -1
	}
	return off
}

// ---------------------------------------------------------------------------
// Finishing an alert.

// finish fills what every decoder sets the same way and applies the rule table.
func finish(a *model.Alert, format string, opts Options) {
	a.Format = format
	a.Source = opts.Source
	a.ReceivedAt = opts.Now
	a.Rule = clip(oneLine(a.Rule), maxRuleLen)
	a.Title = clip(oneLine(a.Title), maxTitleLen)
	if a.Title == "" {
		a.Title = a.Rule
	}
	if a.Category == "" {
		a.Category = model.CategoryOther
	}
	if a.Severity == model.SeverityUnknown {
		a.Severity = model.SeverityMedium
	}
	if a.Entities == nil {
		a.Entities = []model.Entity{}
	}
	opts.Rules.Apply(a)
}
