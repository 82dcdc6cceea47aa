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
	"os"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/warroom/warroom/actions"
	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/bot/local"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/edl"
	_ "github.com/warroom/warroom/connectors/nftables" // registers the nftables connector
	_ "github.com/warroom/warroom/connectors/webhook"  // registers the webhook connector
	"github.com/warroom/warroom/drill"
	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/sinks"
	_ "github.com/warroom/warroom/sinks/elastic"
	_ "github.com/warroom/warroom/sinks/splunk"
	_ "github.com/warroom/warroom/sinks/syslog"
	_ "github.com/warroom/warroom/sinks/webhook"
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
	Actions  *actions.Engine
	Log      *slog.Logger
	// Generated lists secrets generated at this start, and GeneratedPath where they are.
	Generated     []string
	GeneratedPath string

	// Bot runs the incident rooms; Chat is the built-in web chat (nil when disabled).
	Bot  *bot.Bot
	Chat *local.Chat

	// Sinks delivers audit entries to the SIEM (nil when no sink is configured).
	Sinks *sinks.Dispatcher

	// Drills runs gap drills (nil when drills are not enabled).
	Drills *Drills

	srv       *http.Server
	connClose func() error
	chat      chatParts
}

// Options adjust an App beyond its configuration.
type Options struct {
	Clock  clock.Clock         // default: the wall clock
	Getenv func(string) string // default: os.Getenv
	Log    *slog.Logger        // default: text to stderr at the configured level
	// DrillTimer is what drills wait on between alerts (default: the wall clock).
	DrillTimer drill.Timer
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
	reg.MustRegister(
		// go_gc_heap_live_bytes, the heap the last collection found live, against
		// go_gc_gomemlimit_bytes tells when memory_limit_mb is too small for the
		// open incidents (docs/operations.md).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var metrics *api.Metrics
	outs, err := cfg.Sinks.Build(sinks.Env{Clock: o.Clock, Logger: o.Log, LookupEnv: func(k string) (string, bool) {
		v := o.Getenv(k)
		return v, v != ""
	}})
	if err != nil {
		return nil, fmt.Errorf("sinks: %w", err)
	}
	var (
		feed       func(*model.AuditEntry) ([]string, []byte)
		fed        atomic.Bool // the batch being committed queued SIEM events
		dispatcher *sinks.Dispatcher
		notify     atomic.Pointer[sinks.Dispatcher] // read by the store's writer goroutine
	)
	if len(outs) > 0 {
		names := make([]string, len(outs))
		for i, s := range outs {
			names[i] = s.Name()
		}
		toEvent := auditFeed(names)
		feed = func(e *model.AuditEntry) ([]string, []byte) {
			fed.Store(true)
			return toEvent(e)
		}
	}
	st, err := store.OpenSQLite(ctx, cfg.Database, store.Options{
		Clock: o.Clock,
		Feed:  feed,
		OnBatch: func(ops int, d time.Duration) {
			if d := notify.Load(); fed.Swap(false) && d != nil {
				d.Notify() // the events are committed: deliver them now
			}
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
	if err := metrics.Register(newActionStates(st)); err != nil {
		st.Close()
		return nil, err
	}
	if len(outs) > 0 {
		names := make([]string, len(outs))
		for i, s := range outs {
			names[i] = s.Name()
		}
		if err := metrics.Register(newSinkBacklog(st, names)); err != nil {
			st.Close()
			return nil, err
		}
		if dispatcher, err = sinks.NewDispatcher(sinks.Options{Queue: sinks.NewStoreQueue(st), Sinks: outs,
			Delivery: cfg.Sinks.Delivery, Clock: o.Clock, Logger: o.Log}); err != nil {
			st.Close()
			return nil, fmt.Errorf("sinks: %w", err)
		}
		notify.Store(dispatcher)
	}
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
	eng, lists, connClose, err := NewActions(ctx, cfg, st, pipe, o.Clock, o.Log)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv, err := api.New(api.Options{
		Sources: sources, Identities: ids, Rules: rules, MaxBodyBytes: cfg.Ingest.MaxBodyBytes,
		Pipeline: pipe, Store: st, Clock: o.Clock, Log: o.Log, Metrics: metrics, Actions: eng,
		Ready: func(ctx context.Context) error {
			_, err := st.CountIncidentsByStatus(ctx)
			return err
		},
	})
	if err != nil {
		connClose()
		st.Close()
		return nil, err
	}
	if len(lists) > 0 {
		srv.Handle("GET /edl/", edl.Mux(lists...))
	}
	a := &App{Config: cfg, Store: st, Pipeline: pipe, API: srv, Actions: eng, Log: o.Log, connClose: connClose, Sinks: dispatcher}
	if err := a.newChat(cfg, secrets, o.Getenv, o.Clock, eng); err != nil {
		connClose()
		st.Close()
		return nil, err
	}
	if a.Bot != nil {
		if err := metrics.Register(newChatBacklog(st, a.Bot.PlatformNames())); err != nil {
			connClose()
			st.Close()
			return nil, err
		}
	}
	if err := a.newDrills(cfg, o.Clock, o.DrillTimer); err != nil {
		connClose()
		st.Close()
		return nil, err
	}
	a.Generated, a.GeneratedPath = secrets.Generated()
	return a, nil
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
	if tc.IgnoreCIDRs, tc.IgnoreEntities, err = triage.ParseIgnore(c.Ignore); err != nil {
		return tc, fmt.Errorf("correlation.%w", err)
	}
	return tc, nil
}

// Serve listens on addr and serves until ctx is done, then shuts down cleanly: it stops
// taking requests, lets those in flight finish (their alerts are committed) and closes
// the store. ready, if not nil, gets the bound address once listening.
func (a *App) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	if a.Chat != nil {
		if err := a.Config.Platforms.Local.CheckListen(addr); err != nil {
			return err
		}
	}
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
	stopActions := a.StartActions(ctx)
	defer stopActions()
	defer a.StartSinks(ctx)()
	if a.Chat != nil {
		a.srv.RegisterOnShutdown(a.Chat.CloseStreams)
		a.Log.Info("web chat", "url", "http://"+ln.Addr().String()+"/chat/")
	}
	defer a.StartChat(ctx)()
	defer a.StartDrills(ctx)()
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
	a.stopChat()
	var cerr error
	if a.connClose != nil {
		cerr = a.connClose()
	}
	var serr error
	if a.Sinks != nil {
		serr = a.Sinks.Close()
	}
	return errors.Join(a.Store.Close(), cerr, serr)
}

// StartSinks delivers queued SIEM events until ctx ends or stop is called; what is
// not delivered by then stays queued for the next start.
func (a *App) StartSinks(ctx context.Context) (stop func()) {
	if a.Sinks == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Sinks.Run(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("sink delivery stopped", "error", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// StartActions runs the actions engine (planning and the TTL scheduler) until ctx
// ends or stop is called; stop waits for it to finish. Serve calls it; tests that
// serve through httptest call it themselves.
func (a *App) StartActions(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Actions.Run(ctx); err != nil {
			a.Log.Error("actions engine stopped", "error", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Connectors builds the configured connectors. state, when not nil, persists
// connector state (the EDL entries); close releases what they hold.
func Connectors(cfg *config.Config, clk clock.Clock, log *slog.Logger, state any) (map[string]connectors.Connector, func() error, error) {
	out := make(map[string]connectors.Connector, len(cfg.Connectors))
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	for i, c := range cfg.Connectors {
		conn, err := connectors.New(c.Type, c.Settings, connectors.Env{Name: c.Name, Clock: clk, Logger: log, DryRun: c.DryRun, State: state})
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("connectors[%d]: %w", i, err)
		}
		if cl, ok := conn.(interface{ Close() error }); ok {
			closers = append(closers, cl.Close)
		}
		out[c.Name] = conn
	}
	return out, closeAll, nil
}

// NewActions builds the connectors, the guardrails, the playbooks and the actions
// engine, with the EDL entries kept in the store. It returns the EDLs to serve.
func NewActions(ctx context.Context, cfg *config.Config, st *store.SQLite, pipe *triage.Pipeline, clk clock.Clock, log *slog.Logger) (*actions.Engine, []*edl.EDL, func() error, error) {
	conns, closeConns, err := Connectors(cfg, clk, log, actions.EDLState(st))
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*actions.Engine, []*edl.EDL, func() error, error) {
		closeConns()
		return nil, nil, nil, err
	}
	var lists []*edl.EDL
	retry := map[string]connectors.Policy{}
	breakers := map[string]connectors.BreakerConfig{}
	for _, c := range cfg.Connectors {
		if l, ok := conns[c.Name].(*edl.EDL); ok {
			lists = append(lists, l)
		}
		retry[c.Name], breakers[c.Name] = c.Retry, c.Breaker
	}
	guard, err := connectors.NewGuard(cfg.Guardrails, clk)
	if err != nil {
		return fail(err)
	}
	set, err := playbooks.LoadWith(playbooks.Options{Dir: cfg.Playbooks.Dir, InternalNetworks: cfg.Playbooks.Networks(),
		MaxTTL: time.Duration(cfg.Playbooks.MaxTTL), MaxAutoTargets: cfg.Playbooks.MaxAutoTargets, Logger: log})
	if err != nil {
		return fail(fmt.Errorf("playbooks: %w", err))
	}
	var events actions.IncidentEvents
	var incidents actions.IncidentStatus
	if pipe != nil {
		events, incidents = pipe, pipe
	}
	eng, err := actions.New(ctx, actions.Options{Store: st, Connectors: conns, Retry: retry, Breakers: breakers,
		Guard: guard, Playbooks: set, Events: events, Incidents: incidents, Clock: clk, Log: log,
		DrillSandbox: cfg.Drills.Sandbox})
	if err != nil {
		return fail(err)
	}
	return eng, lists, closeConns, nil
}

// NewLogger returns a text logger on stderr at the named level.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
