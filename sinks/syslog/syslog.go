// Package syslog is the RFC 5424 syslog sink, over UDP (RFC 5426, one message per
// datagram), TCP with octet counting (RFC 6587 §3.4.1: "LEN SP MSG") or TLS (RFC 5425,
// also octet-counted).
//
// Each event is one message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [warroom@32473 id=".." type=".."
//	incident=".." actor=".."][fields@32473 name="value" ...] summary
//
// MSGID is the event type; PARAM-VALUEs escape '"', '\' and ']' (§6.3.3). Severity is
// warning for failures (types ending in "failed"), notice for incident.opened and
// action.succeeded, informational otherwise.
//
// Syslog has no acknowledgement: over TCP and TLS a message counts as delivered once
// written to the connection (a connection the receiver has closed is detected and
// replaced before writing), and over UDP once sent. For delivery that is confirmed
// end to end, prefer the splunk or elastic sinks.
package syslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/sinks"
)

// Type is the sink type name in the configuration.
const Type = "syslog"

func init() { sinks.Register(Type, factory) }

func factory(settings *yaml.Node, env sinks.Env) (sinks.Sink, error) {
	c := DefaultConfig()
	if err := sinks.DecodeStrict(settings, &c); err != nil {
		return nil, err
	}
	return New(c, env)
}

// Sink writes events to one syslog receiver. It keeps one connection open over TCP and
// TLS, and reconnects on the next Send after a failure.
type Sink struct {
	name     string
	cfg      Config
	facility int
	hostname string
	procID   string
	fieldsID string
	tls      *tls.Config

	mu   sync.Mutex
	conn net.Conn
}

var (
	_ sinks.Sink   = (*Sink)(nil)
	_ sinks.Closer = (*Sink)(nil)
)

