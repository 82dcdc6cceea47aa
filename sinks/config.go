package sinks

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/warroom/warroom/internal/strictyaml"
	"go.yaml.in/yaml/v3"
)

// Factory builds a sink from its settings (the sink's mapping in the configuration,
// without name and type) and the environment. Factories start from their defaults,
// decode with DecodeStrict, validate, and resolve secrets through SecretRef.
type Factory func(settings *yaml.Node, env Env) (Sink, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a sink type available under typ. Sink packages call it in init; it
// panics on an empty or duplicate name or a nil factory, a programming error caught at
// start-up.
func Register(typ string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if typ == "" || strings.TrimSpace(typ) != typ {
		panic(fmt.Sprintf("sinks: invalid sink type name %q", typ))
	}
	if f == nil {
		panic(fmt.Sprintf("sinks: sink type %q registered with a nil factory", typ))
	}
	if _, dup := registry[typ]; dup {
		panic(fmt.Sprintf("sinks: sink type %q registered twice", typ))
	}
	registry[typ] = f
}

// Types lists the registered sink types, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func lookup(typ string) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[typ]
	return f, ok
}

// New builds a sink of type typ from its settings. env.Name should carry the sink's
// name; it defaults to the type.
func New(typ string, settings *yaml.Node, env Env) (Sink, error) {
	f, ok := lookup(typ)
	if !ok {
		return nil, fmt.Errorf("sink type %q is unknown; registered types: %s", typ, strings.Join(Types(), ", "))
	}
	if env.Name == "" {
		env.Name = typ
	}
	s, err := f(settings, env.WithDefaults())
	if err != nil {
		return nil, fmt.Errorf("sink %q (type %s): %w", env.Name, typ, err)
	}
	return s, nil
}

// Config is the sinks section of the configuration:
//
//	sinks:
//	  delivery: {batch_size: 100, max_backoff: 5m}
//	  outputs:
//	    - name: splunk-prod
//	      type: splunk
//	      url: https://splunk.example.net:8088
//	      token_env: WARROOM_SPLUNK_HEC_TOKEN
//
// It decodes strictly (unknown keys are errors naming the line); each output's
// settings are kept as YAML and decoded by its factory in Build.
type Config struct {
	Delivery Delivery
	Outputs  []Spec
}

// Spec is one configured sink.
type Spec struct {
	Name string
	Type string
	// Settings is the output's mapping without name and type, with its line numbers.
	Settings *yaml.Node
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit", trunc(name, 80))
	}
	return nil
}

// ParseConfig decodes a sinks section from YAML.
func ParseConfig(raw []byte) (Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return Config{}, fmt.Errorf("sinks: not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var c Config
	if len(doc.Content) == 0 {
		c.Delivery = DefaultDelivery()
		return c, nil
	}
	if err := c.UnmarshalYAML(doc.Content[0]); err != nil {
		return Config{}, err
	}
	return c, nil
}

// UnmarshalYAML decodes the section strictly, so the config package can embed Config.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	*c = Config{Delivery: DefaultDelivery()}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: sinks must be a mapping with delivery and outputs", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "delivery":
			if err := DecodeStrict(v, &c.Delivery); err != nil {
				return fmt.Errorf("sinks.delivery: %w", err)
			}
			if err := c.Delivery.Validate(); err != nil {
				return fmt.Errorf("line %d: sinks.%w", v.Line, err)
			}
		case "outputs":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: sinks.outputs must be a list", k.Line)
			}
			seen := map[string]int{}
			for j, o := range v.Content {
				s, err := parseSpec(o)
				if err != nil {
					return fmt.Errorf("sinks.outputs[%d]: %w", j, err)
				}
				if prev, dup := seen[s.Name]; dup {
					return fmt.Errorf("line %d: sinks.outputs[%d]: name %q is already used by sinks.outputs[%d]; names must be unique", o.Line, j, s.Name, prev)
				}
				seen[s.Name] = j
				c.Outputs = append(c.Outputs, s)
			}
		default:
			return fmt.Errorf("line %d: unknown key %q in sinks (allowed: delivery, outputs)", k.Line, k.Value)
		}
	}
	return nil
}

func parseSpec(o *yaml.Node) (Spec, error) {
	if o.Kind != yaml.MappingNode {
		return Spec{}, fmt.Errorf("line %d: an output must be a mapping with name, type and its settings", o.Line)
	}
	settings := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: o.Line, Column: o.Column}
	var s Spec
	for i := 0; i+1 < len(o.Content); i += 2 {
		k, v := o.Content[i], o.Content[i+1]
		switch k.Value {
		case "name", "type":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
				return Spec{}, fmt.Errorf("line %d: %s must be a string", v.Line, k.Value)
			}
			if k.Value == "name" {
				s.Name = v.Value
			} else {
				s.Type = v.Value
			}
		default:
			settings.Content = append(settings.Content, k, v)
		}
	}
	switch {
	case s.Name == "":
		return Spec{}, fmt.Errorf("line %d: name is required", o.Line)
	case s.Type == "":
		return Spec{}, fmt.Errorf("line %d: output %q: type is required (one of: %s)", o.Line, s.Name, strings.Join(Types(), ", "))
	}
	if err := checkName(s.Name); err != nil {
		return Spec{}, fmt.Errorf("line %d: %w", o.Line, err)
	}
	if _, ok := lookup(s.Type); !ok {
		return Spec{}, fmt.Errorf("line %d: output %q: type %q is unknown (registered: %s)", o.Line, s.Name, s.Type, strings.Join(Types(), ", "))
	}
	s.Settings = settings
	return s, nil
}

// Build makes every configured sink. env.Name is set per sink.
func (c Config) Build(env Env) ([]Sink, error) {
	var out []Sink
	for i, s := range c.Outputs {
		e := env
		e.Name = s.Name
		sk, err := New(s.Type, s.Settings, e)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("sinks.outputs[%d]: %w", i, err)
		}
		out = append(out, sk)
	}
	return out, nil
}

func closeAll(ss []Sink) {
	for _, s := range ss {
		if c, ok := s.(Closer); ok {
			c.Close()
		}
	}
}

// DecodeStrict decodes a YAML mapping into v, a pointer to a struct that already holds
// the defaults, rejecting unknown keys (see internal/strictyaml).
func DecodeStrict(n *yaml.Node, v any) error { return strictyaml.Decode(n, v) }

// DecodeStrictBytes is DecodeStrict for a YAML document.
func DecodeStrictBytes(raw []byte, v any) error { return strictyaml.DecodeBytes(raw, v) }
