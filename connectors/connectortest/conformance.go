package connectortest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/internal/clock"
)

// Subject is a connector under test and what the suite needs to know about it.
type Subject struct {
	Connector connectors.Connector
	// Kind is the action to exercise (default block_ip).
	Kind connectors.ActionKind
	// Target is what to act on (default 203.0.113.7/32 for IP kinds, host
	// "ws-conformance" otherwise).
	Target connectors.Target
	// TTL of the action (default 1h).
	TTL time.Duration
	// Secrets are values (tokens, passwords, signing keys) that must never appear in
	// any error, result, verification, preview or log line.
	Secrets []string
}

// LogBuffer collects log output safely from several goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewEnv returns an Env whose logger writes debug-level text into the returned
// buffer, on a fake clock set to the current time.
func NewEnv(name string) (connectors.Env, *LogBuffer, *clock.Fake) {
	logs := &LogBuffer{}
	clk := clock.NewFake(time.Now())
	env := connectors.Env{
		Name:   name,
		Clock:  clk,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return env, logs, clk
}

// RunConformance runs the connector life cycle every containment connector must
// pass: preview changes nothing; execute puts the change in place and verify sees it;
// a repeated execute is a no-op; revert removes it and verify sees it gone; a repeated
// revert is a no-op; a malformed request is refused permanently; and no secret appears
// in any error, result or log line. build gets an Env with a capturing logger.
func RunConformance(t *testing.T, build func(t *testing.T, env connectors.Env) Subject) {
	t.Helper()
	env, logs, _ := NewEnv("conformance")
	s := build(t, env)
	c := s.Connector
	if s.Kind == "" {
		s.Kind = connectors.BlockIP
	}
	if s.Target.IsZero() {
		if s.Kind.NeedsIP() {
			s.Target, _ = connectors.ParseTarget("203.0.113.7")
		} else {
			s.Target = connectors.HostTarget("ws-conformance")
		}
	}
	if s.TTL == 0 {
		s.TTL = time.Hour
	}
	req := connectors.Request{ActionID: "act-conf-1", IdempotencyKey: "idem-conf-1", Kind: s.Kind, Target: s.Target, TTL: s.TTL,
		Params: map[string]string{"incident": "INC-0001"}}
	ctx := context.Background()
	var seen []string // every error and human-readable output, checked for secrets at the end
	note := func(v ...any) {
		for _, x := range v {
			if x != nil {
				seen = append(seen, fmt.Sprintf("%+v", x))
			}
		}
	}
	step := func(name string, err error) {
		t.Helper()
		note(err)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	if c.Name() == "" {
		t.Error("Name() is empty")
	}
	if !connectors.Supports(c, s.Kind) {
		t.Fatalf("capabilities %v lack %s", c.Capabilities(), s.Kind)
	}
	rd := c.Ready(ctx)
	note(rd)
	if !rd.OK() {
		t.Fatalf("Ready: %+v", rd)
	}

	d, err := c.Preview(ctx, req)
	step("Preview", err)
	note(d)
	if len(d.Changes) == 0 || strings.TrimSpace(d.String()) == "" {
		t.Errorf("Preview returned an empty diff")
	}
	v, err := c.Verify(ctx, req)
	step("Verify before Execute", err)
	note(v)
	if v.InPlace {
		t.Fatalf("Verify before Execute: in place already (%s); Preview must not change anything", v.Detail)
	}

	r, err := c.Execute(ctx, req)
	step("Execute", err)
	note(r)
	if !r.Changed {
		t.Errorf("Execute: Changed=false on the first call (%s)", r.Detail)
	}
	v, err = c.Verify(ctx, req)
	step("Verify after Execute", err)
	note(v)
	if !v.InPlace {
		t.Fatalf("Verify after Execute: not in place (%s)", v.Detail)
	}

	r, err = c.Execute(ctx, req)
	step("repeated Execute", err)
	note(r)
	if r.Changed {
		t.Errorf("repeated Execute: Changed=true; a repeat must be a no-op (%s)", r.Detail)
	}
	v, err = c.Verify(ctx, req)
	step("Verify after repeated Execute", err)
	note(v)
	if !v.InPlace {
		t.Fatalf("Verify after repeated Execute: not in place (%s)", v.Detail)
	}

	r, err = c.Revert(ctx, req)
	step("Revert", err)
	note(r)
	if !r.Changed {
		t.Errorf("Revert: Changed=false (%s)", r.Detail)
	}
	v, err = c.Verify(ctx, req)
	step("Verify after Revert", err)
	note(v)
	if v.InPlace {
		t.Fatalf("Verify after Revert: still in place (%s)", v.Detail)
	}
	r, err = c.Revert(ctx, req)
	step("repeated Revert", err)
	note(r)
	if r.Changed {
		t.Errorf("repeated Revert: Changed=true (%s)", r.Detail)
	}

	bad := req
	bad.IdempotencyKey = ""
	_, err = c.Execute(ctx, bad)
	note(err)
	if err == nil {
		t.Error("Execute accepted a request without an idempotency key")
	} else if connectors.Retryable(err) {
		t.Errorf("a malformed request must fail permanently, got a retryable %v", err)
	}
	unsupported := req
	unsupported.Kind = firstUnsupported(c)
	if unsupported.Kind != "" {
		_, err = c.Execute(ctx, unsupported)
		note(err)
		if err == nil || connectors.Retryable(err) {
			t.Errorf("Execute(%s), which the connector does not support: err %v, want a permanent error", unsupported.Kind, err)
		}
	}

	AssertNoSecret(t, s.Secrets, append(seen, logs.String())...)
}

func firstUnsupported(c connectors.Connector) connectors.ActionKind {
	for _, k := range connectors.Kinds() {
		if !connectors.Supports(c, k) {
			return k
		}
	}
	return ""
}

// AssertNoSecret fails the test when any of texts contains any of secrets.
func AssertNoSecret(t testing.TB, secrets []string, texts ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, txt := range texts {
			if strings.Contains(txt, sec) {
				t.Errorf("secret leaked into output: %q", txt)
			}
		}
	}
}
