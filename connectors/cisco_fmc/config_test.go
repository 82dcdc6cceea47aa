package ciscofmc

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"ca_and_insecure.yaml":         "ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on",
		"duplicate_device.yaml":        `deploy_devices[1]: "ftd-1" is listed twice`,
		"empty_device.yaml":            "deploy_devices[1]: empty device name",
		"http_url.yaml":                `url: "http://fmc.example.com" must be an absolute https:// URL`,
		"long_prefix.yaml":             `object_prefix: "warroom_block_objects_too_long" must start with a letter and hold at most 20 letters, digits, _, ., + or -`,
		"missing_url.yaml":             "url: required; give the Management Center, e.g. https://fmc.example.com",
		"negative_timeout.yaml":        "timeout: -1s must be positive",
		"negative_deploy_timeout.yaml": "deploy_timeout: -5m0s is negative; use 0 to start deployments without waiting for them",
		"long_deploy_timeout.yaml":     "deploy_timeout: 48h0m0s is longer than 24h",
		"no_group.yaml":                "group: required; name the network group the block rule uses",
		"no_password.yaml":             `set password_env or password_file for user "api"`,
		"no_user.yaml":                 "user: required; the FMC API user (with password_env or password_file)",
		"secret_in_env_field.yaml":     "password_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_passwords.yaml":           "password_env and password_file are both set; keep one",
		"unknown_key.yaml":             `line 5: unknown key "deploy" (allowed: ca_file, delete_objects, deploy_devices, deploy_timeout, domain, dry_run, group, insecure_skip_verify, object_prefix, password_env, password_file, timeout, url, user)`,
		"url_credentials.yaml":         "url: must not carry credentials; use user with password_env or password_file",
		"url_path.yaml":                `url: "https://fmc.example.com/api" must be the server only, without a path or query; warroom adds /api/...`,
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "token=abc")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://fmc.example.com\nuser: u\npassword_env: P\ngroup: g\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectPrefix != "warroom_" || c.Timeout != 30*time.Second || c.DeleteObjects != nil || len(c.DeployDevices) != 0 || c.Domain != "" || c.DeployTimeout != 10*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "fmc", LookupEnv: func(k string) (string, bool) {
		return connectortest.FMCPassword, k == "WARROOM_FMC_PASSWORD"
	}}
	c, err := connectors.New("cisco_fmc", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.BlockIP || got[1] != connectors.UnblockIP {
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
