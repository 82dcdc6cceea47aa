package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON value in a single pass, validating as it goes, for the
// formats on the hot ingest path (Suricata, generic): encoding/json would scan every
// element twice (validate, then decode) and allocate a string per field. Object keys
// match exactly (encoding/json also matches them case-insensitively). Like
// encoding/json, null leaves a field empty and a repeated key's last value wins.
type scanner struct {
	b       []byte
	i       int
	depth   int
	scratch []byte // unescaped string content, valid until the next string
}

const maxDepth = 1000

func (s *scanner) syntaxErr(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("malformed JSON at byte %d: unexpected end of input", len(s.b))
	}
	return fmt.Errorf("malformed JSON at byte %d: invalid character %s %s", s.i, quoteChar(s.b[s.i]), what)
}

func quoteChar(c byte) string {
	if c >= utf8.RuneSelf {
		return fmt.Sprintf("0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end checks that only whitespace follows the value.
func (s *scanner) end() error {
	s.ws()
	if s.i < len(s.b) {
		return s.syntaxErr("after top-level value")
	}
	return nil
}

// kind names the next value's JSON type, for type errors.
func (s *scanner) kind() string {
	switch s.peek() {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return "invalid value"
}

// typeErr reports a value of the wrong type for field, after checking that the
// value is at least well-formed JSON (a syntax error is reported first).
func (s *scanner) typeErr(field, want string) error {
	got := s.kind()
	start := s.i
	if err := s.skip(); err != nil {
		return err
	}
	if got == "number" {
		got = "number " + clip(string(s.b[start:s.i]), 32)
	}
	if field == "" {
		return fmt.Errorf("want %s, got %s", want, got)
	}
	return fmt.Errorf("%s: want %s, got %s", field, want, got)
}

// null consumes a null literal if one is next.
func (s *scanner) null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

func (s *scanner) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if s.i >= len(s.b) || s.b[s.i] != lit[k] {
			return s.syntaxErr("in literal " + lit)
		}
		s.i++
	}
	return nil
}

// object reads an object, calling member for each key (unescaped; valid only during
// the call) with the scanner positioned at the value, which member must consume.
// field names the object in errors ("" at the top level).
func (s *scanner) object(field string, member func(key []byte) error) error {
	if ok, err := s.null(); ok || err != nil {
		return err
	}
	if s.peek() != '{' {
		return s.typeErr(field, "an object")
	}
	if s.depth++; s.depth > maxDepth {
		return errors.New("malformed JSON: nested too deeply")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntaxErr("looking for beginning of object key string")
		}
		key, err := s.strContent()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.syntaxErr("after object key")
		}
		s.i++
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.syntaxErr("after object key:value pair")
		}
	}
}

// array reads an array, calling elem for each element, which elem must consume.
func (s *scanner) array(field string, elem func(i int) error) error {
	if ok, err := s.null(); ok || err != nil {
		return err
	}
	if s.peek() != '[' {
		return s.typeErr(field, "an array")
	}
	if s.depth++; s.depth > maxDepth {
		return errors.New("malformed JSON: nested too deeply")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		if err := elem(n); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.syntaxErr("after array element")
		}
	}
}

// strContent reads a string (at its opening quote) and returns its unescaped content,
// aliasing the input when it has no escapes, else the scratch buffer.
func (s *scanner) strContent() ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return out, nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return nil, s.syntaxErr("in string literal")
		}
		s.i++
	}
	return nil, s.syntaxErr("")
}

func (s *scanner) strEscaped(start int) ([]byte, error) {
	out := append(s.scratch[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			s.scratch = out
			return out, nil
		case c < 0x20:
			return nil, s.syntaxErr("in string literal")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		s.i++
		if s.i >= len(s.b) {
			break
		}
		e := s.b[s.i]
		s.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.syntaxErr("in \\u hexadecimal character escape")
			}
			if utf16.IsSurrogate(r) {
				save := s.i
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					r2, ok2 := s.hex4()
					if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						continue
					}
				}
				s.i = save
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			s.i--
			return nil, s.syntaxErr("in string escape code")
		}
	}
	return nil, s.syntaxErr("")
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		s.i = len(s.b)
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		c := s.b[s.i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
		s.i++
	}
	return r, true
}

// str reads a string field (null → ""). Values interned when intern is set, which
// suits low-cardinality fields (signatures, protocol names, sensor names).
func (s *scanner) str(field string, intern bool) (string, error) {
	switch s.peek() {
	case '"':
		b, err := s.strContent()
		if err != nil {
			return "", err
		}
		if intern {
			return internBytes(b), nil
		}
		return string(b), nil
	case 'n':
		return "", s.literal("null")
	}
	return "", s.typeErr(field, "a string")
}

