package config

import (
	"strings"
	"testing"
	"time"
)

func TestDrillsDefaultsAndExample(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Drills.Enabled || time.Duration(c.Drills.Timeout) != 2*time.Hour || !c.Drills.Report() {
		t.Errorf("drills defaults: %+v", c.Drills)
	}
	ex, err := Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := ex.Drills
	if !d.Enabled || len(d.Schedules) == 0 || len(d.Sandbox) != 0 {
		t.Fatalf("example drills: %+v; want one enabled schedule and no sandbox (every drill action in dry-run)", d)
	}
	if s := d.Schedules[0]; s.Scenario != "ssh-rdp-bruteforce" || s.Location().String() != s.TimeZone || s.TimeZone == "" {
		t.Errorf("example schedule: %+v", s)
	}
}

// TestInvalidDrillsConfigs checks each file in testdata/invalid_drills fails with
// exactly this error.
func TestInvalidDrillsConfigs(t *testing.T) {
	want := map[string]string{
		"bad_cron.yaml":        `drills.schedules[0].cron: "0 10 * *": expected exactly 5 fields, found 4: [0 10 * *]; write five fields (minute hour day-of-month month day-of-week) or a descriptor like @weekly`,
		"bad_zone.yaml":        `drills.schedules[0].time_zone: "Mars/Olympus" is not a known IANA time zone like Europe/Berlin`,
		"dup_name.yaml":        `drills.schedules[1].name: "weekly" is used twice`,
		"bad_jitter.yaml":      `drills.schedules[0].jitter: 48h0m0s; want between 0s and 24h`,
		"no_cron.yaml":         `drills.schedules[0].cron: missing; write five fields like "0 10 * * 2" (Tuesdays 10:00) or a descriptor like @weekly`,
		"tz_in_spec.yaml":      `drills.schedules[0].cron: put the time zone in time_zone, not in the spec`,
		"unknown_sandbox.yaml": `drills.sandbox_connectors[0]: "lab-firewall" is not a configured connector; configured: edl`,
		"bad_timeout.yaml":     `drills.timeout: 10s; want between 1m and 168h`,
		"unknown_key.yaml":     `line 6: unknown key "timezone"; allowed here: name, scenario, cron, time_zone, jitter, timeout`,
		"bad_name.yaml":        `drills.schedules[0].name: "Weekly Drill"; use 1 to 63 lowercase letters, digits and hyphens`,
	}
	checkInvalid(t, "testdata/invalid_drills", want, func(b []byte) []byte {
		if !strings.Contains(string(b), "sources:") {
			return append(b, sourcesBase...)
		}
		return b
	})
}
