package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// TestTriageExplain prints an incident's template narrative and the redacted prompt,
// then the stored model narrative once there is one.
func TestTriageExplain(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "warroom.db")
	doc := strings.Replace(string(example), "generate_missing_secrets: true", "generate_missing_secrets: false", 1)
	doc = strings.Replace(doc, "database: warroom.db", "database: "+db, 1)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"WARROOM_INGEST_TOKEN": "i", "WARROOM_API_TOKEN": "a"}
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clock.Real{}, Getenv: func(k string) string { return env[k] },
		Log: app.NewLogger("error")})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	res, err := a.Pipeline.Ingest(context.Background(), []*model.Alert{{Source: "generic", Format: "generic", Rule: "ssh-bruteforce",
		Title: "SSH brute force from 203.0.113.45 on web-01.corp.example", Severity: model.SeverityHigh, Category: model.CategoryBruteforce,
		EventTime: at, ReceivedAt: at, Fingerprint: "f1", Entities: []model.Entity{{Kind: model.EntityIP, Value: "203.0.113.45", Role: model.RoleSrc},
			{Kind: model.EntityHost, Value: "web-01.corp.example", Role: model.RoleDst}}}})
	if err != nil {
		t.Fatal(err)
	}
	al, err := a.Store.Alert(context.Background(), res.IDs[0])
	if err != nil {
		t.Fatal(err)
	}
	ref := model.IncidentNumber(al.IncidentID)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run([]string{"triage", "explain", ref, "--prompt", "--config", cfgPath}, &out, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"Narrative (template):", "Source: 203.0.113.45", "--- prompt (redacted", "ai is disabled",
		"<<<INCIDENT_DATA", "HOST-1", "untrusted"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if _, prompt, _ := strings.Cut(s, "--- user"); strings.Contains(prompt, "web-01.corp.example") {
		t.Errorf("the prompt holds a host name:\n%s", prompt)
	}

	st, err := store.OpenSQLite(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.PutNarrative(context.Background(), &store.Narrative{IncidentID: al.IncidentID, Source: "ai", Model: "gpt-4o-mini",
		Text: "A brute force from 203.0.113.45.", Latency: 1500 * time.Millisecond, PromptTokens: 900, CompletionTokens: 120})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run([]string{"triage", "explain", "--db", db, "--config", cfgPath, ref}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "written by gpt-4o-mini") || !strings.Contains(s, "1.5s, 900 prompt + 120 answer tokens") ||
		!strings.Contains(s, "A brute force from 203.0.113.45.") || strings.Contains(s, "--- prompt") {
		t.Errorf("output:\n%s", s)
	}
	for _, bad := range [][]string{{"triage"}, {"triage", "explain"}, {"triage", "explain", "INC-x", "--config", cfgPath}} {
		if err := run(bad, &out, &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