// New validates c and returns the sink; it connects on the first Send.
func New(c Config, env sinks.Env) (*Sink, error) {
	env = env.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{name: env.Name, cfg: c, facility: Facilities[c.Facility], procID: strconv.Itoa(os.Getpid())}
	if s.name == "" {
		s.name = Type
	}
	s.hostname = c.Hostname
	if s.hostname == "" {
		s.hostname = headerValue(env.Hostname, 255)
	}
	_, pen, _ := strings.Cut(c.SDID, "@")
	s.fieldsID = "fields@" + pen
	if c.Network == "tls" {
		host, _, _ := net.SplitHostPort(c.Address)
		sn := c.ServerName
		if sn == "" {
			sn = host
		}
		tc, err := c.TLS.Config(env, sn)
		if err != nil {
			return nil, err
		}
		if c.CertFile != "" {
			certPEM, err := env.ReadFile(c.CertFile)
			if err != nil {
				return nil, fmt.Errorf("cert_file: cannot read %s: %w", c.CertFile, pathErr(err))
			}
			keyPEM, err := env.ReadFile(c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("key_file: cannot read %s: %w", c.KeyFile, pathErr(err))
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("cert_file %s and key_file %s do not make a certificate and its key: %w", c.CertFile, c.KeyFile, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		// No session cache: the client then offers no resumption, so the server sends
		// no session tickets and anything readable on the connection means it is closing.
		tc.ClientSessionCache = nil
		s.tls = tc
	}
	return s, nil
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// headerValue makes s a valid header field: printable US-ASCII, at most max bytes.
func headerValue(s string, max int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '-'
		}
	}
	if len(b) > max {
		b = b[:max]
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Name implements sinks.Sink.
func (s *Sink) Name() string { return s.name }

// Severity returns the syslog severity for an event type.
func Severity(t sinks.Type) int {
	switch {
	case strings.HasSuffix(string(t), "failed"):
		return 4 // warning
	case t == sinks.IncidentOpened || t == sinks.ActionSucceeded:
		return 5 // notice
	}
	return 6 // informational
}

// EscapeParamValue escapes '"', '\' and ']' in a PARAM-VALUE (RFC 5424 §6.3.3).
func EscapeParamValue(v string) string {
	if !strings.ContainsAny(v, "\"\\]") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\', ']':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Format renders an event as one RFC 5424 message, shortening field values if the
// message would exceed max_message_bytes.
func (s *Sink) Format(e sinks.Event) ([]byte, error) {
	for _, limit := range []int{-1, 1024, 256, 64, 16, 0} {
		m := s.format(e, limit)
		if len(m) <= s.cfg.MaxMessageBytes {
			return m, nil
		}
	}
	return nil, sinks.Rejected(fmt.Errorf("syslog: event %s does not fit in max_message_bytes %d even with its fields shortened", e.ID, s.cfg.MaxMessageBytes))
}

func (s *Sink) format(e sinks.Event, limit int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s [%s", s.facility*8+Severity(e.Type),
		e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), s.hostname, s.cfg.AppName, s.procID,
		headerValue(string(e.Type), 32), s.cfg.SDID)
	param := func(name, v string) {
		b.WriteByte(' ')
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(EscapeParamValue(v))
		b.WriteByte('"')
	}
	param("id", e.ID)
	param("type", string(e.Type))
	if e.Incident != "" {
		param("incident", e.Incident)
	}
	if e.Actor != "" {
		param("actor", e.Actor)
	}
	if limit >= 0 {
		param("truncated", "true")
	}
	b.WriteByte(']')
	if len(e.Fields) > 0 {
		names := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		b.WriteByte('[')
		b.WriteString(s.fieldsID)
		for _, k := range names {
			param(k, shorten(e.Fields[k], limit))
		}
		b.WriteByte(']')
	}
	msg := summary(e)
	if limit >= 0 {
		msg = shorten(msg, max(limit, 64))
	}
	if msg != "" {
		b.WriteByte(' ')
		if !isASCII(msg) {
			b.WriteString("\xEF\xBB\xBF") // RFC 5424 §6.4: UTF-8 MSG starts with a BOM
		}
		b.WriteString(msg)
	}
	return b.Bytes()
}

// summary is the human-readable MSG: the "summary" field, or type, incident and actor.
func summary(e sinks.Event) string {
	m := e.Fields["summary"]
	if m == "" {
		m = string(e.Type)
		if e.Incident != "" {
			m += " " + e.Incident
		}
		if e.Actor != "" {
			m += " by " + e.Actor
		}
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, m)
}

// shorten cuts v to at most limit bytes on a UTF-8 boundary, marking the cut with
// "..."; a negative limit keeps v.
func shorten(v string, limit int) string {
	if limit < 0 || len(v) <= limit {
		return v
	}
	cut := max(limit-3, 0)
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "..."
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Frame returns msg octet-counted: "LEN SP MSG".
func Frame(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+8)
	out = strconv.AppendInt(out, int64(len(msg)), 10)
	out = append(out, ' ')
	return append(out, msg...)
}

// Send implements sinks.Sink.
func (s *Sink) Send(ctx context.Context, events []sinks.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	be := &sinks.BatchError{}
	msgs := make([][]byte, len(events))
	var live []int
	for i, e := range events {
		m, err := s.Format(e)
		if err != nil {
			be.Dropped = append(be.Dropped, sinks.ItemError{Index: i, Err: err})
			continue
		}
		msgs[i] = m
		live = append(live, i)
	}
	fail := func(from int, err error) error {
		s.closeConn()
		if len(be.Dropped) == 0 && from == 0 {
			return err
		}
		be.Retry = live[from:]
		be.Err = err
		return be
	}
	if len(live) > 0 {
		conn, err := s.connect(ctx)
		if err != nil {
			return fail(0, err)
		}
		deadline, _ := ctx.Deadline()
		conn.SetWriteDeadline(deadline)
		if s.cfg.Network == "udp" {
			for j, i := range live {
				if _, err := conn.Write(msgs[i]); err != nil {
					return fail(j, fmt.Errorf("syslog udp %s: %w", s.cfg.Address, err))
				}
			}
		} else {
			var buf bytes.Buffer
			for _, i := range live {
				buf.Write(Frame(msgs[i]))
			}
			if _, err := conn.Write(buf.Bytes()); err != nil {
				// Some frames may have arrived; the batch is sent again (at least once).
				return fail(0, fmt.Errorf("syslog %s %s: %w", s.cfg.Network, s.cfg.Address, err))
			}
		}
	}
	if len(be.Dropped) > 0 {
		return be
	}
	return nil
}

// connect returns the open connection, or dials a new one. A stream connection the
// receiver has closed is replaced first.
func (s *Sink) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil {
		if s.cfg.Network == "udp" || !peerClosed(s.conn) {
			return s.conn, nil
		}
		s.closeConn()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	var (
		c   net.Conn
		err error
	)
	switch s.cfg.Network {
	case "tls":
		c, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.cfg.Address)
	default:
		c, err = d.DialContext(ctx, s.cfg.Network, s.cfg.Address)
	}
	if err != nil {
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return nil, sinks.Permanent(fmt.Errorf("syslog tls %s: the receiver's certificate does not verify; set ca_file to the CA that issued it (or server_name to the name in it): %w", s.cfg.Address, err))
		}
		return nil, fmt.Errorf("syslog %s %s: %w", s.cfg.Network, s.cfg.Address, err)
	}
	s.conn = c
	return c, nil
}

func (s *Sink) closeConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeConn()
	return nil
}
