package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/connectors"
)

// The response sections: connectors (where containment runs), guardrails (what it
// may never do) and playbooks (what it proposes).

// Connector is one entry of the connectors list: a name, a registered type, the
// shared keys (dry_run, retry, breaker) and the connector's own keys, which its
// package decodes strictly when the connector is built (see connectors/<type>/README.md).
type Connector struct {
	// Name identifies the connector in playbooks, actions and the API.
	Name string `yaml:"name"`
	// Type is a registered connector type: edl, nftables, webhook.
	Type string `yaml:"type"`
	// DryRun records actions without changing anything outside warroom.
	DryRun bool `yaml:"dry_run"`
	// Retry tunes the retries of retryable failures (attempts, initial, max,
	// multiplier, jitter); zero fields take the defaults.
	Retry connectors.Policy `yaml:"retry"`
	// Breaker tunes the connector's circuit breaker (failures, cooldown).
	Breaker connectors.BreakerConfig `yaml:"breaker"`
	// Settings holds the connector's own keys as YAML. Each key stays on its line of
	// the configuration file, so the connector's errors name the right line.
	Settings []byte `yaml:"-"`
	// Line is where the entry starts in the file.
	Line int `yaml:"-"`
}

// Playbooks configures where playbooks come from and the bounds they must keep.
type Playbooks struct {
	// Dir holds user playbooks (*.yaml, *.yml); one whose id is a built-in's replaces
	// it. Empty: built-ins only.
	Dir string `yaml:"dir"`
	// InternalNetworks decides which addresses are internal (default RFC 1918, RFC 4193
	// and RFC 6598 shared space).
	InternalNetworks []string `yaml:"internal_networks"`
	// MaxTTL is the longest TTL a playbook action may ask for (default 168h).
	MaxTTL Duration `yaml:"max_ttl"`
	// MaxAutoTargets is the highest auto_max_targets a playbook may set (default 5).
	MaxAutoTargets int `yaml:"max_auto_targets"`
}

// DefaultConnectors is the connector list used when the file has no connectors key:
// the External Dynamic List, which needs no credentials.
func DefaultConnectors() []Connector {
	return []Connector{{Name: "edl", Type: "edl"}}
}

func init() {
	sectionTypes["config.Playbooks"] = reflect.TypeOf(Playbooks{})
	sectionTypes["connectors.GuardConfig"] = reflect.TypeOf(connectors.GuardConfig{})
	sectionTypes["connectors.Breadth"] = reflect.TypeOf(connectors.Breadth{})
	sectionTypes["connectors.TTLBounds"] = reflect.TypeOf(connectors.TTLBounds{})
	sectionTypes["connectors.RateLimit"] = reflect.TypeOf(connectors.RateLimit{})
}

// connectorShared are the keys every connector entry takes; the rest are the
// connector's own.
var connectorShared = map[string]bool{"name": true, "type": true, "dry_run": true, "retry": true, "breaker": true}

// UnmarshalYAML reads one connectors entry, splitting the shared keys from the
// connector's own.
func (c *Connector) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a connector is a mapping with name, type and its own keys", n.Line)
	}
	c.Line = n.Line
	var own []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q is given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "name":
			err = decodeScalar(v, &c.Name, "a string")
		case "type":
			err = decodeScalar(v, &c.Type, "a string")
		case "dry_run":
			err = decodeScalar(v, &c.DryRun, "true or false")
		case "retry":
			err = decodeSection(v, &c.Retry)
		case "breaker":
			err = decodeSection(v, &c.Breaker)
		default:
			own = append(own, k, v)
		}
		if err != nil {
			return err
		}
	}
	settings, err := settingsYAML(own)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	c.Settings = settings
	return nil
}

func decodeScalar(v *yaml.Node, dst any, want string) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want %s", v.Line, want)
	}
	if err := v.Decode(dst); err != nil {
		return fmt.Errorf("line %d: %q is the wrong type; want %s", v.Line, v.Value, want)
	}
	return nil
}

// decodeSection decodes a mapping strictly into dst (a pointer to a struct with yaml
// tags), naming the line of an unknown key or a bad value.
func decodeSection(v *yaml.Node, dst any) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of keys", v.Line)
	}
	t := reflect.TypeOf(dst).Elem()
	fields := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = t.Field(i).Type
		names = append(names, name)
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q; allowed here: %s", k.Line, k.Value, strings.Join(names, ", "))
		}
		if err := val.Decode(reflect.New(ft).Interface()); err != nil {
			want := goTypeWords(ft.String())
			if ft == reflect.TypeOf(time.Duration(0)) {
				want = "a duration like 30m or 24h"
			}
			return fmt.Errorf("line %d: %q is the wrong type; want %s", val.Line, val.Value, want)
		}
	}
	return v.Decode(dst)
}

