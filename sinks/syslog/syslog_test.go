package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func testEnv() sinks.Env {
	return sinks.Env{Name: "syslog-test", Clock: clock.NewFake(t0), Hostname: "warroom-1"}
}

func newSink(t *testing.T, network, addr string, mod func(*Config)) *Sink {
	t.Helper()
	c := DefaultConfig()
	c.Network, c.Address = network, addr
	if mod != nil {
		mod(&c)
	}
	s, err := New(c, testEnv())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func events(n int) []sinks.Event {
	out := make([]sinks.Event, n)
	for i := range out {
		out[i] = sinks.Event{
			ID:       fmt.Sprintf("ev-%04d", i),
			Time:     t0.Add(time.Duration(i) * time.Second),
			Type:     sinks.ActionSucceeded,
			Incident: "INC-0042",
			Actor:    "alice",
			Fields:   map[string]string{"target": "203.0.113.7/32", "n": fmt.Sprint(i)},
		}
	}
	return out
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFormatIsRFC5424(t *testing.T) {
	s := newSink(t, "udp", "127.0.0.1:514", nil)
	e := sinks.Event{
		ID: "ev-1", Time: t0, Type: sinks.IncidentStatus, Incident: "INC-0042", Actor: "alice",
		Fields: map[string]string{"status": "acknowledged", "note": `he said "block ]it[" C:\tmp`},
	}
	m, err := s.Format(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `<134>1 2025-03-01T12:00:00.123456Z warroom-1 warroom ` + s.procID +
		` incident.status [warroom@32473 id="ev-1" type="incident.status" incident="INC-0042" actor="alice"]` +
		`[fields@32473 note="he said \"block \]it[\" C:\\tmp" status="acknowledged"] incident.status INC-0042 by alice`
	if string(m) != want {
		t.Fatalf("message:\n got %s\nwant %s", m, want)
	}
	p, err := sinktest.ParseMessage(m)
	if err != nil {
		t.Fatalf("the strict parser refuses the message: %v", err)
	}
	if p.Facility != 16 || p.Severity != 6 || !p.Timestamp.Equal(t0.Truncate(time.Microsecond)) || p.MsgID != "incident.status" {
		t.Errorf("parsed header = %+v", p)
	}
	if got := p.Params("fields@32473"); !reflect.DeepEqual(got, e.Fields) {
		t.Errorf("fields came back as %v, want %v", got, e.Fields)
	}
}

func TestSeverityAndSummary(t *testing.T) {
	s := newSink(t, "udp", "127.0.0.1:514", func(c *Config) { c.Facility = "auth" })
	for typ, sev := range map[sinks.Type]int{sinks.ActionFailed: 4, sinks.ActionVerifyFailed: 4, sinks.IncidentOpened: 5, sinks.ActionSucceeded: 5, sinks.ActionReverted: 6} {
		m, _ := s.Format(sinks.Event{ID: "x", Time: t0, Type: typ, Fields: map[string]string{"summary": "blocked 203.0.113.7\nfor 24h, ünïcode"}})
		p, err := sinktest.ParseMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if p.Facility != 4 || p.Severity != sev {
			t.Errorf("%s: facility %d severity %d, want 4 and %d", typ, p.Facility, p.Severity, sev)
		}
		if !p.BOM || p.Msg != "blocked 203.0.113.7 for 24h, ünïcode" {
			t.Errorf("%s: MSG %q (BOM %v), want the summary on one line after a BOM", typ, p.Msg, p.BOM)
		}
	}
}

func TestEscapeParamValue(t *testing.T) {
	for in, want := range map[string]string{
		``:          ``,
		`plain`:     `plain`,
		`"`:         `\"`,
		`\`:         `\\`,
		`]`:         `\]`,
		`a"b\c]d[e`: `a\"b\\c\]d[e`,
		`\"`:        `\\\"`,
	} {
		if got := EscapeParamValue(in); got != want {
			t.Errorf("EscapeParamValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLongFieldsAreShortenedToFit(t *testing.T) {
	s := newSink(t, "udp", "127.0.0.1:514", func(c *Config) { c.MaxMessageBytes = 480 })
	e := events(1)[0]
	e.Fields["output"] = strings.Repeat("é", 2000)
	m, err := s.Format(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) > 480 {
		t.Fatalf("message of %d bytes exceeds 480", len(m))
	}
	p, err := sinktest.ParseMessage(m)
	if err != nil {
		t.Fatalf("shortened message does not parse: %v", err)
	}
	if v, _ := p.Param("warroom@32473", "truncated"); v != "true" {
		t.Errorf("shortened message is not marked truncated")
	}
	if v, _ := p.Param("fields@32473", "output"); !strings.HasSuffix(v, "...") {
		t.Errorf("output = %q, want it cut with ...", v)
	}
}

func TestUDPOneMessagePerDatagram(t *testing.T) {
	rx := sinktest.NewSyslogUDP(t)
	s := newSink(t, "udp", rx.Addr, nil)
	evs := events(3)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := rx.Wait(waitCtx(t), 3); err != nil {
		t.Fatalf("waiting for 3 datagrams: %v (errors: %v)", err, rx.Errors())
	}
	for i, m := range rx.Messages() {
		if v, _ := m.Param("warroom@32473", "id"); v != evs[i].ID {
			t.Errorf("datagram %d carries %q, want %s", i, v, evs[i].ID)
		}
	}
	if errs := rx.Errors(); len(errs) != 0 {
		t.Errorf("receiver errors: %v", errs)
	}
}

func TestTCPOctetCountingReusesTheConnection(t *testing.T) {
	rx := sinktest.NewSyslogTCP(t)
	s := newSink(t, "tcp", rx.Addr, nil)
	evs := events(6)
	if err := s.Send(context.Background(), evs[:3]); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := s.Send(context.Background(), evs[3:]); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := rx.Wait(waitCtx(t), 6); err != nil {
		t.Fatalf("waiting: %v (errors: %v)", err, rx.Errors())
	}
	for i, m := range rx.Messages() {
		if v, _ := m.Param("warroom@32473", "id"); v != evs[i].ID {
			t.Errorf("message %d is %s, want %s", i, v, evs[i].ID)
		}
	}
	if n := rx.Accepts(); n != 1 {
		t.Errorf("%d connections for two sends, want 1", n)
	}
	if errs := rx.Errors(); len(errs) != 0 {
		t.Errorf("receiver errors: %v", errs)
	}
}

func TestReconnectsWhenTheReceiverClosedTheConnection(t *testing.T) {
	rx := sinktest.NewSyslogTCP(t)
	s := newSink(t, "tcp", rx.Addr, nil)
	evs := events(2)
	if err := s.Send(context.Background(), evs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := rx.Wait(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	rx.Stop() // closes the listener and the connection, and waits for them
	rx.Start(t)
	if err := s.Send(context.Background(), evs[1:]); err != nil {
		t.Fatalf("Send after the receiver restarted: %v", err)
	}
	if err := rx.Wait(waitCtx(t), 2); err != nil {
		t.Fatalf("the message after the restart was lost: %v", err)
	}
	if n := rx.Accepts(); n != 2 {
		t.Errorf("%d connections, want a new one after the restart", n)
	}
}

func TestOutageThroughTheDispatcher(t *testing.T) {
	rx := sinktest.NewSyslogTCP(t)
	s := newSink(t, "tcp", rx.Addr, nil)
	rx.Stop()
	timer := sinktest.NewTimer(nil)
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 3 {
			rx.Start(t)
		}
	})
	q := sinktest.NewMemQueue()
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, After: timer.After, Delivery: sinks.Delivery{BatchSize: 7}})
	evs := events(20)
	ctx := waitCtx(t)
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := rx.Wait(ctx, 20); err != nil {
		t.Fatal(err)
	}
	for i, m := range rx.Messages() {
		if v, _ := m.Param("warroom@32473", "id"); v != evs[i].ID {
			t.Fatalf("message %d is %s, want %s", i, v, evs[i].ID)
		}
	}
	if len(timer.Waits()) != 3 {
		t.Errorf("waits = %v, want 3 (refused until the receiver came back)", timer.Waits())
	}
}

func TestTLS(t *testing.T) {
	ca := sinktest.NewCA(t)
	t.Run("ca_file", func(t *testing.T) {
		rx := sinktest.NewSyslogTLS(t, ca.ServerConfig(t, false))
		s := newSink(t, "tls", rx.Addr, func(c *Config) { c.CAFile = ca.CAFile })
		if err := s.Send(context.Background(), events(2)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := rx.Wait(waitCtx(t), 2); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown CA halts", func(t *testing.T) {
		rx := sinktest.NewSyslogTLS(t, ca.ServerConfig(t, false))
		s := newSink(t, "tls", rx.Addr, nil)
		err := s.Send(context.Background(), events(1))
		if err == nil || !sinks.IsPermanent(err) || !strings.Contains(err.Error(), "set ca_file") {
			t.Fatalf("Send = %v, want a permanent certificate error", err)
		}
	})
	t.Run("wrong server name halts", func(t *testing.T) {
		rx := sinktest.NewSyslogTLS(t, ca.ServerConfig(t, false))
		s := newSink(t, "tls", rx.Addr, func(c *Config) { c.CAFile, c.ServerName = ca.CAFile, "siem.example.net" })
		if err := s.Send(context.Background(), events(1)); !sinks.IsPermanent(err) {
			t.Fatalf("Send = %v, want a permanent certificate error", err)
		}
	})
	t.Run("insecure_skip_verify warns", func(t *testing.T) {
		rx := sinktest.NewSyslogTLS(t, ca.ServerConfig(t, false))
		logger, logs := sinktest.NewLogger()
		c := DefaultConfig()
		c.Network, c.Address, c.InsecureSkipVerify = "tls", rx.Addr, true
		env := testEnv()
		env.Logger = logger
		s, err := New(c, env)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "insecure_skip_verify is on") {
			t.Errorf("no warning logged for insecure_skip_verify:\n%s", logs)
		}
		if err := s.Send(context.Background(), events(1)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := rx.Wait(waitCtx(t), 1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mutual TLS", func(t *testing.T) {
		rx := sinktest.NewSyslogTLS(t, ca.ServerConfig(t, true))
		cert, key := ca.ClientCertFiles(t)
		s := newSink(t, "tls", rx.Addr, func(c *Config) { c.CAFile, c.CertFile, c.KeyFile = ca.CAFile, cert, key })
		if err := s.Send(context.Background(), events(1)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := rx.Wait(waitCtx(t), 1); err != nil {
			t.Fatalf("%v (receiver errors %v)", err, rx.Errors())
		}
	})
}

func TestRefusedEventIsDroppedOthersSent(t *testing.T) {
	rx := sinktest.NewSyslogTCP(t)
	s := newSink(t, "tcp", rx.Addr, func(c *Config) { c.MaxMessageBytes = 480 })
	evs := events(3)
	evs[1].Fields = map[string]string{}
	for i := 0; i < 40; i++ {
		evs[1].Fields[fmt.Sprintf("field_%02d", i)] = "x"
	}
	err := s.Send(context.Background(), evs)
	var be *sinks.BatchError
	if !errors.As(err, &be) || len(be.Dropped) != 1 || be.Dropped[0].Index != 1 || len(be.Retry) != 0 {
		t.Fatalf("Send = %v, want event 1 dropped and nothing to retry", err)
	}
	if err := rx.Wait(waitCtx(t), 2); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	rx := sinktest.NewSyslogTCP(t)
	addr := rx.Addr
	rx.Stop()
	err := newSink(t, "tcp", addr, nil).Send(context.Background(), events(1))
	if err == nil || !sinks.Retryable(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Send = %v, want a retryable connection error", err)
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	// The only secret a syslog sink holds is its TLS client key.
	ca := sinktest.NewCA(t)
	cert, key := ca.ClientCertFiles(t)
	_, otherKey := ca.ClientCertFiles(t)
	keyPEM, err := os.ReadFile(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := sinktest.NewLogger()
	env := testEnv()
	env.Logger = logger
	var texts []string
	c := DefaultConfig()
	c.Network, c.Address, c.CAFile, c.CertFile, c.KeyFile = "tls", "127.0.0.1:6514", ca.CAFile, cert, otherKey
	_, err = New(c, env) // a key that does not match the certificate
	if err == nil {
		t.Fatal("New accepted a key that does not match the certificate")
	}
	texts = append(texts, err.Error())
	c.KeyFile = cert // a certificate where the key belongs
	_, err = New(c, env)
	texts = append(texts, err.Error())
	c.CertFile = otherKey // the key where the certificate belongs
	_, err = New(c, env)
	texts = append(texts, err.Error())
	c.CertFile, c.KeyFile = cert, key
	s, err := New(c, env)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, fmt.Sprintf("%v %+v %#v", s, s, s))
	err = s.Send(context.Background(), events(1)) // nothing listens
	texts = append(texts, err.Error(), logs.String())
	block := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	for _, line := range block[1 : len(block)-1] {
		sinktest.NoSecret(t, line, texts...)
	}
	sinktest.NoSecret(t, "PRIVATE KEY-----\nM", texts...)
}

func TestInvalidConfigs(t *testing.T) {
	sinktest.InvalidConfigs(t, "testdata/invalid", func(n *yaml.Node) error {
		_, err := factory(n, testEnv())
		return err
	})
}

func TestSampleBuilds(t *testing.T) {
	ca := sinktest.NewCA(t)
	pem, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv()
	env.ReadFile = func(p string) ([]byte, error) {
		if p == "/etc/warroom/siem-ca.pem" {
			return pem, nil
		}
		return os.ReadFile(filepath.Clean(p))
	}
	cfg, err := sinks.ParseConfig([]byte(Sample))
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	ss, err := cfg.Build(env)
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	s := ss[0].(*Sink)
	if s.Name() != "syslog" || s.cfg.Network != "tls" || s.tls == nil || s.tls.ServerName != "siem.example.net" || s.tls.MinVersion != tls.VersionTLS12 {
		t.Fatalf("sample sink = %+v", s.cfg)
	}
}

// FuzzFormat: whatever the event's text, the message parses strictly and every value
// comes back exactly (or shortened with "..." when it had to fit).
func FuzzFormat(f *testing.F) {
	env := testEnv()
	c := DefaultConfig()
	c.Network, c.Address = "udp", "127.0.0.1:514"
	s, err := New(c, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, actor, name, value, summary string) {
		e := sinks.Event{ID: "ev-1", Time: t0, Type: sinks.ActionFailed, Actor: actor, Fields: map[string]string{name: value, "summary": summary}}
		if e.Validate() != nil {
			return
		}
		m, err := s.Format(e)
		if err != nil {
			t.Fatalf("Format: %v", err)
		}
		p, err := sinktest.ParseMessage(m)
		if err != nil {
			t.Fatalf("message %q does not parse: %v", m, err)
		}
		if _, cut := p.Param("warroom@32473", "truncated"); cut {
			return
		}
		if got, _ := p.Param("warroom@32473", "actor"); got != actor {
			t.Fatalf("actor %q came back as %q", actor, got)
		}
		if got, _ := p.Param("fields@32473", name); got != e.Fields[name] {
			t.Fatalf("field %s=%q came back as %q", name, e.Fields[name], got)
		}
	})
}
