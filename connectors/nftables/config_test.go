package nftables

import (
	"reflect"
	"testing"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_hook.yaml":       `hooks[1]: "postrouting" is not supported; use input, forward, output, prerouting`,
		"bad_match.yaml":      `match[0]: "sport" is not supported; use saddr, daddr`,
		"bad_netns.yaml":      `netns: "../etc" is neither a namespace name (as listed by ip netns) nor an absolute path`,
		"bad_priority.yaml":   "priority: 1000 is outside -400..400",
		"bad_table.yaml":      `table: "war room" is not a valid nftables name; use a letter then up to 63 letters, digits or _`,
		"duplicate_hook.yaml": `hooks[1]: "input" is listed twice`,
		"netns_dotdot.yaml":   `netns: "/run/netns/../../etc/passwd" must be a clean absolute path`,
		"no_hooks.yaml":       "hooks: list at least one of input, forward, output, prerouting",
		"same_sets.yaml":      `set4 and set6 are both "blocks"; the IPv4 and IPv6 sets need different names`,
		"unknown_key.yaml":    `line 1: unknown key "tabel" (allowed: dry_run, hooks, match, netns, priority, set4, set6, table)`,
		"wrong_type.yaml":     "line 1: cannot unmarshal !!str `high` into int",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err })
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) || c.priority() != -10 || c.netnsPath() != "" {
		t.Errorf("defaults = %+v", c)
	}
	c, err = ParseConfig([]byte("hooks: [output]\nmatch: [daddr, saddr]\npriority: 0\nnetns: blue\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Hooks, []string{"output"}) || !reflect.DeepEqual(c.Match, []string{"daddr", "saddr"}) || c.priority() != 0 || c.netnsPath() != "/run/netns/blue" {
		t.Errorf("configured = %+v", c)
	}
	c, _ = ParseConfig([]byte("netns: /proc/1/ns/net\n"))
	if c.netnsPath() != "/proc/1/ns/net" {
		t.Errorf("path netns = %q", c.netnsPath())
	}
}

func TestSampleBuilds(t *testing.T) {
	c, err := connectors.New("nftables", Sample, connectors.Env{Name: "fw"})
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	defer c.(*Firewall).Close()
	_, err = connectors.New("nftables", []byte("netns: wr-does-not-exist\n"), connectors.Env{Name: "fw"})
	want := `connector "fw" (type nftables): netns: cannot open /run/netns/wr-does-not-exist: no such file or directory; create the namespace (ip netns add wr-does-not-exist) or fix the path`
	if err == nil || err.Error() != want {
		t.Errorf("missing namespace: %v\nwant %s", err, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("hooks: [input]\nmatch: [daddr]\nnetns: /proc/1/ns/net\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
