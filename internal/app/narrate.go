package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/playbooks"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
	"github.com/warroom/warroom/triage/narrate"
)

func init() {
	narratorBuilder = buildNarrator
}

// buildNarrator builds the bot's narrator from the ai section; nil, nil when it is
// off (rooms get the template narrative).
func buildNarrator(env PlatformEnv) (bot.Narrator, error) {
	ai := env.Config.AI
	if !ai.Enabled {
		return nil, nil
	}
	a := env.App
	eng, set, err := newNarrateEngine(env.Config, env.Getenv, env.Clock, a.Store, a.Log, func(id int64) {
		// Kicked when a narrative is stored: the rooms are synced and show it.
		if a.Bot != nil {
			a.Bot.Kick(id)
		}
	})
	if err != nil {
		return nil, err
	}
	a.Log.Info("ai: narratives written by a model", "model", ai.Model, "base_url", ai.BaseURL, "redact", ai.RedactOn())
	return &Narrator{Engine: eng, set: set, alerts: a.Store, maxAlerts: ai.MaxAlerts}, nil
}

// newNarrateEngine builds the narrative engine and loads the playbooks that ground
// its suggested actions.
func newNarrateEngine(cfg *config.Config, getenv func(string) string, clk clock.Clock, st narrate.Store,
	log *slog.Logger, onUpdate func(int64)) (*narrate.Engine, *playbooks.Set, error) {
	ai := cfg.AI.WithDefaults()
	key, err := aiKey(ai, getenv)
	if err != nil {
		return nil, nil, err
	}
	client, err := narrate.NewClient(narrate.ClientOptions{BaseURL: ai.BaseURL, Azure: ai.APIType == config.AIAzure,
		APIVersion: ai.APIVersion, APIKey: key, Model: ai.Model, Timeout: time.Duration(ai.Timeout),
		MaxTokens: ai.MaxTokens, Temperature: *ai.Temperature, JSONObject: ai.ResponseFormat == config.FormatJSONObject})
	if err != nil {
		return nil, nil, err
	}
	set, err := playbooks.LoadWith(playbooks.Options{Dir: cfg.Playbooks.Dir, InternalNetworks: cfg.Playbooks.Networks(),
		MaxTTL: time.Duration(cfg.Playbooks.MaxTTL), MaxAutoTargets: cfg.Playbooks.MaxAutoTargets, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("playbooks: %w", err)
	}
	eng, err := narrate.NewEngine(narrate.Options{Completer: client, Store: st, Clock: clk, Log: log.With("component", "ai"),
		Redact: ai.RedactOn(), Internal: cfg.Playbooks.Networks(), InternalDomains: ai.InternalDomains, MinInterval: time.Duration(ai.MinInterval),
		Debounce: time.Duration(ai.Debounce), HourlyTokenBudget: ai.HourlyTokenBudget, MaxTokens: ai.MaxTokens,
		Timeout: time.Duration(ai.Timeout) + 5*time.Second, OnUpdate: onUpdate})
	if err != nil {
		return nil, nil, err
	}
	return eng, set, nil
}

// aiKey reads the API key from its file or environment variable; a loopback
// endpoint may have none. The key never appears in an error.
func aiKey(ai config.AI, getenv func(string) string) (string, error) {
	switch {
	case ai.APIKeyFile != "":
		b, err := os.ReadFile(ai.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("api_key_file: %w", err)
		}
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", fmt.Errorf("api_key_file: %s is empty", ai.APIKeyFile)
	case ai.APIKeyEnv != "":
		if k := strings.TrimSpace(getenv(ai.APIKeyEnv)); k != "" {
			return k, nil
		}
		return "", fmt.Errorf("api_key_env: environment variable %s is unset; export the API key in it", ai.APIKeyEnv)
	}
	return "", nil
}

// Narrator is the bot's narrator: it turns a room's view into the incident's facts
// and asks the engine for the narrative to show, which never waits for the model.
type Narrator struct {
	Engine    *narrate.Engine
	set       *playbooks.Set
	alerts    bot.AlertReader
	maxAlerts int
}

var _ bot.Narrator = (*Narrator)(nil)

// Narrate implements bot.Narrator: the model's latest valid narrative, else the
// template.
func (n *Narrator) Narrate(ctx context.Context, v *bot.View) (bot.Narrative, error) {
	tmpl := bot.TemplateNarrative(v)
	f, err := n.Facts(ctx, v)
	if err != nil {
		return tmpl, err
	}
	out := n.Engine.Current(ctx, f, tmpl.Text)
	// The rooms are synced again when the next narrative is due (a second after, so
	// the engine sees it due), rather than at the next periodic sync.
	var next time.Time
	if at, ok := n.Engine.Due(v.Incident.ID); ok {
		next = at.Add(time.Second)
	}
	if out.Source != narrate.SourceAI {
		tmpl.NextAt = next
		return tmpl, nil
	}
	text := out.Text
	if out.Stale {
		text += "\n(Written at " + out.At.UTC().Format("15:04 UTC") + "; the incident has changed since and an update is due.)"
	}
	return bot.Narrative{Text: bot.CleanText(text), Source: bot.NarrativeAI, Model: out.Model, NextAt: next}, nil
}

// Facts gathers the incident's facts from the room's view, its latest alerts and
// its playbook's predefined actions.
func (n *Narrator) Facts(ctx context.Context, v *bot.View) (*narrate.Facts, error) {
	alerts, _, err := n.alerts.Alerts(ctx, store.AlertFilter{IncidentID: v.Incident.ID, Limit: n.maxAlerts})
	if err != nil {
		return nil, fmt.Errorf("read the alerts of %s: %w", v.Incident.Number, err)
	}
	return viewFacts(v, alerts, n.set, n.maxAlerts), nil
}

// viewFacts builds the facts of a room's view.
func viewFacts(v *bot.View, alerts []*model.Alert, set *playbooks.Set, maxAlerts int) *narrate.Facts {
	in := narrate.Input{Incident: v.Incident, Commander: v.Commander, Stats: v.Stats, Alerts: alerts,
		MaxAlerts: maxAlerts, Actions: v.Actions}
	if v.Playbook != nil && set != nil {
		if pb, ok := set.Get(v.Playbook.ID); ok {
			p := &narrate.Playbook{ID: pb.ID, Title: pb.Title}
			for _, a := range pb.Actions {
				p.Actions = append(p.Actions, narrate.PlaybookActionDef{ID: a.ID, Kind: a.Kind, Auto: a.Auto, Approvers: a.Approval.Approvers})
			}
			in.Playbook = p
		}
	}
	for _, p := range v.Proposals {
		in.Proposals = append(in.Proposals, narrate.Proposal{ActionID: p.PlaybookAction, Kind: p.Kind, Target: p.Target})
	}
	for _, a := range v.Actions {
		if a.PlaybookAction != "" && a.State != model.ActionRejected {
			in.Proposals = append(in.Proposals, narrate.Proposal{ActionID: a.PlaybookAction, Kind: a.Kind, Target: a.Target})
		}
	}
	return narrate.Build(in)
}

// Explanation is what `warroom triage explain` prints.
type Explanation struct {
	Incident *model.Incident
	// Stored is the narrative the rooms show, nil when only the template was ever
	// shown.
	Stored   *store.Narrative
	Template string
	// Prompt is the exact prompt that would be sent now (after redaction), and
	// Redacted whether it is redacted.
	Prompt   narrate.Prompt
	Redacted bool
}

// Explain gathers an incident's current narrative, its template narrative and the
// prompt a model would get, from the database alone (no server needed).
func Explain(ctx context.Context, cfg *config.Config, st *store.SQLite, id int64) (*Explanation, error) {
	inc, err := st.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	set, err := playbooks.LoadWith(playbooks.Options{Dir: cfg.Playbooks.Dir, InternalNetworks: cfg.Playbooks.Networks(),
		MaxTTL: time.Duration(cfg.Playbooks.MaxTTL), MaxAutoTargets: cfg.Playbooks.MaxAutoTargets,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("playbooks: %w", err)
	}
	v := &bot.View{Incident: inc}
	if v.Commander, err = st.IncidentCommander(ctx, id); err != nil {
		return nil, err
	}
	if v.Stats, err = st.ChatAlertStats(ctx, id, 0); err != nil {
		return nil, err
	}
	if v.Actions, err = st.Actions(ctx, id); err != nil {
		return nil, err
	}
	// As in the server, where the response engine proposes the playbooks' actions:
	// the proposals are the actions that exist.
	pbs := bot.NewPlaybookSet(set, st)
	info, props, err := pbs.Playbook(ctx, inc, v.Actions)
	if err != nil {
		return nil, err
	}
	v.Playbook = info
	if inc.Status.Live() {
		for _, p := range props {
			if !proposalTaken(v.Actions, p) {
				v.Proposals = append(v.Proposals, p)
			}
		}
	}
	ai := cfg.AI.WithDefaults()
	alerts, _, err := st.Alerts(ctx, store.AlertFilter{IncidentID: id, Limit: ai.MaxAlerts})
	if err != nil {
		return nil, err
	}
	f := viewFacts(v, alerts, set, ai.MaxAlerts)
	ex := &Explanation{Incident: inc, Template: bot.TemplateNarrative(v).Text, Redacted: ai.RedactOn()}
	var red *narrate.Redactor
	if ex.Redacted {
		red = narrate.NewRedactor(f, cfg.Playbooks.Networks(), ai.InternalDomains)
	}
	if ex.Prompt, err = narrate.BuildPrompt(f, red); err != nil {
		return nil, err
	}
	ex.Stored, err = st.Narrative(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		ex.Stored, err = nil, nil
	}
	return ex, err
}

// proposalTaken reports whether an action already stands for the proposal.
func proposalTaken(as []*model.Action, p bot.Proposal) bool {
	for _, a := range as {
		if a.Kind == p.Kind && a.Target == p.Target && a.State != model.ActionRejected {
			return true
		}
	}
	return false
}
