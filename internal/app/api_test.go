package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/app"
	"github.com/warroom/warroom/internal/clock"
)

// testServer runs the example configuration on a fresh database file behind a real
// HTTP server on a loopback port.
type testServer struct {
	*httptest.Server
	App *app.App
	C   *api.Client
}

func newServer(t *testing.T, mutate ...func(*config.Config)) *testServer {
	t.Helper()
	cfg, err := config.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "warroom.db")
	cfg.LogLevel = "error"
	cfg.GenerateMissingSecrets = false
	cfg.API.Tokens = append(cfg.API.Tokens, config.APIToken{Identity: "wallboard", Role: config.RoleViewer,
		Secret: config.Secret{TokenEnv: "VIEWER_TOKEN"}})
	for _, m := range mutate {
		m(cfg)
	}
	env := map[string]string{"WARROOM_INGEST_TOKEN": testIngest, "WARROOM_API_TOKEN": testAPI, "VIEWER_TOKEN": "viewer-token"}
	a, err := app.New(context.Background(), cfg, app.Options{Clock: clock.Real{}, Getenv: func(k string) string { return env[k] },
		Log: app.NewLogger("error")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.API.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testServer{Server: srv, App: a, C: &api.Client{Base: srv.URL, APIToken: testAPI, IngestToken: testIngest}}
}

func (s *testServer) post(t *testing.T, path, token, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func (s *testServer) get(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const amBody = `{"version":"4","groupKey":"{}:{alertname=\"BGPSessionDown\"}","truncatedAlerts":0,"status":"firing","receiver":"warroom","groupLabels":{"alertname":"BGPSessionDown"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager.example:9093","alerts":[{"status":"firing","labels":{"alertname":"BGPSessionDown","instance":"edge-r1","peer":"192.0.2.1","severity":"critical"},"annotations":{"summary":"BGP session edge-r1 -> 192.0.2.1 is down"},"startsAt":"2026-11-20T09:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example:9090/graph","fingerprint":"0123456789abcdef"}]}`

func TestIngestContract(t *testing.T) {
	s := newServer(t)
	const path = "/api/v1/ingest/alertmanager"

	code, m := s.post(t, path, testIngest, "application/json", []byte(amBody))
	if code != 202 || m["accepted"] != 1.0 || len(m["alert_ids"].([]any)) != 1 {
		t.Fatalf("valid webhook: %d %v", code, m)
	}
	id := int64(m["alert_ids"].([]any)[0].(float64))
	a, err := s.C.Alert(context.Background(), id)
	if err != nil {
		t.Fatalf("alert %d not readable after 202: %v", id, err)
	}
	if a.IncidentID == nil || a.Source != "alertmanager" || a.Format != "alertmanager" || a.Severity.String() != "critical" {
		t.Errorf("alert read back: %+v incident %v", a.Alert, a.IncidentID)
	}

	for _, tc := range []struct {
		name, path, token, ctype, body string
		code                           int
		errSub                         string
	}{
		{"no token", path, "", "application/json", amBody, 401, "unauthorized"},
		{"wrong token", path, "wrong", "application/json", amBody, 401, "unauthorized"},
		{"API token is not an ingest token", path, testAPI, "application/json", amBody, 401, "unauthorized"},
		{"unknown source", "/api/v1/ingest/no-such-source", testIngest, "application/json", amBody, 404, "unknown source"},
		{"malformed JSON", path, testIngest, "application/json", `{"version":"4","alerts":[{`, 400, ""},
		{"wrong content type", path, testIngest, "text/csv", amBody, 415, "application/json"},
		{"no content type", path, testIngest, "", amBody, 415, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := s.post(t, tc.path, tc.token, tc.ctype, []byte(tc.body))
			if code != tc.code {
				t.Fatalf("answered %d %v; want %d", code, m, tc.code)
			}
			if e, _ := m["error"].(string); !strings.Contains(e, tc.errSub) || e == "" {
				t.Errorf("error %q; want it to mention %q", e, tc.errSub)
			}
		})
	}

	big := bytes.Repeat([]byte("a"), 11<<20)
	if code, _ := s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", big); code != 413 {
		t.Errorf("11 MiB body: %d; want 413", code)
	}

	// One broken NDJSON line among good ones is rejected alone, by index.
	lines := eveLine(1) + "\n" + `{"event_type":"alert","src_ip":"not-an-ip",` + "\n" + eveLine(2) + "\n"
	code, m = s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", []byte(lines))
	if code != 202 || m["accepted"] != 2.0 || len(m["alert_ids"].([]any)) != 2 {
		t.Fatalf("partial NDJSON: %d %v", code, m)
	}
	rej := m["rejected"].([]any)
	if len(rej) != 1 || rej[0].(map[string]any)["index"] != 1.0 {
		t.Errorf("rejected %v; want only index 1", rej)
	}

	// The same alert again is a duplicate with the stored id; nothing new is stored.
	code, m2 := s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", []byte(eveLine(1)+"\n"))
	if code != 202 || m2["duplicates"] != 1.0 || m2["alert_ids"].([]any)[0] != m["alert_ids"].([]any)[0] {
		t.Errorf("duplicate: %d %v (first %v)", code, m2, m["alert_ids"])
	}

	// Nothing valid at all is a 400 that still lists each problem.
	code, m = s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", []byte(`{"event_type":"alert","src_ip":"x"}`+"\n"))
	if code != 400 || len(m["rejected"].([]any)) != 1 {
		t.Errorf("all invalid: %d %v", code, m)
	}
	// Non-alert events are skipped, not rejected.
	code, m = s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson",
		[]byte(`{"timestamp":"2026-11-20T09:00:00.000000+0000","event_type":"stats","stats":{"uptime":1}}`+"\n"))
	if code != 202 || m["skipped"] != 1.0 || m["accepted"] != 0.0 {
		t.Errorf("stats only: %d %v", code, m)
	}
}

