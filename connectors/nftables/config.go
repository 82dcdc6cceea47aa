package nftables

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/warroom/warroom/connectors"
)

// Config is the nftables connector's settings.
type Config struct {
	// Table is warroom's own table in the inet family (default "warroom"). warroom
	// owns it: its chains are rewritten at start.
	Table string `yaml:"table"`
	// Set4 and Set6 name the IPv4 and IPv6 sets (default warroom_block4 and
	// warroom_block6).
	Set4 string `yaml:"set4"`
	Set6 string `yaml:"set6"`
	// Hooks are where drop chains hook: input, forward, output, prerouting (default
	// [input, forward]). Each gets a base chain named after the hook.
	Hooks []string `yaml:"hooks"`
	// Priority of the base chains (default -10, just before the usual filter chains).
	Priority *int `yaml:"priority"`
	// Match lists which addresses are looked up in the sets: saddr (traffic from a
	// blocked address, the default) and/or daddr (traffic to it).
	Match []string `yaml:"match"`
	// NetNS, when set, acts in that network namespace: a name (as in `ip netns`,
	// looked up in /run/netns) or an absolute path such as /proc/1234/ns/net.
	NetNS string `yaml:"netns"`
	// DryRun records actions without touching the kernel.
	DryRun bool `yaml:"dry_run"`
}

var (
	validHooks = []string{"input", "forward", "output", "prerouting"}
	validMatch = []string{"saddr", "daddr"}
	nameRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	netnsRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`)
)

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Table: "warroom", Set4: "warroom_block4", Set6: "warroom_block6",
		Hooks: []string{"input", "forward"}, Match: []string{"saddr"}}
}

// ParseConfig decodes raw YAML over the defaults, rejecting unknown keys, and
// validates the result. A configured hooks or match list replaces the default.
func ParseConfig(raw []byte) (Config, error) {
	c := DefaultConfig()
	c.Hooks, c.Match = nil, nil
	if err := connectors.DecodeStrict(raw, &c); err != nil {
		return Config{}, err
	}
	d := DefaultConfig()
	if c.Hooks == nil {
		c.Hooks = d.Hooks
	}
	if c.Match == nil {
		c.Match = d.Match
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) priority() int {
	if c.Priority == nil {
		return -10
	}
	return *c.Priority
}

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	for _, f := range []struct{ key, val string }{{"table", c.Table}, {"set4", c.Set4}, {"set6", c.Set6}} {
		if !nameRE.MatchString(f.val) {
			return fmt.Errorf("%s: %q is not a valid nftables name; use a letter then up to 63 letters, digits or _", f.key, f.val)
		}
	}
	if c.Set4 == c.Set6 {
		return fmt.Errorf("set4 and set6 are both %q; the IPv4 and IPv6 sets need different names", c.Set4)
	}
	if err := checkList("hooks", c.Hooks, validHooks); err != nil {
		return err
	}
	if err := checkList("match", c.Match, validMatch); err != nil {
		return err
	}
	if p := c.priority(); p < -400 || p > 400 {
		return fmt.Errorf("priority: %d is outside -400..400", p)
	}
	if c.NetNS != "" {
		if strings.HasPrefix(c.NetNS, "/") {
			if strings.Contains(c.NetNS, "/../") || strings.HasSuffix(c.NetNS, "/..") {
				return fmt.Errorf("netns: %q must be a clean absolute path", c.NetNS)
			}
		} else if !netnsRE.MatchString(c.NetNS) {
			return fmt.Errorf("netns: %q is neither a namespace name (as listed by ip netns) nor an absolute path", c.NetNS)
		}
	}
	return nil
}

func checkList(key string, got, allowed []string) error {
	if len(got) == 0 {
		return errors.New(key + ": list at least one of " + strings.Join(allowed, ", "))
	}
	seen := map[string]bool{}
	for i, v := range got {
		ok := false
		for _, a := range allowed {
			ok = ok || v == a
		}
		if !ok {
			return fmt.Errorf("%s[%d]: %q is not supported; use %s", key, i, v, strings.Join(allowed, ", "))
		}
		if seen[v] {
			return fmt.Errorf("%s[%d]: %q is listed twice", key, i, v)
		}
		seen[v] = true
	}
	return nil
}

// netnsPath resolves the netns setting to a file path.
func (c Config) netnsPath() string {
	if c.NetNS == "" || strings.HasPrefix(c.NetNS, "/") {
		return c.NetNS
	}
	return "/run/netns/" + c.NetNS
}
