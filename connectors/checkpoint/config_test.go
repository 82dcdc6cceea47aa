package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_prefix.yaml":              `object_prefix: "9bad prefix" must start with a letter and hold at most 32 letters, digits, _, . or -`,
		"bad_timeout.yaml":             "line 5: cannot unmarshal !!str `soon` into time.Duration",
		"ca_and_insecure.yaml":         "ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on",
		"empty_target.yaml":            "install_targets[1]: empty gateway name",
		"http_url.yaml":                `url: "http://mgmt.example.com" must be an absolute https:// URL`,
		"long_session.yaml":            "session_timeout: 2h0m0s must be between 10s and 1h",
		"missing_url.yaml":             "url: required; give the management server, e.g. https://mgmt.example.com",
		"no_group.yaml":                "group: required; name the network group the block rule uses",
		"no_password.yaml":             `set password_env or password_file for user "api"`,
		"no_user.yaml":                 "user: required (with password_env or password_file), or set api_key_env or api_key_file",
		"package_without_targets.yaml": "install_targets: list the gateways to install policy_package on",
		"password_and_key.yaml":        "api_key_env/api_key_file and user/password are both set; log in one way",
		"secret_in_env_field.yaml":     "password_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"targets_without_package.yaml": "policy_package: required when install_targets is set",
		"task_timeout_below_poll.yaml": "task_timeout: 5s must be at least poll_interval (10s)",
		"two_api_keys.yaml":            "api_key_env and api_key_file are both set; keep one",
		"two_passwords.yaml":           "password_env and password_file are both set; keep one",
		"unknown_key.yaml":             `line 5: unknown key "grup" (allowed: api_key_env, api_key_file, ca_file, delete_objects, domain, dry_run, group, insecure_skip_verify, install_targets, object_prefix, password_env, password_file, policy_package, poll_interval, session_timeout, task_timeout, timeout, url, user)`,
		"url_credentials.yaml":         "url: must not carry credentials; use user with password_env or password_file, or api_key_env",
		"url_path.yaml":                `url: "https://mgmt.example.com/web_api" must be the server only, without a path or query; warroom adds /web_api/`,
		"zero_timeout.yaml":            "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "token=abc")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://m.example.com\napi_key_env: K\ngroup: g\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ObjectPrefix != "warroom_" || c.TaskTimeout != 5*time.Minute || c.PollInterval != 2*time.Second ||
		c.SessionTimeout != 10*time.Minute || c.Timeout != 30*time.Second || c.DeleteObjects != nil || c.InsecureSkipVerify {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSecretAndCAFileErrors(t *testing.T) {
	cfg, _ := ParseConfig([]byte("url: https://m.example.com\nuser: u\npassword_env: CP_PW\ngroup: g\n"))
	_, err := New(cfg, connectors.Env{LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || err.Error() != "password_env: environment variable CP_PW is not set; export it or use password_file" {
		t.Errorf("missing password: %v", err)
	}
	cfg.CAFile = filepath.Join(t.TempDir(), "nope.pem")
	_, err = New(cfg, connectors.Env{LookupEnv: func(string) (string, bool) { return "x", true }})
	if err == nil || err.Error() != "ca_file: cannot read "+cfg.CAFile+": no such file or directory" {
		t.Errorf("missing CA file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	cfg.CAFile = bad
	_, err = New(cfg, connectors.Env{LookupEnv: func(string) (string, bool) { return "x", true }})
	if err == nil || err.Error() != "ca_file: "+bad+" holds no PEM certificate" {
		t.Errorf("bad CA file: %v", err)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "cp", LookupEnv: func(k string) (string, bool) {
		return connectortest.CheckPointPassword, k == "WARROOM_CHECKPOINT_PASSWORD"
	}}
	c, err := connectors.New("checkpoint", Sample, env)
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
