package narrate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/narrate"
	"github.com/warroom/warroom/triage/narrate/openaitest"
)

const (
	testKey   = "test-key-0123456789"
	testModel = "gpt-4o-mini"
	template  = "SSH brute force from 203.0.113.45 (template)."
)

type rig struct {
	srv     *openaitest.Server
	st      *store.SQLite
	clk     *clock.Fake
	eng     *narrate.Engine
	updates chan int64
}

func openStore(t testing.TB, path string, clk clock.Clock) *store.SQLite {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "warroom.db")
	}
	st, err := store.OpenSQLite(context.Background(), path, store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newRig starts a fake server and an engine talking to it through go-openai, with a
// real SQLite file and a fake clock.
func newRig(t *testing.T, mode openaitest.Mode, tune func(*narrate.ClientOptions, *narrate.Options)) *rig {
	t.Helper()
	return newRigTune(t, mode, tune)
}

func newRigTB(t testing.TB, mode openaitest.Mode) *rig {
	return newRigTune(t, mode, func(_ *narrate.ClientOptions, eo *narrate.Options) { eo.HourlyTokenBudget = 1 << 30 })
}

func newRigTune(t testing.TB, mode openaitest.Mode, tune func(*narrate.ClientOptions, *narrate.Options)) *rig {
	t.Helper()
	r := &rig{srv: openaitest.New(t, testKey, testModel), clk: clock.NewFake(t0.Add(time.Hour)), updates: make(chan int64, 1024)}
	r.srv.SetMode(mode)
	r.st = openStore(t, "", r.clk)
	co := narrate.ClientOptions{BaseURL: r.srv.BaseURL(), APIKey: testKey, Model: testModel, Timeout: 5 * time.Second,
		MaxTokens: 800, Temperature: 0.2}
	eo := narrate.Options{Store: r.st, Clock: r.clk, Log: discard(), Redact: true,
		OnUpdate: func(id int64) { r.updates <- id }}
	if tune != nil {
		tune(&co, &eo)
	}
	if co.Azure {
		r.srv.Azure, r.srv.APIVersion = true, co.APIVersion
		co.BaseURL = r.srv.BaseURL()
	}
	c, err := narrate.NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	eo.Completer = c
	if r.eng, err = narrate.NewEngine(eo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.eng.Close)
	return r
}

// await waits for the narrative of incident id to be stored.
func (r *rig) await(t *testing.T, id int64) {
	t.Helper()
	select {
	case got := <-r.updates:
		if got != id {
			t.Fatalf("update for incident %d, want %d", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no narrative for incident %d; stats %+v", id, r.eng.Stats())
	}
}

func withIncident(f *narrate.Facts, id int64) *narrate.Facts {
	c := *f
	c.Incident.ID = id
	c.Incident.Number = model.IncidentNumber(id)
	return &c
}

// TestEngineWritesValidatedNarrative: the first call returns the template at once;
// the model's narrative arrives in the background, cites the incident's own alerts
// and entities, suggests only the playbook's actions (reordered), and is stored with
// its model, latency and tokens.
func TestEngineWritesValidatedNarrative(t *testing.T) {
	r := newRig(t, openaitest.OK, nil)
	ctx := context.Background()
	f := fixture()
	if n := r.eng.Current(ctx, f, template); n.Source != narrate.SourceTemplate || n.Text != template {
		t.Fatalf("first call: %+v; want the template at once", n)
	}
	r.await(t, 42)
	n := r.eng.Current(ctx, f, template)
	if n.Source != narrate.SourceAI || n.Model != testModel {
		t.Fatalf("after the answer: %+v", n)
	}
	for _, want := range []string{"Stage: credential-access", "T1110.001 Password Guessing", "alert 103",
		"notify-soc; block-attacker (203.0.113.45/32)", "Confidence: medium"} {
		if !strings.Contains(n.Text, want) {
			t.Errorf("narrative lacks %q:\n%s", want, n.Text)
		}
	}
	golden(t, "narrative.golden", []byte(n.Text+"\n"))
	// Redacted values came back: the model saw IP-1, the room reads 10.0.5.11.
	if strings.Contains(n.Text, "IP-1") || !strings.Contains(n.Text, "10.0.5.11") {
		t.Errorf("placeholders not restored:\n%s", n.Text)
	}
	stored, err := r.st.Narrative(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Source != "ai" || stored.Model != testModel || stored.PromptTokens == 0 || stored.CompletionTokens == 0 ||
		stored.Fingerprint != f.Fingerprint() || stored.Dropped != 0 || stored.Text != n.Text {
		t.Errorf("stored: %+v", stored)
	}
	reqs := r.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	b := reqs[0].Body
	if b.ResponseFormat == nil || b.ResponseFormat.Type != "json_schema" || !b.ResponseFormat.JSONSchema.Strict ||
		b.MaxTokens != 800 || len(b.Messages) != 2 || b.Messages[0].Role != "system" {
		t.Errorf("request: %+v", b)
	}
	for _, secret := range []string{"10.0.5.11", "web-01.corp.example", "alice.admin"} {
		if strings.Contains(b.Messages[1].Content, secret) {
			t.Errorf("the prompt sent holds the internal value %q", secret)
		}
	}
	// Same facts again: nothing more is sent.
	r.eng.Current(ctx, f, template)
	r.eng.Wait()
	if n := len(r.srv.Requests()); n != 1 {
		t.Errorf("%d requests for unchanged facts", n)
	}
}

// TestEngineFallsBack runs every failing mode of the fake: the room keeps the
// template, nothing is stored, and the failure is counted.
func TestEngineFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    openaitest.Mode
		invalid bool
	}{
		{"slow", openaitest.Slow, false},
		{"429", openaitest.RateLimited, false},
		{"500", openaitest.ServerError, false},
		{"malformed", openaitest.Malformed, true},
		{"schema-violating", openaitest.SchemaViolation, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.mode, func(co *narrate.ClientOptions, eo *narrate.Options) {
				if tc.mode == openaitest.Slow {
					co.Timeout = 50 * time.Millisecond
				}
			})
			ctx := context.Background()
			f := fixture()
			if n := r.eng.Current(ctx, f, template); n.Source != narrate.SourceTemplate {
				t.Fatalf("first call: %+v", n)
			}
			r.eng.Wait()
			if n := r.eng.Current(ctx, f, template); n.Source != narrate.SourceTemplate || n.Text != template {
				t.Errorf("after a %s answer: %+v; want the template", tc.name, n)
			}
			if _, err := r.st.Narrative(ctx, 42); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("something was stored: %v", err)
			}
			st := r.eng.Stats()
			if tc.invalid && st.Invalid != 1 || !tc.invalid && st.Failed != 1 || st.Written != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestEngineHonoursRetryAfter: after a 429, no request is sent for any incident until
// the server's Retry-After has passed.
func TestEngineHonoursRetryAfter(t *testing.T) {
	r := newRig(t, openaitest.RateLimited, nil)
	ctx := context.Background()
	r.eng.Current(ctx, fixture(), template)
	r.eng.Wait()
	r.srv.SetMode(openaitest.OK)
	other := withIncident(fixture(), 43)
	r.eng.Current(ctx, other, template)
	r.eng.Wait()
	if n := len(r.srv.Requests()); n != 1 {
		t.Fatalf("%d requests during Retry-After; want 1", n)
	}
	r.clk.Advance(time.Duration(r.srv.RetryAfter) * time.Second)
	r.eng.Current(ctx, other, template)
	r.await(t, 43)
	if n := len(r.srv.Requests()); n != 2 {
		t.Errorf("%d requests after Retry-After; want 2", n)
	}
}

// TestEngineDropsHallucinations: citations of alerts and entities the incident does
// not have, unknown action ids and malformed ATT&CK ids are dropped and counted;
// the rest is kept.
func TestEngineDropsHallucinations(t *testing.T) {
	r := newRig(t, openaitest.Hallucinated, nil)
	ctx := context.Background()
	r.eng.Current(ctx, fixture(), template)
	r.await(t, 42)
	stored, err := r.st.Narrative(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	want := narrate.Dropped{Actions: 2, Alerts: 2, Entities: 1, Techniques: 2, Evidence: 1}
	if got := r.eng.Stats().Dropped; got != want {
		t.Errorf("dropped %+v, want %+v", got, want)
	}
	if stored.Dropped != want.Total() || !strings.Contains(stored.Note, "2 unknown action ids") {
		t.Errorf("stored dropped %d, note %q", stored.Dropped, stored.Note)
	}
	for _, bad := range []string{"999999", "424242", "198.18.99.99", "block-everything", "wipe-host", "T99", "TA0006", "never happened"} {
		if strings.Contains(stored.Text, bad) || strings.Contains(stored.Result, bad) {
			t.Errorf("hallucinated %q survived:\n%s", bad, stored.Text)
		}
	}
	if !strings.Contains(stored.Text, "T1110 Brute Force") || !strings.Contains(stored.Text, "alert 103") {
		t.Errorf("valid parts lost:\n%s", stored.Text)
	}
}

// TestEngineInjectedAnswer: a model that obeyed instructions in alert text can only
// have written prose: its made-up actions and citations are dropped, and what it
// suggests is the playbook's own actions.
func TestEngineInjectedAnswer(t *testing.T) {
	r := newRig(t, openaitest.Injected, nil)
	ctx := context.Background()
	f := fixture()
	r.eng.Current(ctx, f, template)
	r.await(t, 42)
	stored, err := r.st.Narrative(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	var res narrate.Result
	if err := jsonUnmarshal(stored.Result, &res); err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Actions {
		if !slices.Contains([]string{"block-attacker", "notify-soc"}, a) {
			t.Errorf("suggested action %q is not the playbook's", a)
		}
	}
	if d := r.eng.Stats().Dropped; d.Actions != 3 || d.Evidence != 1 || d.Entities != 1 {
		t.Errorf("dropped %+v", d)
	}
	if len(res.Evidence) != 0 {
		t.Errorf("evidence citing nothing real kept: %+v", res.Evidence)
	}
}

// TestEngineFallsBackToJSONMode: a server that refuses the JSON schema is asked again
// in plain JSON mode, and later requests use JSON mode at once.
func TestEngineFallsBackToJSONMode(t *testing.T) {
	r := newRig(t, openaitest.RejectSchema, nil)
	ctx := context.Background()
	r.eng.Current(ctx, fixture(), template)
	r.await(t, 42)
	r.eng.Current(ctx, withIncident(fixture(), 43), template)
	r.await(t, 43)
	var types []string
	for _, q := range r.srv.Requests() {
		types = append(types, q.Body.ResponseFormat.Type)
	}
	if want := []string{"json_schema", "json_object", "json_object"}; !slices.Equal(types, want) {
		t.Errorf("response formats %v, want %v", types, want)
	}
}

// TestEngineAzure talks to Azure's URL layout and api-key header.
func TestEngineAzure(t *testing.T) {
	r := newRig(t, openaitest.OK, func(co *narrate.ClientOptions, _ *narrate.Options) {
		co.Azure, co.APIVersion = true, "2024-06-01"
	})
	r.eng.Current(context.Background(), fixture(), template)
	r.await(t, 42)
	if q := r.srv.Requests(); len(q) != 1 || q[0].Path != "/openai/deployments/"+testModel+"/chat/completions" {
		t.Errorf("requests %+v", q)
	}
}

// TestEngineDebounceAndInterval: counts alone never re-narrate; a new stage does,
// once the change has settled and the least interval has passed.
func TestEngineDebounceAndInterval(t *testing.T) {
	r := newRig(t, openaitest.OK, func(_ *narrate.ClientOptions, eo *narrate.Options) {
		eo.Debounce, eo.MinInterval = 20*time.Second, 5*time.Minute
	})
	ctx := context.Background()
	f := fixture()
	r.eng.Current(ctx, f, template)
	r.await(t, 42)
	requests := func() int { r.eng.Wait(); return len(r.srv.Requests()) }

	more := *f
	more.Incident.AlertCount = 900
	r.clk.Advance(10 * time.Minute)
	r.eng.Current(ctx, &more, template)
	if n := requests(); n != 1 {
		t.Fatalf("a count-only change sent a request (%d)", n)
	}
	esc := more
	esc.Incident.Severity = "critical"
	if n := r.eng.Current(ctx, &esc, template); n.Source != narrate.SourceAI || !n.Stale {
		t.Errorf("after an escalation: %+v; want the last narrative, marked stale", n)
	}
	if n := requests(); n != 1 {
		t.Fatalf("escalation narrated before the debounce (%d requests)", n)
	}
	r.clk.Advance(20 * time.Second)
	r.eng.Current(ctx, &esc, template)
	r.await(t, 42)
	// Contained right after: the least interval holds it back.
	cont := esc
	cont.Incident.Status = "contained"
	r.clk.Advance(30 * time.Second)
	r.eng.Current(ctx, &cont, template)
	if n := requests(); n != 2 {
		t.Fatalf("%d requests within the least interval; want 2", n)
	}
	if at, ok := r.eng.Due(42); !ok || !at.Equal(r.clk.Now().Add(-30*time.Second).Add(5*time.Minute)) {
		t.Errorf("due %v %v", at, ok)
	}
	r.clk.Advance(5 * time.Minute)
	r.eng.Current(ctx, &cont, template)
	r.await(t, 42)
}

// TestEngineTokenBudget: past the hourly budget no request is sent, until the hour
// has passed.
func TestEngineTokenBudget(t *testing.T) {
	r := newRig(t, openaitest.OK, func(_ *narrate.ClientOptions, eo *narrate.Options) {
		eo.HourlyTokenBudget, eo.MaxTokens = 3000, 800
	})
	ctx := context.Background()
	r.eng.Current(ctx, fixture(), template)
	r.await(t, 42)
	other := withIncident(fixture(), 43)
	if n := r.eng.Current(ctx, other, template); n.Source != narrate.SourceTemplate {
		t.Fatalf("%+v", n)
	}
	r.eng.Wait()
	if st := r.eng.Stats(); st.OverBudget != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v; want one request and one refusal", st)
	}
	r.clk.Advance(time.Hour)
	r.eng.Current(ctx, other, template)
	r.await(t, 43)
}

// TestEngineRestart: a stored narrative is shown after a restart without asking the
// model again.
func TestEngineRestart(t *testing.T) {
	r := newRig(t, openaitest.OK, nil)
	ctx := context.Background()
	f := fixture()
	r.eng.Current(ctx, f, template)
	r.await(t, 42)
	c, err := narrate.NewClient(narrate.ClientOptions{BaseURL: r.srv.BaseURL(), APIKey: testKey, Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	eng2, err := narrate.NewEngine(narrate.Options{Completer: c, Store: r.st, Clock: r.clk, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng2.Close()
	if n := eng2.Current(ctx, f, template); n.Source != narrate.SourceAI {
		t.Errorf("after a restart: %+v", n)
	}
	eng2.Wait()
	if n := len(r.srv.Requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

// TestEngineLeaksNoKey: a refused key shows in no log line and no stored text.
func TestEngineLeaksNoKey(t *testing.T) {
	var logs strings.Builder
	r := newRig(t, openaitest.OK, func(co *narrate.ClientOptions, eo *narrate.Options) {
		co.APIKey = "test-wrong-key-0987654321"
		eo.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var refused []string
	r.srv.Errorf = func(format string, args ...any) { refused = append(refused, fmt.Sprintf(format, args...)) }
	r.eng.Current(context.Background(), fixture(), template)
	r.eng.Wait()
	if len(refused) != 1 || r.eng.Stats().Failed != 1 {
		t.Fatalf("refused %v, stats %+v", refused, r.eng.Stats())
	}
	if !strings.Contains(logs.String(), "401") {
		t.Errorf("the failure is not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "test-wrong-key-0987654321") || strings.Contains(logs.String(), testKey) {
		t.Errorf("a key is in the logs: %s", logs.String())
	}
}
