package drill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/ingest"
)

// MaxScenarioBytes bounds a scenario file.
const MaxScenarioBytes = 1 << 20

// Bounds of a user scenario.
const (
	maxSteps    = 500
	maxStepAt   = 24 * time.Hour
	maxBodySize = 64 << 10
)

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	unknownKey = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)
)

// fileScenario is a scenario file:
//
//	name: vpn-password-spray          # required: lowercase letters, digits, hyphens
//	title: Password spray on the VPN  # optional
//	description: ...                  # optional
//	playbook: ssh-rdp-bruteforce      # optional: the playbook it exercises
//	timeout: 1h                       # optional: default from drills.timeout
//	alerts:                           # required: 1 to 500 deliveries
//	  - at: 30s                       # after the run starts (0 to 24h)
//	    format: generic               # an ingest format
//	    body: {...}                   # a mapping or list (sent as JSON) or a string (sent as is)
type fileScenario struct {
	Name        string      `yaml:"name"`
	Title       string      `yaml:"title"`
	Description string      `yaml:"description"`
	Playbook    string      `yaml:"playbook"`
	Timeout     string      `yaml:"timeout"`
	Alerts      []fileAlert `yaml:"alerts"`
}

type fileAlert struct {
	At     string    `yaml:"at"`
	Format string    `yaml:"format"`
	Body   yaml.Node `yaml:"body"`
}

// ParseScenario decodes a user scenario strictly: unknown keys, bad durations,
// unknown formats or placeholders, and bodies the format's decoder does not accept
// whole are errors naming the key to fix.
func ParseScenario(data []byte) (*Scenario, error) {
	if len(data) > MaxScenarioBytes {
		return nil, fmt.Errorf("scenario is %d bytes; at most %d", len(data), MaxScenarioBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileScenario
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("scenario is empty; it needs name and alerts")
		}
		if m := unknownKey.FindStringSubmatch(err.Error()); m != nil {
			allowed := "name, title, description, playbook, timeout, alerts"
			if m[3] == "drill.fileAlert" {
				allowed = "at, format, body"
			}
			return nil, fmt.Errorf("scenario line %s: unknown key %q; allowed here: %s", m[1], m[2], allowed)
		}
		return nil, fmt.Errorf("scenario: %s", strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("scenario: the file holds more than one YAML document; put one scenario per file")
	}
	if !nameRE.MatchString(f.Name) {
		return nil, fmt.Errorf("name %q: want 1 to 63 lowercase letters, digits and hyphens, starting with a letter or digit", f.Name)
	}
	s := &Scenario{Name: f.Name, Title: strings.TrimSpace(f.Title), Description: strings.TrimSpace(f.Description),
		Playbook: strings.TrimSpace(f.Playbook)}
	if s.Title == "" {
		s.Title = s.Name
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return nil, fmt.Errorf("timeout %q: want a duration from 1m to 168h, like 45m or 2h", f.Timeout)
		}
		s.Timeout = d
	}
	if len(f.Alerts) == 0 {
		return nil, errors.New("alerts: the scenario needs at least one alert")
	}
	if len(f.Alerts) > maxSteps {
		return nil, fmt.Errorf("alerts: %d deliveries; at most %d", len(f.Alerts), maxSteps)
	}
	vars := NewVars("check", rand.New(rand.NewPCG(1, 2)))
	at0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, a := range f.Alerts {
		where := fmt.Sprintf("alerts[%d]", i)
		at, err := time.ParseDuration(strings.TrimSpace(a.At))
		if a.At == "" {
			at, err = 0, nil
		}
		if err != nil || at < 0 || at > maxStepAt {
			return nil, fmt.Errorf("%s.at %q: want a duration from 0s to 24h after the start, like 90s or 5m", where, a.At)
		}
		dec, ok := ingest.Lookup(a.Format)
		if !ok {
			return nil, fmt.Errorf("%s.format %q: want one of %s", where, a.Format, strings.Join(ingest.Formats(), ", "))
		}
		body, err := nodeBody(&a.Body)
		if err != nil {
			return nil, fmt.Errorf("%s.body: %w", where, err)
		}
		if len(body) > maxBodySize {
			return nil, fmt.Errorf("%s.body: %d bytes; at most %d", where, len(body), maxBodySize)
		}
		exp, err := vars.Expand(body, i, at0.Add(at))
		if err != nil {
			return nil, fmt.Errorf("%s.body: %w", where, err)
		}
		items, err := dec.Decode([]byte(exp), ingest.Options{Source: "drill", Now: at0.Add(at)})
		if err != nil {
			return nil, fmt.Errorf("%s.body: the %s decoder refuses it: %w", where, a.Format, err)
		}
		alerts := 0
		for j, it := range items {
			if it.Err != nil && !errors.Is(it.Err, ingest.ErrSkipped) {
				return nil, fmt.Errorf("%s.body: element %d: %w", where, j, it.Err)
			}
			if it.Alert != nil {
				alerts++
			}
		}
		if alerts == 0 {
			return nil, fmt.Errorf("%s.body: the %s decoder finds no alert in it", where, a.Format)
		}
		s.Steps = append(s.Steps, Step{At: at, Format: a.Format, Body: body})
	}
	sort.SliceStable(s.Steps, func(i, j int) bool { return s.Steps[i].At < s.Steps[j].At })
	return s, nil
}

