// Package config loads and validates warroom's YAML configuration. Decoding is strict:
// defaults are applied first, unknown keys are errors, and each section validates its
// own fields with messages that name the offending key and say what is allowed.
// Secrets never live in the file: a secret is named by a *_env or *_file key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/ingest"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/triage"
	"github.com/warroom/warroom/triage/model"
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the HTTP listener for ingest, API, metrics and the web chat.
	Listen string `yaml:"listen"`
	// Database is the SQLite file. Generated secrets are kept beside it.
	Database string `yaml:"database"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// GenerateMissingSecrets lets serve create a random value for a secret whose
	// environment variable is unset, stored (mode 0600) beside the database. Meant for
	// trying warroom on a laptop; leave it off in production so a missing secret stops
	// the start.
	GenerateMissingSecrets bool `yaml:"generate_missing_secrets"`
	// MemoryLimitMB is a soft limit for the Go heap, in MiB: the collector works harder
	// as the heap nears it, which keeps resident memory close to what is live. 0 leaves
	// the runtime's default; the GOMEMLIMIT environment variable wins over it.
	MemoryLimitMB int `yaml:"memory_limit_mb"`

	Ingest      Ingest            `yaml:"ingest"`
	Sources     []Source          `yaml:"sources"`
	API         API               `yaml:"api"`
	Correlation Correlation       `yaml:"correlation"`
	Categories  []ingest.RuleSpec `yaml:"categories"`

	// Response: see actions.go.
	Connectors []Connector            `yaml:"connectors"`
	Guardrails connectors.GuardConfig `yaml:"guardrails"`
	Playbooks  Playbooks              `yaml:"playbooks"`

	// Chat: see chat.go.
	Chat      Chat      `yaml:"chat"`
	Platforms Platforms `yaml:"platforms"`
	// Sinks forward every incident change and action result to the SIEM (Splunk HEC,
	// Elasticsearch, syslog, a signed webhook), at least once, through a durable queue.
	Sinks sinks.Config `yaml:"sinks"`
	// AI: the model that writes incident narratives; see ai.go.
	AI AI `yaml:"ai"`
	// Drills: scheduled gap drills; see drills.go.
	Drills Drills `yaml:"drills"`
}

// Ingest tunes the HTTP receivers.
type Ingest struct {
	// MaxBodyBytes is the largest request body accepted; larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// Source is one sender of alerts: POST /api/v1/ingest/{name}.
type Source struct {
	Name   string `yaml:"name"`
	Format string `yaml:"format"`
	Secret `yaml:",inline"`
}

// Secret names where a token comes from: an environment variable or a file.
type Secret struct {
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// API configures the JSON API's bearer tokens.
type API struct {
	Tokens []APIToken `yaml:"tokens"`
}

// APIToken is one API identity: who it is and what it may do.
type APIToken struct {
	Identity string `yaml:"identity"`
	Role     Role   `yaml:"role"`
	Secret   `yaml:",inline"`
}

// Role is what an identity may do. Each role includes the ones before it.
type Role string

// Roles, from least to most allowed.
const (
	RoleViewer    Role = "viewer"
	RoleResponder Role = "responder"
	RoleApprover  Role = "approver"
	RoleAdmin     Role = "admin"
)

// Rank orders roles; 0 is not a role.
func (r Role) Rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleResponder:
		return 2
	case RoleApprover:
		return 3
	case RoleAdmin:
		return 4
	}
	return 0
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.Rank() >= need.Rank() && need.Rank() > 0 }

// Correlation tunes how alerts group into incidents.
type Correlation struct {
	// Window is how far apart in event time two alerts sharing an entity may be.
	Window Duration `yaml:"window"`
	// Ignore lists CIDRs and entity values (hosts, users) that never join incidents
	// together: resolvers, proxies, collectors, CDNs.
	Ignore []string `yaml:"ignore"`
	// MaxPeers: an entity seen with more distinct peers than this stops pivoting.
	MaxPeers int `yaml:"max_peers"`
	// NotifySeverity and NotifyCount: an incident opens a room at this severity or at
	// this many alerts, whichever comes first.
	NotifySeverity string `yaml:"notify_severity"`
	NotifyCount    int    `yaml:"notify_count"`
}

// Duration is a time.Duration written as "30m", "24h", "90s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 30m or 24h", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration; write it like 30m or 24h", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the configuration used for keys the file leaves out.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		Database:      "warroom.db",
		LogLevel:      "info",
		MemoryLimitMB: 80,
		Ingest:        Ingest{MaxBodyBytes: 10 << 20},
		Correlation: Correlation{
			Window:         Duration(30 * time.Minute),
			MaxPeers:       20,
			NotifySeverity: "medium",
			NotifyCount:    20,
		},
		Connectors: DefaultConnectors(),
		Chat:       DefaultChat(),
		Platforms:  DefaultPlatforms(),
	}
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration document.
func Parse(b []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: start from config.example.yaml")
		}
		return nil, explainYAML(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: keep the configuration in one")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)

// explainYAML rewrites yaml's unknown-field errors to list the keys that are allowed.
func explainYAML(err error) error {
	msg := err.Error()
	m := unknownField.FindStringSubmatch(msg)
	if m == nil {
		if t := wrongType.FindStringSubmatch(msg); t != nil {
			return fmt.Errorf("line %s: %q is the wrong type; want %s", t[1], t[2], goTypeWords(t[3]))
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:")
		return errors.New(strings.Join(strings.Fields(msg), " "))
	}
	allowed := allowedKeys(m[3])
	return fmt.Errorf("line %s: unknown key %q; allowed here: %s", m[1], m[2], strings.Join(allowed, ", "))
}

var wrongType = regexp.MustCompile("line (\\d+): cannot unmarshal !!\\w+ `(.*)` into (\\S+)")

func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "bool":
		return "true or false"
	case t == "time.Duration":
		return "a duration like 30m or 24h"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map"):
		return "a mapping"
	}
	return "a mapping of keys (see config.example.yaml)"
}

var sectionTypes = map[string]reflect.Type{
	"config.Config":      reflect.TypeOf(Config{}),
	"config.Ingest":      reflect.TypeOf(Ingest{}),
	"config.Source":      reflect.TypeOf(Source{}),
	"config.API":         reflect.TypeOf(API{}),
	"config.APIToken":    reflect.TypeOf(APIToken{}),
	"config.Correlation": reflect.TypeOf(Correlation{}),
	"ingest.RuleSpec":    reflect.TypeOf(ingest.RuleSpec{}),
}

func allowedKeys(typeName string) []string {
	t, ok := sectionTypes[typeName]
	if !ok {
		return []string{"(see config.example.yaml)"}
	}
	var out []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if opts == "inline" {
				walk(f.Type)
				continue
			}
			if name != "" && name != "-" {
				out = append(out, name)
			}
		}
	}
	walk(t)
	return out
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the whole configuration; the first problem is returned.
func (c *Config) Validate() error {
	if _, err := netip.ParseAddrPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not an address:port like 127.0.0.1:8080", c.Listen)
	}
	if c.Database == "" {
		return errors.New("database: must name the SQLite file, e.g. warroom.db")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q; want debug, info, warn or error", c.LogLevel)
	}
	if c.MemoryLimitMB < 0 || c.MemoryLimitMB > 1<<20 {
		return fmt.Errorf("memory_limit_mb: %d; want 0 (no limit) or a size in MiB such as 100", c.MemoryLimitMB)
	}
	if c.Ingest.MaxBodyBytes < 1024 || c.Ingest.MaxBodyBytes > 1<<30 {
		return fmt.Errorf("ingest.max_body_bytes: %d; want between 1024 and 1073741824", c.Ingest.MaxBodyBytes)
	}
	if len(c.Sources) == 0 {
		return errors.New("sources: none configured; add at least one (see config.example.yaml)")
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		if !sourceName.MatchString(s.Name) {
			return fmt.Errorf("%s.name: %q; use lowercase letters, digits, - and _ (at most 63)", where, s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("%s.name: %q is used twice", where, s.Name)
		}
		seen[s.Name] = true
		if _, ok := ingest.Lookup(s.Format); !ok {
			return fmt.Errorf("%s.format: %q; want one of %s", where, s.Format, strings.Join(ingest.Formats(), ", "))
		}
		if err := s.Secret.validate(where); err != nil {
			return err
		}
	}
	ids := map[string]bool{}
	for i, t := range c.API.Tokens {
		where := fmt.Sprintf("api.tokens[%d]", i)
		if t.Identity == "" {
			return fmt.Errorf("%s.identity: required; it is the name actions and approvals are recorded under", where)
		}
		if ids[t.Identity] {
			return fmt.Errorf("%s.identity: %q is used twice", where, t.Identity)
		}
		ids[t.Identity] = true
		if t.Role.Rank() == 0 {
			return fmt.Errorf("%s.role: %q; want viewer, responder, approver or admin", where, t.Role)
		}
		if err := t.Secret.validate(where); err != nil {
			return err
		}
	}
	if err := c.Correlation.validate(); err != nil {
		return err
	}
	if _, err := ingest.NewRuleTable(c.Categories); err != nil {
		return fmt.Errorf("categories: %w", err)
	}
	if err := c.validateResponse(); err != nil {
		return err
	}
	if err := c.validateChat(); err != nil {
		return err
	}
	for _, v := range []func() error{c.validateSlack, c.validateDiscord, c.validateAI, c.validateDrills} {
		if err := v(); err != nil {
			return err
		}
	}
	return nil
}

func (s Secret) validate(where string) error {
	switch {
	case s.TokenEnv != "" && s.TokenFile != "":
		return fmt.Errorf("%s: token_env and token_file both set; keep one", where)
	case s.TokenEnv == "" && s.TokenFile == "":
		return fmt.Errorf("%s: no token; set token_env (an environment variable) or token_file (a file holding it)", where)
	case s.TokenEnv != "" && !envName.MatchString(s.TokenEnv):
		return fmt.Errorf("%s.token_env: not an environment variable name; it names the variable (like WARROOM_INGEST_TOKEN), it does not hold the token", where)
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Correlation) validate() error {
	w := time.Duration(c.Window)
	if w < time.Minute || w > 7*24*time.Hour {
		return fmt.Errorf("correlation.window: %s; want between 1m and 168h", w)
	}
	if _, _, err := triage.ParseIgnore(c.Ignore); err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return fmt.Errorf("correlation.%s", first)
	}
	if c.MaxPeers < 2 {
		return fmt.Errorf("correlation.max_peers: %d; want 2 or more", c.MaxPeers)
	}
	if _, err := model.ParseSeverity(c.NotifySeverity); err != nil {
		return fmt.Errorf("correlation.notify_severity: %w", err)
	}
	if c.NotifyCount < 1 {
		return fmt.Errorf("correlation.notify_count: %d; want 1 or more", c.NotifyCount)
	}
	return nil
}
