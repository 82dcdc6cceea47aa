package commands_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/commands"
	"github.com/warroom/warroom/config"
	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage"
)

type drillsRecorder struct {
	started [][2]string
	fail    error
}

func (d *drillsRecorder) StartDrill(ctx context.Context, scenario, by string) (string, error) {
	if d.fail != nil {
		return "", d.fail
	}
	d.started = append(d.started, [2]string{scenario, by})
	return "drill-20261124t090000-abcd", nil
}

func (d *drillsRecorder) DrillScenarios() []string {
	return []string{"port-scan", "ssh-rdp-bruteforce"}
}

func TestDrillStartCommand(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "warroom.db"), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	pipe, err := triage.NewPipeline(ctx, st, triage.DefaultConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := bot.NewRoles([]bot.RoleBinding{{Platform: "slack", User: "alice", Role: config.RoleResponder},
		{Platform: "slack", User: "vera", Role: config.RoleViewer}}, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := &drillsRecorder{}
	h, err := commands.New(commands.Options{Pipeline: pipe, Store: st, Roles: roles, Clock: clk, Log: log, Drills: rec})
	if err != nil {
		t.Fatal(err)
	}
	say := func(h *commands.Handler, user, text string) bot.Reply {
		return h.Handle(ctx, bot.Interaction{Platform: "slack", Kind: bot.Command, Text: text, User: bot.User{ID: user}})
	}
	rep := say(h, "alice", "/warroom drill start port-scan")
	if !rep.Private || !strings.Contains(rep.Text, "Drill drill-20261124t090000-abcd (port-scan) started by slack:alice") ||
		len(rec.started) != 1 || rec.started[0] != [2]string{"port-scan", "slack:alice"} {
		t.Errorf("start: %+v, started %v", rep, rec.started)
	}
	if rep := say(h, "vera", "drill start port-scan"); !rep.Refused || len(rec.started) != 1 {
		t.Errorf("a viewer started a drill: %+v", rep)
	}
	if rep := say(h, "alice", "drill list"); rep.Text != "Drill scenarios: port-scan, ssh-rdp-bruteforce" {
		t.Errorf("list: %q", rep.Text)
	}
	rec.fail = errors.New(`no drill scenario "nope"`)
	if rep := say(h, "alice", "drill start nope"); rep.Text != `The drill did not start: no drill scenario "nope"` {
		t.Errorf("unknown scenario: %q", rep.Text)
	}
	off, _ := commands.New(commands.Options{Pipeline: pipe, Store: st, Roles: roles, Clock: clk, Log: log})
	if rep := say(off, "alice", "drill start port-scan"); !strings.Contains(rep.Text, "Drills are not enabled") {
		t.Errorf("without drills: %q", rep.Text)
	}
}

func TestDrillCommandParse(t *testing.T) {
	cmd, err := commands.Parse("drill START Port-Scan", false)
	if err != nil || cmd.Name != commands.Drill || cmd.Text != "start" || cmd.Scenario != "port-scan" {
		t.Errorf("parse: %+v %v", cmd, err)
	}
	for text, want := range map[string]string{
		"drill":                  "say drill start <scenario> or drill list. Usage: /warroom drill start <scenario> | drill list",
		"drill start":            "say drill start <scenario> or drill list. Usage: /warroom drill start <scenario> | drill list",
		"drill stop x":           "say drill start <scenario> or drill list. Usage: /warroom drill start <scenario> | drill list",
		"drill start bad_name!":  `"bad_name!" is not a scenario name. Usage: /warroom drill start <scenario> | drill list`,
		"INC-0042 drill start x": "drill does not take an incident. Usage: /warroom drill start <scenario> | drill list",
	} {
		_, err := commands.Parse(text, false)
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v; want %s", text, err, want)
		}
	}
}
