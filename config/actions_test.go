package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/connectors"
	_ "github.com/warroom/warroom/connectors/edl"
	"github.com/warroom/warroom/connectors/nftables"
	_ "github.com/warroom/warroom/connectors/webhook"
)

// TestInvalidResponseConfigs checks each file in testdata/invalid_response fails with
// exactly this error.
func TestInvalidResponseConfigs(t *testing.T) {
	want := map[string]string{
		"bad_breadth.yaml":            `guardrails.max_breadth.ipv4: 40 is not a prefix length between 1 and 32`,
		"bad_connector_name.yaml":     `connectors[0].name: "Edge FW"; use lowercase letters, digits, - and _ (at most 63)`,
		"bad_dry_run.yaml":            `line 6: "sometimes" is the wrong type; want true or false`,
		"bad_internal_network.yaml":   `playbooks.internal_networks[1]: "10.1.2.3/16" is not a CIDR like 10.0.0.0/8`,
		"bad_never_block.yaml":        `guardrails.never_block[1]: "gateway.example" is not an IP address or CIDR`,
		"bad_retry_duration.yaml":     `line 7: "soon" is the wrong type; want a duration like 30m or 24h`,
		"bad_retry_jitter.yaml":       `connectors[0].retry.jitter: 1.5 is outside [0, 1]`,
		"bad_ttl_bounds.yaml":         `guardrails.ttl.max: 1h is shorter than ttl.min 2h`,
		"bad_ttl_duration.yaml":       `line 5: "a week" is the wrong type; want a duration like 30m or 24h`,
		"connector_not_mapping.yaml":  `line 4: a connector is a mapping with name, type and its own keys`,
		"dup_connector.yaml":          `connectors[1].name: "edl" is used twice`,
		"dup_connector_key.yaml":      `line 6: key "name" is given twice`,
		"negative_auto_targets.yaml":  `playbooks.max_auto_targets: -1; want between 1 and 1000 (0 for the default 5)`,
		"negative_breaker.yaml":       `connectors[0].breaker.failures: -1 is negative`,
		"negative_rate.yaml":          `guardrails.rate_limit.actions: -5 is negative`,
		"no_connector_type.yaml":      `connectors[0].type: required; want one of edl, nftables, webhook`,
		"short_max_ttl.yaml":          `playbooks.max_ttl: 30s; want between 1m and 720h`,
		"unknown_connector_type.yaml": `connectors[0].type: "checkpoint"; want one of edl, nftables, webhook`,
		"unknown_guardrail_key.yaml":  `line 5: unknown key "max_prefix"; allowed here: never_block, gateways, resolvers, monitoring, self, protected_hosts, allow_internal, max_breadth, ttl, rate_limit`,
		"unknown_playbooks_key.yaml":  `line 4: unknown key "directory"; allowed here: dir, internal_networks, max_ttl, max_auto_targets`,
		"unknown_retry_key.yaml":      `line 8: unknown key "backoff"; allowed here: attempts, initial, max, multiplier, jitter`,
	}
	files, err := filepath.Glob("testdata/invalid_response/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in testdata/invalid_response, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation; error is %q", err)
			}
			if got := strings.TrimPrefix(err.Error(), f+": "); got != w {
				t.Errorf("error\n got %q\nwant %q", got, w)
			}
		})
	}
}

func TestResponseDefaults(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Connectors) != 1 || c.Connectors[0].Name != "edl" || c.Connectors[0].Type != "edl" {
		t.Errorf("without a connectors key: %+v; want the edl connector alone", c.Connectors)
	}
	c, err = Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\nconnectors: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Connectors) != 0 {
		t.Errorf("connectors: [] gave %+v; want none", c.Connectors)
	}
	if c.Playbooks.Networks() != nil {
		t.Errorf("internal networks default to nil (the playbooks' default), got %v", c.Playbooks.Networks())
	}
}