func TestAPIAuthAndRoles(t *testing.T) {
	s := newServer(t)
	for _, p := range []string{"/api/v1/incidents", "/api/v1/incidents/1", "/api/v1/alerts", "/api/v1/alerts/1"} {
		if code, _ := s.get(t, p, ""); code != 401 {
			t.Errorf("GET %s without token: %d; want 401", p, code)
		}
		if code, _ := s.get(t, p, testIngest); code != 401 {
			t.Errorf("GET %s with an ingest token: %d; want 401", p, code)
		}
	}
	if code, _ := s.get(t, "/api/v1/incidents", "viewer-token"); code != 200 {
		t.Errorf("viewer listing incidents: %d", code)
	}
	s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(amBody))
	code, m := s.post(t, "/api/v1/incidents/1/status", "viewer-token", "application/json", []byte(`{"action":"acknowledge"}`))
	if code != 403 || !strings.Contains(m["error"].(string), "needs responder") {
		t.Errorf("viewer acknowledging: %d %v; want 403 naming the role", code, m)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := s.get(t, p, ""); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func TestStatusTransitions(t *testing.T) {
	s := newServer(t)
	code, m := s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(amBody))
	if code != 202 {
		t.Fatal(code, m)
	}
	ctx := context.Background()
	a, err := s.C.Alert(ctx, int64(m["alert_ids"].([]any)[0].(float64)))
	if err != nil || a.IncidentID == nil {
		t.Fatalf("alert: %v %v", a, err)
	}
	ref := fmt.Sprint(*a.IncidentID)
	inc, err := s.C.SetStatus(ctx, ref, api.StatusRequest{Action: "acknowledge", Actor: "alice", Note: "on it"})
	if err != nil || inc.Status != "acknowledged" || inc.AcknowledgedAt == nil {
		t.Fatalf("acknowledge: %+v %v", inc, err)
	}
	_, err = s.C.SetStatus(ctx, ref, api.StatusRequest{Action: "acknowledge"})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != 409 {
		t.Errorf("acknowledging twice: %v; want 409", err)
	}
	if _, err := s.C.SetStatus(ctx, ref, api.StatusRequest{Action: "resolve", Note: "peer back"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.SetStatus(ctx, ref, api.StatusRequest{Action: "acknowledge"}); !errors.As(err, &se) || se.Code != 409 {
		t.Errorf("acknowledging a resolved incident: %v; want 409", err)
	}
	if _, err := s.C.SetStatus(ctx, ref, api.StatusRequest{Action: "reopen"}); !errors.As(err, &se) || se.Code != 400 {
		t.Errorf("unknown action: %v; want 400", err)
	}
	if _, err := s.C.SetStatus(ctx, "INC-9999", api.StatusRequest{Action: "resolve"}); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("unknown incident: %v; want 404", err)
	}
	d, err := s.C.Incident(ctx, "INC-"+ref)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range d.Timeline {
		kinds = append(kinds, ev.Kind+"/"+ev.Actor)
	}
	joined := strings.Join(kinds, " ")
	if !strings.Contains(joined, "status/alice via admin") {
		t.Errorf("timeline %v lacks the acknowledgement by alice via admin", kinds)
	}
	// A resolved incident does not absorb the same alert source again: a new alert about
	// the same peer opens a new incident.
	body := strings.Replace(amBody, "0123456789abcdef", "fedcba9876543210", 1)
	_, m = s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(body))
	a2, _ := s.C.Alert(ctx, int64(m["alert_ids"].([]any)[0].(float64)))
	if a2.IncidentID == nil || *a2.IncidentID == *a.IncidentID {
		t.Errorf("alert after resolve joined incident %v; want a new one", a2.IncidentID)
	}
}