// nodeBody renders an alert body: a string as is, a mapping or list as JSON.
func nodeBody(n *yaml.Node) (string, error) {
	switch n.Kind {
	case 0:
		return "", errors.New("missing; give the alert in its format, as a mapping or a string")
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			return "", fmt.Errorf("a %s is not an alert; give a mapping or a string", strings.TrimPrefix(n.Tag, "!!"))
		}
		if strings.TrimSpace(n.Value) == "" {
			return "", errors.New("empty")
		}
		return n.Value, nil
	case yaml.MappingNode, yaml.SequenceNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return "", err
		}
		b, err := json.Marshal(jsonable(v))
		if err != nil {
			return "", fmt.Errorf("cannot be written as JSON: %w", err)
		}
		return string(b), nil
	}
	return "", errors.New("give the alert as a mapping or a string")
}

// jsonable turns YAML's decoded values into ones encoding/json takes (map keys that
// are not strings are printed).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// Library holds the scenarios a drill can run: the built-ins and the user scenarios of
// a directory (which replace built-ins of the same name).
type Library struct {
	byName map[string]*Scenario
}

// LoadLibrary returns the built-ins plus the *.yaml and *.yml files of dir ("" for
// none). A file that does not parse stops the load with an error naming it.
func LoadLibrary(dir string) (*Library, error) {
	l := &Library{byName: map[string]*Scenario{}}
	for _, s := range Builtins() {
		l.byName[s.Name] = s
	}
	if dir == "" {
		return l, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("drill scenarios: %w", err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("drill scenario %s: %w", path, err)
		}
		s, err := ParseScenario(b)
		if err != nil {
			return nil, fmt.Errorf("drill scenario %s: %w", path, err)
		}
		if prev, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("drill scenario %s: name %q is also used by %s", path, s.Name, prev)
		}
		seen[s.Name] = path
		s.File = path
		l.byName[s.Name] = s
	}
	return l, nil
}

// Get returns a scenario by name.
func (l *Library) Get(name string) (*Scenario, error) {
	if s, ok := l.byName[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("no drill scenario %q; available: %s", name, strings.Join(l.Names(), ", "))
}

// Names lists the scenario names, sorted.
func (l *Library) Names() []string {
	out := make([]string, 0, len(l.byName))
	for n := range l.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All returns the scenarios sorted by name.
func (l *Library) All() []*Scenario {
	out := make([]*Scenario, 0, len(l.byName))
	for _, n := range l.Names() {
		out = append(out, l.byName[n])
	}
	return out
}
