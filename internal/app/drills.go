package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/warroom/warroom/api"
	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/commands"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/drill"
	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
)

// Drills are the running gap drills: the scenario library, the runner and the
// scheduler.
type Drills struct {
	Library   *drill.Library
	Runner    *drill.Runner
	Scheduler *drill.Scheduler
	clk       clock.Clock
}

// DrillSchedules turns the drills section into the scheduler's schedules.
func DrillSchedules(c config.Drills) []drill.Schedule {
	out := make([]drill.Schedule, 0, len(c.Schedules))
	for _, s := range c.Schedules {
		out = append(out, drill.Schedule{Name: s.Name, Scenario: s.Scenario, Spec: s.Cron, Location: s.Location(),
			Jitter: time.Duration(s.Jitter), Timeout: time.Duration(s.Timeout)})
	}
	return out
}

// newDrills builds the drills when the section is enabled, and serves their API
// (POST /api/v1/drills/runs, GET /api/v1/drills/runs/{id}) and the web chat's drill
// page.
func (a *App) newDrills(cfg *config.Config, clk clock.Clock, timer drill.Timer) error {
	if !cfg.Drills.Enabled {
		return nil
	}
	lib, err := drill.LoadLibrary(cfg.Drills.Dir)
	if err != nil {
		return fmt.Errorf("drills: %w", err)
	}
	rules, err := ingest.NewRuleTable(cfg.Categories)
	if err != nil {
		return fmt.Errorf("categories: %w", err)
	}
	report := cfg.Drills.Report()
	runner, err := drill.NewRunner(drill.RunnerOptions{Store: a.Store, Pipeline: a.Pipeline, Scenarios: lib, Rules: rules,
		Clock: clk, Timer: timer, Log: a.Log.With("component", "drills"), Timeout: time.Duration(cfg.Drills.Timeout),
		Poll: time.Minute,
		OnFinish: func(ctx context.Context, run *store.DrillRun, m *drill.Measures) {
			if !report || a.Bot == nil || run.IncidentID == 0 {
				return
			}
			var chart *bot.Image
			if a.Chat != nil {
				chart = &bot.Image{Path: "/chat/drills/ttr.png", Alt: "Time to resolve per drill run, per scenario, last 90 days"}
			}
			if err := a.Bot.PostReplyImage(ctx, run.IncidentID, drill.RunSummary(run, m), chart); err != nil {
				a.Log.Warn("drills: cannot post the run's measures", "run", run.ID, "error", err)
			}
		}})
	if err != nil {
		return fmt.Errorf("drills: %w", err)
	}
	sched, err := drill.NewScheduler(drill.SchedulerOptions{Runner: runner, Store: a.Store, Schedules: DrillSchedules(cfg.Drills),
		Clock: clk, Timer: timer, Log: a.Log.With("component", "drills")})
	if err != nil {
		return fmt.Errorf("drills: %w", err)
	}
	a.Drills = &Drills{Library: lib, Runner: runner, Scheduler: sched, clk: clk}
	a.API.HandleAuth("POST /api/v1/drills/runs", config.RoleResponder, apiAuth(a.startDrill))
	a.API.HandleAuth("GET /api/v1/drills/runs/{id}", config.RoleViewer, apiAuth(a.getDrill))
	if a.Chat != nil {
		a.Chat.SetDrills(drillPages{a})
	}
	return nil
}

// StartDrills picks up the runs a stop interrupted, records the fires missed while
// warroom was down, and runs the schedules until ctx ends or stop is called.
func (a *App) StartDrills(ctx context.Context) (stop func()) {
	if a.Drills == nil {
		return func() {}
	}
	if err := a.Drills.Runner.Resume(ctx); err != nil {
		a.Log.Error("drills: cannot resume interrupted runs", "error", err)
	}
	if err := a.Drills.Scheduler.Start(ctx); err != nil {
		a.Log.Error("drills: scheduler not started", "error", err)
	}
	return func() {
		a.Drills.Scheduler.Stop()
		a.Drills.Runner.Stop()
	}
}

// drillCommands is the commands handler's view of the drills (nil without them).
func (a *App) drillCommands() commands.Drills {
	return drillStarter{a}
}

type drillStarter struct{ a *App }

func (d drillStarter) StartDrill(ctx context.Context, scenario, by string) (string, error) {
	if d.a.Drills == nil {
		return "", errors.New("drills are not enabled; set drills.enabled: true in the configuration")
	}
	run, err := d.a.Drills.Runner.Start(ctx, scenario, drill.Trigger{Kind: "command", By: by})
	if err != nil {
		return "", err
	}
	return run.ID, nil
}

func (d drillStarter) DrillScenarios() []string {
	if d.a.Drills == nil {
		return nil
	}
	return d.a.Drills.Library.Names()
}

// drillPages serves the web chat's drill page: the report of the last 90 days and
// its chart.
type drillPages struct{ a *App }

func (p drillPages) DrillReport(ctx context.Context, format string) ([]byte, error) {
	now := p.a.Drills.clk.Now().UTC()
	rep, err := drill.Load(ctx, p.a.Store, now.Add(-90*24*time.Hour), now, "")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := rep.Write(&b, format); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type drillRunRequest struct {
	Scenario string `json:"scenario"`
}

func writeDrillJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (a *App) startDrill(w http.ResponseWriter, r *http.Request, who string) {
	var req drillRunRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Scenario == "" {
		writeDrillJSON(w, http.StatusBadRequest, map[string]string{"error": `send {"scenario": "NAME"}; see warroom drill list`})
		return
	}
	run, err := a.Drills.Runner.Start(r.Context(), req.Scenario, drill.Trigger{Kind: "api", By: who})
	if err != nil {
		code := http.StatusInternalServerError
		if strings.HasPrefix(err.Error(), "no drill scenario") {
			code = http.StatusNotFound
		}
		writeDrillJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	writeDrillJSON(w, http.StatusAccepted, run)
}

func (a *App) getDrill(w http.ResponseWriter, r *http.Request, _ string) {
	run, err := a.Store.DrillRun(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeDrillJSON(w, http.StatusNotFound, map[string]string{"error": "no such drill run"})
		return
	}
	if err != nil {
		writeDrillJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeDrillJSON(w, http.StatusOK, run)
}

// apiAuth adapts a drill handler, which takes the caller's identity, to the API's
// token check.
func apiAuth(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := api.IdentityFrom(r.Context())
		h(w, r, id.Name)
	}
}