func TestListingsPaginateAndFilter(t *testing.T) {
	s := newServer(t)
	var b strings.Builder
	for i := 0; i < 450; i++ {
		b.WriteString(eveLine(i*7919) + "\n")
	}
	code, m := s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", []byte(b.String()))
	if code != 202 {
		t.Fatal(code, m)
	}
	ctx := context.Background()
	seen := map[int64]bool{}
	q := url.Values{"limit": {"100"}}
	pages := 0
	for range 100 {
		l, err := s.C.Alerts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range l.Items {
			if seen[a.ID] {
				t.Fatalf("alert %d on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		if l.Next == "" {
			break
		}
		q.Set("cursor", l.Next)
	}
	if len(seen) != 450 || pages != 5 {
		t.Errorf("paged %d alerts in %d pages; want 450 in 5", len(seen), pages)
	}
	if code, body := s.get(t, "/api/v1/alerts?cursor=garbage", testAPI); code != 400 {
		t.Errorf("bad cursor: %d %s", code, body)
	}
	if code, body := s.get(t, "/api/v1/incidents?status=bogus", testAPI); code != 400 || !strings.Contains(string(body), "want one of") {
		t.Errorf("bad status filter: %d %s", code, body)
	}
	if code, _ := s.get(t, "/api/v1/incidents?limit=0", testAPI); code != 400 {
		t.Errorf("limit 0: %d", code)
	}
	l, err := s.C.Incidents(ctx, url.Values{"status": {"open"}, "kind": {"normal"}, "limit": {"500"}})
	if err != nil || len(l.Items) == 0 {
		t.Fatalf("open incidents: %v %v", l, err)
	}
	total := 0
	for _, in := range l.Items {
		if in.Status != "open" || in.Kind != "normal" || !strings.HasPrefix(in.Number, "INC-") {
			t.Errorf("filtered listing returned %+v", in)
		}
		total += in.AlertCount
	}
	if total != 450 {
		t.Errorf("alert counts over open incidents sum to %d; want 450", total)
	}
	// Each alert lists under its incident.
	for _, in := range l.Items[:min(3, len(l.Items))] {
		as, err := s.C.Alerts(ctx, url.Values{"incident": {in.Number}, "limit": {"1000"}})
		if err != nil || len(as.Items) != in.AlertCount {
			t.Errorf("%s: %d alerts listed, alert_count %d (%v)", in.Number, len(as.Items), in.AlertCount, err)
		}
	}
}

func TestMetricsCountIngest(t *testing.T) {
	s := newServer(t)
	s.post(t, "/api/v1/ingest/alertmanager", testIngest, "application/json", []byte(amBody))
	s.post(t, "/api/v1/ingest/suricata", testIngest, "application/x-ndjson", []byte(`{"event_type":"alert"}`+"\n"))
	_, body := s.get(t, "/metrics", "")
	for _, want := range []string{
		`warroom_alerts_accepted_total{source="alertmanager"} 1`,
		`warroom_alerts_rejected_total{source="suricata"} 1`,
		`warroom_incidents{status="open"} 1`,
		`warroom_ingest_duration_seconds_count{source="alertmanager"} 1`,
		`warroom_store_commit_batch_ops_count`,
		`warroom_chat_outbox_ops{platform="local",state="dead"} 0`,
		`warroom_chat_outbox_ops{platform="local",state="pending"} `,
		`warroom_actions{state="failed"} 0`,
		"\ngo_gc_heap_live_bytes ",
		"\ngo_gc_gomemlimit_bytes ",
		"\ngo_memstats_heap_inuse_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
