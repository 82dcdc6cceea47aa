package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriteIngestResponseMatchesEncodingJSON: the hand-written 202 body is byte for
// byte what encoding/json makes of the same IngestResponse, rejected elements or not.
func TestWriteIngestResponseMatchesEncodingJSON(t *testing.T) {
	many := make([]int64, 100)
	for i := range many {
		many[i] = int64(9_007_199_254_740_000 + i*7)
	}
	for _, resp := range []IngestResponse{
		{Accepted: 1, AlertIDs: []int64{1}, Rejected: []Rejected{}},
		{Accepted: 100, AlertIDs: many, Rejected: []Rejected{}, Duplicates: 3},
		{AlertIDs: []int64{}, Rejected: []Rejected{}, Skipped: 12},
		{Accepted: 2, AlertIDs: []int64{5, 6}, Rejected: []Rejected{{Index: 1, Error: `bad "severity" <x> & \ é`}}, Skipped: 1},
	} {
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeIngestResponse(rec, &resp)
		if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("status %d, Content-Type %q; want 202 application/json", rec.Code, rec.Header().Get("Content-Type"))
		}
		if got := rec.Body.String(); got != string(want)+"\n" {
			t.Errorf("body\n got %s\nwant %s", got, want)
		}
	}
}

// TestSourceAcceptsContentTypes: the exact media type, the same with parameters or in
// other case, and nothing else.
func TestSourceAcceptsContentTypes(t *testing.T) {
	s := &source{types: map[string]bool{"application/json": true, "application/x-ndjson": true}}
	for ct, want := range map[string]bool{
		"application/json":                true,
		"application/x-ndjson":            true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"text/plain":                      false,
		"application/json;;":              false,
		"":                                false,
	} {
		if got := s.accepts(ct); got != want {
			t.Errorf("accepts(%q) = %v, want %v", ct, got, want)
		}
	}
}
