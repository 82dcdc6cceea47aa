package fortigate

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_vdom.yaml":            `vdom: "my vdom" is not a VDOM name (letters, digits, _ . -, at most 31)`,
		"ca_and_insecure.yaml":     "ca_file and insecure_skip_verify are both set; keep ca_file",
		"http_url.yaml":            `url: "http://fgt.example.com" must be an absolute https:// URL`,
		"missing_url.yaml":         "url: required; give the FortiGate's management address, e.g. https://fgt.example.com",
		"no_token.yaml":            "set token_env or token_file: the REST API administrator's token",
		"secret_in_env_field.yaml": "token_env must name an environment variable (letters, digits and _), not hold the token itself",
		"two_tokens.yaml":          "token_env and token_file are both set; keep one",
		"unknown_key.yaml":         `line 2: unknown key "token" (allowed: ca_file, dry_run, group, group6, insecure_skip_verify, mode, object_prefix, timeout, token_env, token_file, url, vdom)`,
		"group_missing.yaml":       "group: required with mode: address_group; name the address group your deny policy uses",
		"bad_mode.yaml":            `mode: "block" is not a mode; use ban or address_group`,
		"group_without_mode.yaml":  "group/group6: only used with mode: address_group; remove them or set the mode",
		"bad_group.yaml":           `group: "bad/name" is not an object name (letters, digits, _ . - and spaces, at most 79)`,
		"bad_object_prefix.yaml":   `object_prefix: "warroom block " must be 1 to 30 letters, digits, _ or -`,
		"url_credentials.yaml":     "url: must not carry credentials; use token_env or token_file",
		"url_path.yaml":            `url: "https://fgt.example.com/api/v2/" must be the FortiGate's address only, without a path or query (the API lives at /api/v2/)`,
		"zero_timeout.yaml":        "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "abc123", "Hq8xj5r1")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://fgt.example.com\ntoken_env: T\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.VDOM != "root" || c.Mode != ModeBan || c.ObjectPrefix != "warroom_" || c.Timeout != 15*time.Second || c.DryRun || c.InsecureSkipVerify {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "fgt1", LookupEnv: func(k string) (string, bool) {
		return "sample-token", k == "WARROOM_FORTIGATE_TOKEN"
	}}
	c, err := connectors.New("fortigate", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.BlockIP || got[1] != connectors.UnblockIP {
		t.Errorf("capabilities %v", got)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("url: https://fgt\ntoken_env: T\nvdom: x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