// bytes reads a string field's content without copying it when it has no escapes
// (null → nil). The result aliases the input, so it stays valid after later reads.
func (s *scanner) bytes(field string) ([]byte, error) {
	switch s.peek() {
	case '"':
		b, err := s.strContent()
		if err != nil {
			return nil, err
		}
		if len(s.scratch) > 0 && len(b) > 0 && &b[0] == &s.scratch[0] {
			return append([]byte(nil), b...), nil
		}
		return b, nil
	case 'n':
		return nil, s.literal("null")
	}
	return nil, s.typeErr(field, "a string")
}

// path names a field inside an array element, built only for an error message:
// entities[3].kind.
type path struct {
	array string
	index int
	field string
}

func (p path) String() string {
	s := p.array + "[" + strconv.Itoa(p.index) + "]"
	if p.field != "" {
		s += "." + p.field
	}
	return s
}

// strAt is str for a field named by a path.
func (s *scanner) strAt(p path, intern bool) (string, error) {
	if c := s.peek(); c != '"' && c != 'n' {
		return "", s.typeErr(p.String(), "a string")
	}
	return s.str("", intern)
}

// objectAt is object for an array element named by a path.
func (s *scanner) objectAt(p path, member func(key []byte) error) error {
	if c := s.peek(); c != '{' && c != 'n' {
		return s.typeErr(p.String(), "an object")
	}
	return s.object("", member)
}

// number reads a number literal and returns its text, validated against JSON's grammar.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		return nil, s.syntaxErr("in numeric literal")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.i >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' {
			return nil, s.syntaxErr("after decimal point in numeric literal")
		}
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' {
			return nil, s.syntaxErr("in exponent of numeric literal")
		}
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	}
	return s.b[start:s.i], nil
}

// int reads an integer field (null → 0).
func (s *scanner) int(field string) (int64, error) {
	switch c := s.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		lit, err := s.number()
		if err != nil {
			return 0, err
		}
		n, perr := strconv.ParseInt(string(lit), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("%s: want an integer, got number %s", field, clip(string(lit), 32))
		}
		return n, nil
	case c == 'n':
		return 0, s.literal("null")
	}
	return 0, s.typeErr(field, "an integer")
}

// scalar reads a string or number field (null → empty).
func (s *scanner) scalar(field string) (scalar, error) {
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str(field, false)
		return scalar{text: v}, err
	case c == '-' || c >= '0' && c <= '9':
		lit, err := s.number()
		return scalar{text: string(lit), num: true}, err
	case c == 'n':
		return scalar{}, s.literal("null")
	}
	return scalar{}, s.typeErr(field, "a string or a number")
}

// skip validates and passes over any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object("", func([]byte) error { return s.skip() })
	case c == '[':
		return s.array("", func(int) error { return s.skip() })
	case c == '"':
		_, err := s.strContent()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, err := s.number()
		return err
	}
	return s.syntaxErr("looking for beginning of value")
}

// ---------------------------------------------------------------------------
// Interning.

// internTable holds strings seen often (signatures, protocol and sensor names) so
// each alert refers to one shared copy instead of allocating its own. It is split in
// shards, each behind a read-write lock; additions stop at internMax entries in all,
// so hostile input cannot grow it without bound.
var internTable [internShards]struct {
	sync.RWMutex
	m map[string]string
}

const (
	internShards = 16
	internMax    = 4096
	internMaxLen = 256
)

func internBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	sh := &internTable[internHash(b)%internShards]
	sh.RLock()
	v, ok := sh.m[string(b)]
	full := len(sh.m) >= internMax/internShards
	sh.RUnlock()
	if ok {
		return v
	}
	v = string(b)
	if full {
		return v
	}
	sh.Lock()
	if sh.m == nil {
		sh.m = make(map[string]string)
	}
	if w, ok := sh.m[v]; ok {
		v = w
	} else if len(sh.m) < internMax/internShards {
		sh.m[v] = v
	}
	sh.Unlock()
	return v
}

// internHash is FNV-1a over the first and last bytes, enough to spread shards.
func internHash(b []byte) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(b) && i < 16; i++ {
		h = (h ^ uint32(b[i])) * 16777619
	}
	h = (h ^ uint32(b[len(b)-1])) * 16777619
	return h ^ uint32(len(b))
}