// TestConnectorSettingsKeepTheirLines checks a connector's own keys reach its package
// with the line numbers of the file, so its strict decoding names the right line.
func TestConnectorSettingsKeepTheirLines(t *testing.T) {
	doc := `sources:
  - {name: s, format: generic, token_env: T}
connectors:
  - name: block
    type: edl
    dry_run: true
    # the list firewalls poll
    list: warroom-block
    retry: {attempts: 3, initial: 100ms}
    breaker:
      failures: 2
      cooldown: 1m
    max_entries: 1000
  - name: nft
    type: nftables
    hooks:
      - input
      - forward
    table: warroom_test
  - name: bad
    type: edl
    lst: typo
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	block := c.Connectors[0]
	if !block.DryRun || block.Retry.Attempts != 3 || block.Retry.Initial != 100*time.Millisecond ||
		block.Breaker.Failures != 2 || block.Breaker.Cooldown != time.Minute || block.Line != 4 {
		t.Errorf("shared keys: %+v", block)
	}
	lines := strings.Split(string(block.Settings), "\n")
	if len(lines) < 13 || lines[7] != "list: warroom-block" || lines[12] != "max_entries: 1000" {
		t.Errorf("settings are not on their lines:\n%s", block.Settings)
	}
	if _, err := connectors.New(block.Type, block.Settings, connectors.Env{Name: block.Name}); err != nil {
		t.Errorf("building the edl connector from its settings: %v", err)
	}
	nc, err := nftables.ParseConfig(c.Connectors[1].Settings)
	if err != nil {
		t.Fatalf("nftables settings: %v\n%s", err, c.Connectors[1].Settings)
	}
	if nc.Table != "warroom_test" || strings.Join(nc.Hooks, ",") != "input,forward" {
		t.Errorf("nftables settings decoded as %+v", nc)
	}
	_, err = connectors.New("edl", c.Connectors[2].Settings, connectors.Env{Name: "bad"})
	if err == nil || !strings.Contains(err.Error(), `line 22: unknown key "lst"`) {
		t.Errorf("a typo in a connector's own key: %v; want it to name line 22", err)
	}
}

func TestMultiLineSettingsStayOnOneLine(t *testing.T) {
	doc := "sources:\n  - {name: s, format: generic, token_env: T}\nconnectors:\n  - name: hook\n    type: webhook\n" +
		"    body: |\n      {\"a\": 1,\n       \"b\": 2}\n    url: https://hooks.example/x\n"
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(c.Connectors[0].Settings), "\n")
	if len(lines) < 9 || !strings.HasPrefix(lines[5], "body: \"") || lines[8] != "url: https://hooks.example/x" {
		t.Fatalf("settings:\n%s", c.Connectors[0].Settings)
	}
}

// FuzzConnectorEntry checks that any connectors entry either fails to decode or
// splits into the shared keys and settings that are valid YAML holding exactly the
// entry's other keys, each on its original line when the entry is in block style.
func FuzzConnectorEntry(f *testing.F) {
	f.Add("name: edl\ntype: edl\nlist: warroom-block\nmax_entries: 10\n")
	f.Add("{name: nft, type: nftables, hooks: [input], table: t}\n")
	f.Add("name: hook\ntype: webhook\nbody: |\n  {\"a\": 1,\n   \"b\": 2}\nurl: https://x.example/\nretry: {attempts: 2}\n")
	f.Fuzz(func(t *testing.T, entry string) {
		if strings.ContainsAny(entry, "&*!<%") {
			return // anchors, aliases, tags, merge keys and directives are out of scope
		}
		var doc yaml.Node
		if yaml.Unmarshal([]byte(entry), &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return
		}
		m := doc.Content[0]
		var c Connector
		if err := m.Decode(&c); err != nil {
			return
		}
		type own struct {
			key  string
			line int
		}
		var want []own
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if k.Kind != yaml.ScalarNode {
				return
			}
			if !connectorShared[k.Value] {
				want = append(want, own{k.Value, k.Line})
			}
		}
		if len(want) == 0 {
			if len(c.Settings) != 0 {
				t.Fatalf("no own keys but settings %q", c.Settings)
			}
			return
		}
		var got map[string]any
		if err := yaml.Unmarshal(c.Settings, &got); err != nil {
			t.Fatalf("settings are not valid YAML: %v\n%s", err, c.Settings)
		}
		if len(got) != len(want) {
			t.Fatalf("settings hold %d keys, the entry %d:\n%s", len(got), len(want), c.Settings)
		}
		lines := strings.Split(string(c.Settings), "\n")
		for i, w := range want {
			if _, ok := got[w.key]; !ok {
				t.Fatalf("key %q missing from the settings:\n%s", w.key, c.Settings)
			}
			if i > 0 && w.line <= want[i-1].line {
				return // flow style: several keys on one line
			}
			if w.line-1 >= len(lines) || !strings.Contains(lines[w.line-1], ":") {
				t.Fatalf("key %q (line %d) is not on its line:\n%s", w.key, w.line, c.Settings)
			}
		}
	})
}
