package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// TestMetricsSurviveAFailingCollector: when a scrape-time read fails, /metrics still
// answers 200 with every other metric, and the failure is logged. What a read got
// before it failed is served.
func TestMetricsSurviveAFailingCollector(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "w.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	clk := clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	p, err := triage.NewPipeline(context.Background(), st, triage.DefaultConfig(), clk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context) (map[model.Status]int, error) {
		return nil, errors.New("read incidents: context deadline exceeded")
	}
	m := NewMetrics(prometheus.NewRegistry(), failing)
	m.Accepted.WithLabelValues("generic").Add(3)
	partial := NewStoreGauge("warroom_test_queue", "A queue read at scrape time.", []string{"sink"},
		func(context.Context) ([]Sample, error) {
			return []Sample{{Labels: []string{"splunk"}, Value: 7}}, errors.New("count the elastic queue: database is locked")
		})
	if err := m.Register(partial); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Pipeline: p, Store: st, Clock: clk, Log: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `warroom_alerts_accepted_total{source="generic"} 3`) ||
		strings.Contains(body, "warroom_incidents{") || !strings.Contains(body, `warroom_test_queue{sink="splunk"} 7`) {
		t.Fatalf("/metrics: %d\n%s", rec.Code, body)
	}
	for _, want := range []string{"context deadline exceeded", "database is locked"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("the failure %q was not logged: %q", want, logged.String())
		}
	}
}
