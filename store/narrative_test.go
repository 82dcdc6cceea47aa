package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// TestNarrativeRoundTrip stores a narrative, replaces it, and reads it back after a
// reopen of the database file.
func TestNarrativeRoundTrip(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "n.db")
	s := openTest(t, path, Options{Clock: clk})
	ctx := context.Background()
	if _, err := s.Narrative(ctx, 7); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no narrative yet: got %v, want ErrNotFound", err)
	}
	first := &Narrative{IncidentID: 7, Source: "template", Text: "first"}
	if err := s.PutNarrative(ctx, first); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	want := Narrative{IncidentID: 7, Source: "ai", Model: "gpt-4o-mini", Text: "Brute force from 203.0.113.45.",
		Result: `{"summary":"x"}`, Fingerprint: "abc", Latency: 1234 * time.Millisecond, PromptTokens: 900,
		CompletionTokens: 210, Dropped: 2, Note: "2 items dropped"}
	if err := s.PutNarrative(ctx, &want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{Clock: clk})
	got, err := s.Narrative(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	want.CreatedAt = t0.Add(time.Minute).UTC()
	if *got != want {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}
	if err := s.PutNarrative(ctx, &Narrative{IncidentID: 0, Source: "ai"}); err == nil {
		t.Error("a narrative without an incident was accepted")
	}
}
