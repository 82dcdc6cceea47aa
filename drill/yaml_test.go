package drill

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

func TestUserScenarioRunsThroughTheSamePath(t *testing.T) {
	lib, err := LoadLibrary("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	s, err := lib.Get("vpn-password-spray")
	if err != nil {
		t.Fatal(err)
	}
	if s.Builtin || s.Timeout != 45*time.Minute || len(s.Steps) != 3 || s.Steps[1].At != 90*time.Second || s.Steps[2].Format != "alertmanager" {
		t.Fatalf("scenario %+v", s)
	}
	r := newRig(t, RunnerOptions{Scenarios: lib})
	ctx := context.Background()
	run, err := r.run.Start(ctx, s.Name, Trigger{Kind: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if run.Timeout != 45*time.Minute {
		t.Errorf("run timeout %s; want the scenario's 45m", run.Timeout)
	}
	var alerts []*model.Alert
	eventually(t, "the three alerts", func() bool {
		alerts, _, _ = r.st.Alerts(ctx, store.AlertFilter{Limit: 10})
		return len(alerts) == 3
	})
	inc := alerts[0].IncidentID
	for i, a := range alerts {
		if a.IncidentID != inc || a.DrillID != run.ID {
			t.Errorf("alert %d: incident %d drill %q", a.ID, a.IncidentID, a.DrillID)
		}
		// Newest first: the relative times become event times from the start.
		want := t0.Add([]time.Duration{2 * time.Minute, 90 * time.Second, 0}[i])
		if !a.EventTime.Equal(want) {
			t.Errorf("alert %d event time %s; want %s", a.ID, a.EventTime, want)
		}
	}
}

func TestParseScenarioErrors(t *testing.T) {
	ok := "name: x\nalerts:\n  - {at: 0s, format: generic, body: {rule: r, severity: high, event_time: \"${time}\"}}\n"
	if _, err := ParseScenario([]byte(ok)); err != nil {
		t.Fatalf("valid scenario: %v", err)
	}
	for doc, want := range map[string]string{
		"":                       "scenario is empty; it needs name and alerts",
		"name: X\n":              `name "X": want 1 to 63 lowercase letters, digits and hyphens, starting with a letter or digit`,
		"name: x\n":              "alerts: the scenario needs at least one alert",
		"name: x\nsteps: []\n":   `scenario line 2: unknown key "steps"; allowed here: name, title, description, playbook, timeout, alerts`,
		"name: x\ntimeout: 5s\n": `timeout "5s": want a duration from 1m to 168h, like 45m or 2h`,
		"name: x\nalerts: [{at: -1s, format: generic, body: '{}'}]\n":      `alerts[0].at "-1s": want a duration from 0s to 24h after the start, like 90s or 5m`,
		"name: x\nalerts: [{format: syslog, body: '{}'}]\n":                `alerts[0].format "syslog": want one of alertmanager, elastic, generic, splunk, suricata, zeek`,
		"name: x\nalerts: [{format: generic}]\n":                           "alerts[0].body: missing; give the alert in its format, as a mapping or a string",
		"name: x\nalerts: [{format: generic, body: 42}]\n":                 "alerts[0].body: a int is not an alert; give a mapping or a string",
		"name: x\nalerts: [{format: generic, body: '${ip5:a}'}]\n":         "alerts[0].body: placeholder ${ip5:a}: unknown kind \"ip5\"; use one of device, domain, hex, host, ip4, ip6, n, run, time, unix, user",
		"name: x\nalerts: [{format: generic, body: '${ip4}'}]\n":           "alerts[0].body: placeholder ${ip4}: write it as ${ip4:NAME} with NAME made of letters, digits, - and _",
		"name: x\nalerts: [{format: generic, body: '${time:x}'}]\n":        "alerts[0].body: placeholder ${time:x}: ${time} takes no name",
		"name: x\nalerts: [{format: generic, body: '${ip4:a'}]\n":          "alerts[0].body: placeholder at byte 0 is not closed with }",
		"name: x\nalerts: [{format: generic, body: {rule: r}}]\n":          "alerts[0].body: element 0: missing severity; want one of critical, high, medium, low, info",
		"name: x\nalerts: [{at: 1s, when: 2s}]\n":                          `scenario line 2: unknown key "when"; allowed here: at, format, body`,
		"name: x\nalerts: [{format: generic, body: '{}'}]\n---\nname: y\n": "scenario: the file holds more than one YAML document; put one scenario per file",
	} {
		_, err := ParseScenario([]byte(doc))
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", doc, err, want)
		}
	}
}

func TestLibraryRefusesDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	b, _ := os.ReadFile("testdata/scenarios/vpn-password-spray.yaml")
	for _, n := range []string{"a.yaml", "b.yml"} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadLibrary(dir)
	if err == nil || !strings.Contains(err.Error(), `name "vpn-password-spray" is also used by`) {
		t.Errorf("duplicate names: %v", err)
	}
}

// FuzzParseScenario: the decoder never panics, and what it accepts expands and
// decodes for any run.
func FuzzParseScenario(f *testing.F) {
	if b, err := os.ReadFile("testdata/scenarios/vpn-password-spray.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data)
		if err != nil {
			return
		}
		if s.Name == "" || len(s.Steps) == 0 {
			t.Fatalf("accepted an incomplete scenario: %+v", s)
		}
		v := NewVars("drill-x", newRand(3))
		for i, st := range s.Steps {
			if _, err := v.Expand(st.Body, i, t0); err != nil {
				t.Fatalf("accepted step %d does not expand: %v", i, err)
			}
		}
	})
}
