package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Drills configures gap drills (drills:): synthetic incidents through the real
// response path, on a schedule or by hand, with their response times recorded.
type Drills struct {
	Enabled bool `yaml:"enabled"`
	// Dir holds user scenarios (*.yaml), besides the built-in ones.
	Dir string `yaml:"dir"`
	// Timeout is how long a run may take before it is recorded as timed out
	// (default 2h; a scenario or a schedule may set its own).
	Timeout Duration `yaml:"timeout"`
	// Sandbox names connectors drills may change for real (a lab firewall); every
	// other drill action runs in dry-run.
	Sandbox []string `yaml:"sandbox_connectors"`
	// ReportToChat posts the run's measures in its rooms when it ends (default true).
	ReportToChat *bool `yaml:"report_to_chat"`
	// Schedules are the scheduled drills.
	Schedules []DrillSchedule `yaml:"schedules"`
}

// DrillSchedule is one scheduled drill.
type DrillSchedule struct {
	Name     string `yaml:"name"`
	Scenario string `yaml:"scenario"`
	// Cron is five fields (minute hour day-of-month month day-of-week) or a
	// descriptor (@daily, @weekly, @every 36h...).
	Cron string `yaml:"cron"`
	// TimeZone is an IANA zone the cron spec is read in (default UTC).
	TimeZone string `yaml:"time_zone"`
	// Jitter delays each run by a random time below it (0 to 24h).
	Jitter  Duration `yaml:"jitter"`
	Timeout Duration `yaml:"timeout"`
}

// Location returns the schedule's time zone (checked by Validate).
func (s DrillSchedule) Location() *time.Location {
	if s.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Report reports whether runs post their measures in their rooms.
func (d Drills) Report() bool { return d.ReportToChat == nil || *d.ReportToChat }

func init() {
	sectionTypes["config.Drills"] = reflect.TypeOf(Drills{})
	sectionTypes["config.DrillSchedule"] = reflect.TypeOf(DrillSchedule{})
}

var (
	drillNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	drillCronStd = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// validateDrills applies the drills section's defaults and checks it.
func (c *Config) validateDrills() error {
	d := &c.Drills
	if d.Timeout == 0 {
		d.Timeout = Duration(2 * time.Hour)
	}
	if t := time.Duration(d.Timeout); t < time.Minute || t > 7*24*time.Hour {
		return fmt.Errorf("drills.timeout: %s; want between 1m and 168h", t)
	}
	names := make([]string, 0, len(c.Connectors))
	for _, cn := range c.Connectors {
		names = append(names, cn.Name)
	}
	for i, s := range d.Sandbox {
		if !slices.Contains(names, s) {
			return fmt.Errorf("drills.sandbox_connectors[%d]: %q is not a configured connector; configured: %s", i, s, strings.Join(names, ", "))
		}
	}
	seen := map[string]bool{}
	for i, s := range d.Schedules {
		where := fmt.Sprintf("drills.schedules[%d]", i)
		if !drillNameRE.MatchString(s.Name) {
			return fmt.Errorf("%s.name: %q; use 1 to 63 lowercase letters, digits and hyphens", where, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("%s.name: %q is used twice", where, s.Name)
		}
		seen[s.Name] = true
		if !drillNameRE.MatchString(s.Scenario) {
			return fmt.Errorf("%s.scenario: %q; name a built-in scenario (warroom drill list) or one in drills.dir", where, s.Scenario)
		}
		if s.Cron == "" {
			return fmt.Errorf("%s.cron: missing; write five fields like \"0 10 * * 2\" (Tuesdays 10:00) or a descriptor like @weekly", where)
		}
		if strings.HasPrefix(s.Cron, "TZ=") || strings.HasPrefix(s.Cron, "CRON_TZ=") {
			return fmt.Errorf("%s.cron: put the time zone in time_zone, not in the spec", where)
		}
		if _, err := drillCronStd.Parse(s.Cron); err != nil {
			return fmt.Errorf("%s.cron: %q: %v; write five fields (minute hour day-of-month month day-of-week) or a descriptor like @weekly", where, s.Cron, err)
		}
		if s.TimeZone != "" {
			if _, err := time.LoadLocation(s.TimeZone); err != nil {
				return fmt.Errorf("%s.time_zone: %q is not a known IANA time zone like Europe/Berlin", where, s.TimeZone)
			}
		}
		if j := time.Duration(s.Jitter); j < 0 || j > 24*time.Hour {
			return fmt.Errorf("%s.jitter: %s; want between 0s and 24h", where, j)
		}
		if t := time.Duration(s.Timeout); t != 0 && (t < time.Minute || t > 7*24*time.Hour) {
			return fmt.Errorf("%s.timeout: %s; want between 1m and 168h", where, t)
		}
	}
	return nil
}
