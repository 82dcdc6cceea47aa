// Package api is warroom's HTTP surface: the ingest receivers (POST
// /api/v1/ingest/{source}), the token-protected JSON API over incidents and alerts,
// Prometheus metrics and the health endpoints. Handlers decode and authorize; the work
// is done by the triage pipeline and the store.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Pipeline is what the API needs from triage: accept alerts and move incidents.
type Pipeline interface {
	Ingest(ctx context.Context, alerts []*model.Alert) (triage.IngestResult, error)
	SetStatus(ctx context.Context, incidentID int64, to model.Status, actor, note string) (*model.Incident, error)
}

// Reader is what the API reads from the store.
type Reader interface {
	Alert(ctx context.Context, id int64) (*model.Alert, error)
	Alerts(ctx context.Context, f store.AlertFilter) ([]*model.Alert, string, error)
	Incident(ctx context.Context, id int64) (*model.Incident, error)
	Incidents(ctx context.Context, f store.IncidentFilter) ([]*model.Incident, string, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
	CountIncidentsByStatus(ctx context.Context) (map[model.Status]int, error)
}

// Source is one configured ingest source with its resolved token.
type Source struct {
	Name    string
	Format  string
	Decoder ingest.Decoder
	Token   string
}

// Identity is one API token's owner.
type Identity struct {
	Name  string
	Role  config.Role
	Token string
}

// Options configure a Server.
type Options struct {
	Sources      []Source
	Identities   []Identity
	Rules        *ingest.RuleTable
	MaxBodyBytes int64
	Pipeline     Pipeline
	Store        Reader
	Clock        clock.Clock
	Log          *slog.Logger
	Metrics      *Metrics
	// Ready reports whether the server can take traffic (for /readyz).
	Ready func(ctx context.Context) error
	// Actions serves the actions API (see actions.go); nil answers 503 there.
	Actions Actions
}

// Server serves the HTTP API.
type Server struct {
	opts    Options
	sources map[string]*source
	ids     []identity
	mux     *http.ServeMux
}

type source struct {
	Source
	types map[string]bool
	hash  [32]byte
}

type identity struct {
	Identity
	hash [32]byte
}

// New builds a server from options.
func New(opts Options) (*Server, error) {
	if opts.Pipeline == nil || opts.Store == nil || opts.Clock == nil || opts.Log == nil || opts.Metrics == nil {
		return nil, errors.New("api: Pipeline, Store, Clock, Log and Metrics are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 10 << 20
	}
	s := &Server{opts: opts, sources: map[string]*source{}, mux: http.NewServeMux()}
	for _, src := range opts.Sources {
		if src.Token == "" {
			return nil, fmt.Errorf("api: source %q has no token", src.Name)
		}
		ss := &source{Source: src, types: map[string]bool{}, hash: sha256.Sum256([]byte(src.Token))}
		for _, t := range src.Decoder.ContentTypes() {
			ss.types[t] = true
		}
		s.sources[src.Name] = ss
	}
	for _, id := range opts.Identities {
		if id.Token == "" {
			return nil, fmt.Errorf("api: identity %q has no token", id.Name)
		}
		s.ids = append(s.ids, identity{Identity: id, hash: sha256.Sum256([]byte(id.Token))})
	}
	s.routes()
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle mounts another handler on the server's mux (the web chat, the EDL...).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleAuth mounts h at pattern behind the API's bearer tokens: it runs only for an
// identity whose role includes need, which IdentityFrom returns inside h. Other parts
// of warroom (drills) add their endpoints to /api/v1 this way, with the same tokens,
// roles and answers as the rest of the API.
func (s *Server) HandleAuth(pattern string, need config.Role, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.auth(need, h))
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /api/v1/ingest/{source}", s.handleIngest)
	s.mux.Handle("GET /api/v1/incidents", s.auth(config.RoleViewer, s.listIncidents))
	s.mux.Handle("GET /api/v1/incidents/{id}", s.auth(config.RoleViewer, s.getIncident))
	s.mux.Handle("POST /api/v1/incidents/{id}/status", s.auth(config.RoleResponder, s.setStatus))
	s.mux.Handle("GET /api/v1/alerts", s.auth(config.RoleViewer, s.listAlerts))
	s.mux.Handle("GET /api/v1/alerts/{id}", s.auth(config.RoleViewer, s.getAlert))
	s.actionRoutes()
	// A collector that fails (a store read at scrape time timing out) is logged and left
	// out; the rest of the metrics are still served.
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Metrics.gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: scrapeLog{s.opts.Log}}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Ready != nil {
			if err := s.opts.Ready(r.Context()); err != nil {
				writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

type ctxKey struct{}

// IdentityFrom returns the authenticated API identity of a request.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// auth wraps h so it runs only for a bearer token whose role includes need.
func (s *Server) auth(need config.Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w)
			return
		}
		sum := sha256.Sum256([]byte(tok))
		var found *identity
		for i := range s.ids {
			// Compare against every identity so timing does not tell which one matched.
			if subtle.ConstantTimeCompare(sum[:], s.ids[i].hash[:]) == 1 {
				found = &s.ids[i]
			}
		}
		if found == nil {
			unauthorized(w)
			return
		}
		if !found.Role.Allows(need) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("identity %q has role %s; this needs %s", found.Name, found.Role, need))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, found.Identity)))
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="warroom"`)
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// Metrics are the server's Prometheus collectors.
type Metrics struct {
	gatherer       prometheus.Gatherer
	registerer     prometheus.Registerer
	Accepted       *prometheus.CounterVec
	Rejected       *prometheus.CounterVec
	Duplicates     *prometheus.CounterVec
	IngestLatency  *prometheus.HistogramVec
	CommitBatch    prometheus.Histogram
	CommitDuration prometheus.Histogram
}

// NewMetrics registers warroom's collectors on reg. countByStatus is asked at each
// scrape for the number of incidents in each status.
func NewMetrics(reg *prometheus.Registry, countByStatus func(context.Context) (map[model.Status]int, error)) *Metrics {
	m := &Metrics{
		gatherer:   reg,
		registerer: reg,
		Accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warroom_alerts_accepted_total", Help: "Alerts accepted and committed, by source.",
		}, []string{"source"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warroom_alerts_rejected_total", Help: "Alerts rejected as invalid, by source.",
		}, []string{"source"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warroom_alerts_duplicate_total", Help: "Alerts recognised as repeats of one already stored, by source.",
		}, []string{"source"}),
		IngestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "warroom_ingest_duration_seconds", Help: "Time from request start to the 202 (alerts durable), by source.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .015, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "warroom_store_commit_batch_ops", Help: "Operations committed together in one store transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "warroom_store_commit_duration_seconds", Help: "Time to run and commit one store transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
	}
	reg.MustRegister(m.Accepted, m.Rejected, m.Duplicates, m.IngestLatency, m.CommitBatch, m.CommitDuration,
		NewStoreGauge("warroom_incidents", "Incidents by status.", []string{"status"},
			func(ctx context.Context) ([]Sample, error) {
				counts, err := countByStatus(ctx)
				if err != nil {
					return nil, err
				}
				var out []Sample
				for _, st := range []model.Status{model.StatusOpen, model.StatusAcknowledged, model.StatusContained,
					model.StatusResolved, model.StatusMerged, model.StatusFalsePositive} {
					out = append(out, Sample{Labels: []string{string(st)}, Value: float64(counts[st])})
				}
				return out, nil
			}))
	return m
}

// Register adds collectors of other parts of warroom (the chat outbox, the SIEM sinks)
// to the registry /metrics serves.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.registerer.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// scrapeLog passes promhttp's errors to the server's log.
type scrapeLog struct{ l *slog.Logger }

func (s scrapeLog) Println(v ...any) { s.l.Warn("metrics: " + fmt.Sprint(v...)) }