// settingsYAML renders a connector's own keys as YAML with each key on the line it
// has in the file: every value is written in flow style on one line, preceded by as
// many empty lines as it takes.
func settingsYAML(pairs []*yaml.Node) ([]byte, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	line := 1
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		for line < k.Line {
			b.WriteByte('\n')
			line++
		}
		// Keys are rendered as strings, as the connector's decoder reads them.
		key, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.Value})
		if err != nil {
			return nil, err
		}
		val, err := yaml.Marshal(oneLine(v))
		if err != nil {
			return nil, err
		}
		b.Write(bytes.TrimRight(key, "\n"))
		b.WriteString(": ")
		b.Write(bytes.TrimRight(val, "\n"))
		b.WriteByte('\n')
		line++
	}
	return b.Bytes(), nil
}

// oneLine returns a copy of n that encodes on one line: collections in flow style,
// multi-line strings double-quoted, no comments.
func oneLine(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	switch c.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		c.Style = yaml.FlowStyle
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			c.Content[i] = oneLine(ch)
		}
	case yaml.ScalarNode:
		if strings.ContainsAny(c.Value, "\n\r") || c.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			c.Style = yaml.DoubleQuotedStyle
		}
	case yaml.AliasNode:
		if c.Alias != nil {
			return oneLine(c.Alias)
		}
	}
	return &c
}

// Validate checks the shared keys of a connector entry; where is "connectors[i]".
// The connector's own keys are checked by its package when it is built.
func (c Connector) Validate(where string) error {
	if !sourceName.MatchString(c.Name) {
		return fmt.Errorf("%s.name: %q; use lowercase letters, digits, - and _ (at most 63)", where, c.Name)
	}
	if c.Type == "" {
		return fmt.Errorf("%s.type: required; want one of %s", where, strings.Join(connectors.Names(), ", "))
	}
	if _, ok := connectors.Lookup(c.Type); !ok {
		return fmt.Errorf("%s.type: %q; want one of %s", where, c.Type, strings.Join(connectors.Names(), ", "))
	}
	if err := c.Retry.Validate(); err != nil {
		return fmt.Errorf("%s.%w", where, err)
	}
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("%s.%w", where, err)
	}
	return nil
}

// Validate checks the playbooks section.
func (p Playbooks) Validate() error {
	for i, s := range p.InternalNetworks {
		pre, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil || pre.Masked() != pre {
			return fmt.Errorf("playbooks.internal_networks[%d]: %q is not a CIDR like 10.0.0.0/8", i, s)
		}
	}
	if d := time.Duration(p.MaxTTL); d != 0 && (d < time.Minute || d > 720*time.Hour) {
		return fmt.Errorf("playbooks.max_ttl: %s; want between 1m and 720h", d)
	}
	if p.MaxAutoTargets < 0 || p.MaxAutoTargets > 1000 {
		return fmt.Errorf("playbooks.max_auto_targets: %d; want between 1 and 1000 (0 for the default 5)", p.MaxAutoTargets)
	}
	return nil
}

// Networks returns the internal networks as prefixes; nil means the default.
func (p Playbooks) Networks() []netip.Prefix {
	if len(p.InternalNetworks) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(p.InternalNetworks))
	for _, s := range p.InternalNetworks {
		if pre, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			out = append(out, pre)
		}
	}
	return out
}

// validateResponse checks the connectors, guardrails and playbooks sections.
func (c *Config) validateResponse() error {
	names := map[string]bool{}
	for i, cn := range c.Connectors {
		where := fmt.Sprintf("connectors[%d]", i)
		if err := cn.Validate(where); err != nil {
			return err
		}
		if names[cn.Name] {
			return fmt.Errorf("%s.name: %q is used twice", where, cn.Name)
		}
		names[cn.Name] = true
	}
	if err := c.Guardrails.Validate(); err != nil {
		return err
	}
	return c.Playbooks.Validate()
}

// ConnectorNames lists the configured connector names, sorted.
func (c *Config) ConnectorNames() []string {
	out := make([]string, 0, len(c.Connectors))
	for _, cn := range c.Connectors {
		out = append(out, cn.Name)
	}
	sort.Strings(out)
	return out
}

var errNoConnector = errors.New("no such connector")

// Connector returns the configured connector called name.
func (c *Config) Connector(name string) (Connector, error) {
	for _, cn := range c.Connectors {
		if cn.Name == name {
			return cn, nil
		}
	}
	return Connector{}, fmt.Errorf("connector %q: %w; configured: %s", name, errNoConnector, strings.Join(c.ConnectorNames(), ", "))
}
