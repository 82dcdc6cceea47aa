package sinktest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Message is a parsed RFC 5424 syslog message. NILVALUE fields ("-") are empty.
type Message struct {
	Facility  int
	Severity  int
	Timestamp time.Time
	Hostname  string
	AppName   string
	ProcID    string
	MsgID     string
	SD        []SDElement
	Msg       string
	BOM       bool // MSG started with a UTF-8 byte order mark (removed from Msg)
}

// SDElement is one structured-data element.
type SDElement struct {
	ID     string
	Params []SDParam
}

// SDParam is one structured-data parameter, unescaped.
type SDParam struct {
	Name  string
	Value string
}

// Param returns the first value of parameter name in element id.
func (m Message) Param(id, name string) (string, bool) {
	for _, e := range m.SD {
		if e.ID != id {
			continue
		}
		for _, p := range e.Params {
			if p.Name == name {
				return p.Value, true
			}
		}
	}
	return "", false
}

// Params returns element id's parameters as a map (last value wins), or nil.
func (m Message) Params(id string) map[string]string {
	for _, e := range m.SD {
		if e.ID == id {
			out := make(map[string]string, len(e.Params))
			for _, p := range e.Params {
				out[p.Name] = p.Value
			}
			return out
		}
	}
	return nil
}

var (
	tsRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$`)
	// IANA-registered SD-IDs (RFC 5424 §7); all others must be name@number.
	registeredSDIDs = map[string]bool{"timeQuality": true, "origin": true, "meta": true}
	peRE            = regexp.MustCompile(`^[1-9][0-9]*$`)
)

type msgParser struct {
	b []byte
	i int
}

func (p *msgParser) errf(format string, args ...any) error {
	return fmt.Errorf("rfc5424: byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// ParseMessage parses one RFC 5424 message strictly: PRI of 0..191 without leading
// zeros, VERSION 1, a TIMESTAMP with at most 6 fraction digits and an offset, header
// fields of printable US-ASCII within their lengths, structured data whose SD-IDs are
// registered or name@number and unique, parameter values with '"', '\' and ']'
// escaped (a backslash before any other character is refused too, being stricter
// than §6.3.3 so that a sender that fails to escape is caught), and a MSG that is
// valid UTF-8 when it starts with a BOM.
func ParseMessage(b []byte) (Message, error) {
	p := &msgParser{b: b}
	var m Message
	if len(b) == 0 || b[0] != '<' {
		return m, p.errf("want '<' to open PRI")
	}
	p.i = 1
	start := p.i
	for p.i < len(b) && p.i-start < 4 && b[p.i] >= '0' && b[p.i] <= '9' {
		p.i++
	}
	digits := b[start:p.i]
	if len(digits) == 0 || len(digits) > 3 || p.i >= len(b) || b[p.i] != '>' {
		return m, p.errf("PRI must be 1 to 3 digits closed by '>'")
	}
	if len(digits) > 1 && digits[0] == '0' {
		return m, p.errf("PRI %q has a leading zero", digits)
	}
	pri, _ := strconv.Atoi(string(digits))
	if pri > 191 {
		return m, p.errf("PRI %d is above 191", pri)
	}
	m.Facility, m.Severity = pri/8, pri%8
	p.i++
	if v, err := p.field("VERSION", 3); err != nil {
		return m, err
	} else if v != "1" {
		return m, p.errf("VERSION %q: only 1 is defined", v)
	}
	ts, err := p.field("TIMESTAMP", 32)
	if err != nil {
		return m, err
	}
	if ts != "-" {
		if !tsRE.MatchString(ts) {
			return m, p.errf("TIMESTAMP %q is not RFC 3339 with at most 6 fraction digits and an offset", ts)
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return m, p.errf("TIMESTAMP %q: %v", ts, err)
		}
		m.Timestamp = t
	}
	for _, f := range []struct {
		name string
		max  int
		dst  *string
	}{{"HOSTNAME", 255, &m.Hostname}, {"APP-NAME", 48, &m.AppName}, {"PROCID", 128, &m.ProcID}, {"MSGID", 32, &m.MsgID}} {
		v, err := p.field(f.name, f.max)
		if err != nil {
			return m, err
		}
		if v != "-" {
			*f.dst = v
		}
	}
	if err := p.structuredData(&m); err != nil {
		return m, err
	}
	if p.i == len(b) {
		return m, nil
	}
	if b[p.i] != ' ' {
		return m, p.errf("want SP or the end after STRUCTURED-DATA, found %q", b[p.i])
	}
	msg := b[p.i+1:]
	if bytes.HasPrefix(msg, []byte("\xEF\xBB\xBF")) {
		m.BOM = true
		msg = msg[3:]
		if !utf8.Valid(msg) {
			return m, p.errf("MSG starts with a BOM but is not valid UTF-8")
		}
	}
	m.Msg = string(msg)
	return m, nil
}

// field reads a header field of 1..max PRINTUSASCII characters and the SP after it.
func (p *msgParser) field(name string, max int) (string, error) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != ' ' {
		if c := p.b[p.i]; c < 33 || c > 126 {
			return "", p.errf("%s: byte 0x%02x is not printable US-ASCII", name, c)
		}
		p.i++
	}
	v := string(p.b[start:p.i])
	switch {
	case v == "":
		return "", p.errf("%s is empty", name)
	case len(v) > max:
		return "", p.errf("%s is %d characters, at most %d are allowed", name, len(v), max)
	case p.i >= len(p.b):
		return "", p.errf("message ends after %s", name)
	}
	p.i++ // SP
	return v, nil
}

func (p *msgParser) structuredData(m *Message) error {
	if p.i >= len(p.b) {
		return p.errf("message ends before STRUCTURED-DATA")
	}
	if p.b[p.i] == '-' {
		p.i++
		return nil
	}
	if p.b[p.i] != '[' {
		return p.errf("STRUCTURED-DATA must be '-' or start with '['")
	}
	seen := map[string]bool{}
	for p.i < len(p.b) && p.b[p.i] == '[' {
		p.i++
		id, err := p.sdName("SD-ID")
		if err != nil {
			return err
		}
		if name, pen, ok := bytes.Cut([]byte(id), []byte("@")); ok {
			if len(name) == 0 || bytes.IndexByte(pen, '@') >= 0 || !peRE.Match(pen) {
				return p.errf("SD-ID %q: want name@private-enterprise-number", id)
			}
		} else if !registeredSDIDs[id] {
			return p.errf("SD-ID %q is neither IANA-registered nor of the form name@number", id)
		}
		if seen[id] {
			return p.errf("SD-ID %q appears twice", id)
		}
		seen[id] = true
		el := SDElement{ID: id}
		for {
			if p.i >= len(p.b) {
				return p.errf("SD-ELEMENT %s is not closed with ']'", id)
			}
			if p.b[p.i] == ']' {
				p.i++
				break
			}
			if p.b[p.i] != ' ' {
				return p.errf("want SP or ']' in SD-ELEMENT %s", id)
			}
			p.i++
			name, err := p.sdName("PARAM-NAME")
			if err != nil {
				return err
			}
			if p.i+1 >= len(p.b) || p.b[p.i] != '=' || p.b[p.i+1] != '"' {
				return p.errf("want =\" after PARAM-NAME %s", name)
			}
			p.i += 2
			val, err := p.paramValue(name)
			if err != nil {
				return err
			}
			el.Params = append(el.Params, SDParam{Name: name, Value: val})
		}
		m.SD = append(m.SD, el)
	}
	return nil
}

// sdName reads an SD-NAME: 1..32 PRINTUSASCII except '=', SP, ']' and '"'.
func (p *msgParser) sdName(what string) (string, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		if c < 33 || c > 126 {
			return "", p.errf("%s: byte 0x%02x is not allowed", what, c)
		}
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 32 {
		return "", p.errf("%s must be 1 to 32 characters, found %d", what, n)
	}
	return string(p.b[start:p.i]), nil
}

func (p *msgParser) paramValue(name string) (string, error) {
	var v []byte
	for {
		if p.i >= len(p.b) {
			return "", p.errf("PARAM-VALUE of %s is not closed with '\"'", name)
		}
		switch c := p.b[p.i]; c {
		case '\\':
			if p.i+1 >= len(p.b) {
				return "", p.errf("PARAM-VALUE of %s ends in a backslash", name)
			}
			n := p.b[p.i+1]
			if n != '"' && n != '\\' && n != ']' {
				return "", p.errf("PARAM-VALUE of %s: backslash before %q: '\\' itself must be escaped", name, n)
			}
			v = append(v, n)
			p.i += 2
		case '"':
			p.i++
			if !utf8.Valid(v) {
				return "", p.errf("PARAM-VALUE of %s is not valid UTF-8", name)
			}
			return string(v), nil
		case ']':
			return "", p.errf("PARAM-VALUE of %s: ']' must be escaped", name)
		default:
			v = append(v, c)
			p.i++
		}
	}
}

// MaxFrame is the largest octet-counted frame the fake receiver accepts.
const MaxFrame = 1 << 20

// ReadFrame reads one octet-counted frame (RFC 6587 §3.4.1, RFC 5425 §4.3:
// MSG-LEN SP SYSLOG-MSG, MSG-LEN a decimal without leading zeros) and returns the
// message. It returns io.EOF only at a frame boundary; a frame cut short is
// io.ErrUnexpectedEOF; anything else malformed is an error, after which the stream
// cannot be resynchronised.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if digits == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ' ' {
			if digits == 0 {
				return nil, errors.New("octet counting: frame starts with SP, want MSG-LEN")
			}
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("octet counting: byte %q where a MSG-LEN digit belongs (non-transparent framing is not accepted)", c)
		}
		if digits == 0 && c == '0' {
			return nil, errors.New("octet counting: MSG-LEN starts with 0")
		}
		digits++
		if digits > 9 {
			return nil, errors.New("octet counting: MSG-LEN has more than 9 digits")
		}
		n = n*10 + int(c-'0')
	}
	if n > max {
		return nil, fmt.Errorf("octet counting: MSG-LEN %d exceeds %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("octet counting: frame of %d bytes cut short: %w", n, err)
	}
	return buf, nil
}
