package opnsense

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_alias.yaml":           `alias: "warroom-block" is not an alias name (letters, digits and _, at most 31)`,
		"ca_and_insecure.yaml":     "ca_file and insecure_skip_verify are both set; keep ca_file",
		"http_url.yaml":            `url: "http://opnsense.example.com" must be an absolute https:// URL`,
		"missing_alias.yaml":       "alias: required; name the External (advanced) alias used in your block rule",
		"missing_url.yaml":         "url: required; give the firewall's web address, e.g. https://opnsense.example.com",
		"no_key.yaml":              "set key_env or key_file: the API key",
		"no_secret.yaml":           "set secret_env or secret_file: the API key's secret",
		"secret_in_env_field.yaml": "secret_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_keys.yaml":            "key_env and key_file are both set; keep one",
		"two_secrets.yaml":         "secret_env and secret_file are both set; keep one",
		"unknown_key.yaml":         `line 5: unknown key "table" (allowed: alias, ca_file, dry_run, insecure_skip_verify, key_env, key_file, secret_env, secret_file, timeout, url)`,
		"url_credentials.yaml":     "url: must not carry credentials; use key_env and secret_env",
		"url_path.yaml":            `url: "https://opnsense.example.com/api/" must be the firewall's address only, without a path or query (the API lives at /api/)`,
		"zero_timeout.yaml":        "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "w86XNZob")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://opn.example.com\nkey_env: K\nsecret_env: S\nalias: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 15*time.Second || c.DryRun || c.InsecureSkipVerify || c.CAFile != "" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "opn1", LookupEnv: func(k string) (string, bool) {
		return "sample", k == "WARROOM_OPNSENSE_KEY" || k == "WARROOM_OPNSENSE_SECRET"
	}}
	c, err := connectors.New("opnsense", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.BlockIP || got[1] != connectors.UnblockIP {
		t.Errorf("capabilities %v", got)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("url: https://opn\nkey_env: K\nsecret_env: S\nalias: x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
