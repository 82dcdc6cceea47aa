// Package app wires a configuration into a running warroom: the store, the triage
// pipeline and the HTTP server. The command line and the end-to-end tests both start
// warroom through it, so they run the same assembly.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// App is an assembled warroom.
type App struct {
	Config   *config.Config
	Store    *store.SQLite
	Pipeline *triage.Pipeline
	API      *api.Server
	Log      *slog.Logger
	// Generated lists secrets generated at this start, and GeneratedPath where they are.
	Generated     []string
	GeneratedPath string

	srv *http.Server
}

// Options adjust an App beyond its configuration.
type Options struct {
	Clock  clock.Clock         // default: the wall clock
	Getenv func(string) string // default: os.Getenv
	Log    *slog.Logger        // default: text to stderr at the configured level
}

// New opens the store, restores the pipeline and builds the HTTP server. Close undoes it.
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Log == nil {
		o.Log = NewLogger(cfg.LogLevel)
	}
	secrets := config.NewSecrets(cfg, o.Getenv)
	sources := make([]api.Source, 0, len(cfg.Sources))
	for i, s := range cfg.Sources {
		tok, err := secrets.Resolve(fmt.Sprintf("sources[%d]", i), s.Secret)
		if err != nil {
			return nil, err
		}
		dec, _ := ingest.Lookup(s.Format)
		sources = append(sources, api.Source{Name: s.Name, Format: s.Format, Decoder: dec, Token: tok})
	}
	ids := make([]api.Identity, 0, len(cfg.API.Tokens))
	for i, t := range cfg.API.Tokens {
		tok, err := secrets.Resolve(fmt.Sprintf("api.tokens[%d]", i), t.Secret)
		if err != nil {
			return nil, err
		}
		ids = append(ids, api.Identity{Name: t.Identity, Role: t.Role, Token: tok})
	}
	rules, err := ingest.NewRuleTable(cfg.Categories)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var metrics *api.Metrics
	st, err := store.OpenSQLite(ctx, cfg.Database, store.Options{
		Clock: o.Clock,
		OnBatch: func(ops int, d time.Duration) {
			if metrics != nil {
				metrics.CommitBatch.Observe(float64(ops))
				metrics.CommitDuration.Observe(d.Seconds())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	metrics = api.NewMetrics(reg, st.CountIncidentsByStatus)
	tc, err := TriageConfig(cfg.Correlation)
	if err != nil {
		st.Close()
		return nil, err
	}
	pipe, err := triage.NewPipeline(ctx, st, tc, o.Clock, o.Log)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("restore incidents: %w", err)
	}
	srv, err := api.New(api.Options{
		Sources: sources, Identities: ids, Rules: rules, MaxBodyBytes: cfg.Ingest.MaxBodyBytes,
		Pipeline: pipe, Store: st, Clock: o.Clock, Log: o.Log, Metrics: metrics,
		Ready: func(ctx context.Context) error {
			_, err := st.CountIncidentsByStatus(ctx)
			return err
		},
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	gen, path := secrets.Generated()
	return &App{Config: cfg, Store: st, Pipeline: pipe, API: srv, Log: o.Log, Generated: gen, GeneratedPath: path}, nil
}

// TriageConfig turns the correlation section into the pipeline's settings.
func TriageConfig(c config.Correlation) (triage.Config, error) {
	tc := triage.DefaultConfig()
	tc.Window = time.Duration(c.Window)
	tc.MaxPeers = c.MaxPeers
	tc.NotifyCount = c.NotifyCount
	sev, err := model.ParseSeverity(c.NotifySeverity)
	if err != nil {
		return tc, fmt.Errorf("correlation.notify_severity: %w", err)
	}
	tc.NotifySeverity = sev
	for _, v := range c.Ignore {
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return tc, fmt.Errorf("correlation.ignore: %q: %w", v, err)
			}
			tc.IgnoreCIDRs = append(tc.IgnoreCIDRs, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil {
			tc.IgnoreCIDRs = append(tc.IgnoreCIDRs, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		tc.IgnoreEntities = append(tc.IgnoreEntities, strings.ToLower(v))
	}
	return tc, nil
}

// Serve listens on addr and serves until ctx is done, then shuts down cleanly: it stops
// taking requests, lets those in flight finish (their alerts are committed) and closes
// the store. ready, if not nil, gets the bound address once listening.
func (a *App) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	a.srv = &http.Server{
		Handler:           a.API.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close stops the pipeline and the store, committing whatever is queued.
func (a *App) Close() error {
	return a.Store.Close()
}

// NewLogger returns a text logger on stderr at the named level.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
