package meraki

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_auth_header.yaml":     `auth_header: "basic" is not supported; use bearer or x-cisco-meraki-api-key`,
		"bad_organization.yaml":    `organization_id: "org 1/.." is not an organization id`,
		"bad_prefix.yaml":          `object_prefix: "_x" must start with a letter and hold at most 32 letters, digits, _, ., + or -`,
		"ca_and_insecure.yaml":     "ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on",
		"http_url.yaml":            `base_url: "http://api.meraki.com/api/v1" must be an absolute https:// URL such as https://api.meraki.com/api/v1`,
		"no_group.yaml":            "group: required; name the policy object group your deny rule uses",
		"no_key.yaml":              "set api_key_env or api_key_file: the Dashboard API key",
		"no_organization.yaml":     "organization_id: required; find it with GET /organizations or in the dashboard footer",
		"secret_in_env_field.yaml": "api_key_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_keys.yaml":            "api_key_env and api_key_file are both set; keep one",
		"unknown_key.yaml":         `line 4: unknown key "network_id" (allowed: api_key_env, api_key_file, auth_header, base_url, ca_file, delete_objects, dry_run, group, insecure_skip_verify, object_prefix, organization_id, timeout)`,
		"url_credentials.yaml":     "base_url: must not carry credentials; use api_key_env or api_key_file",
		"wrong_version.yaml":       `base_url: "https://api.meraki.com/api/v0" must end in /api/v1, without a query`,
		"zero_timeout.yaml":        "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("api_key_env: K\norganization_id: '1'\ngroup: g\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != DefaultBaseURL || c.AuthHeader != "bearer" || c.ObjectPrefix != "warroom_" || c.Timeout != 30*time.Second || c.DeleteObjects != nil {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "mx", LookupEnv: func(k string) (string, bool) {
		return connectortest.MerakiAPIKey, k == "WARROOM_MERAKI_API_KEY"
	}}
	c, err := connectors.New("meraki", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 {
		t.Errorf("capabilities %v", got)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
