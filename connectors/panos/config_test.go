package panos

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_tag.yaml":                  `tag: "say \"hi\"" must not contain quotes, <, >, & or control characters`,
		"bad_mode.yaml":                 `mode: "block" is not a mode; use tag (User-ID tag registration, no commit) or address_group (address objects in a static group, with a commit)`,
		"group_without_name.yaml":       "address_group: required with mode: address_group; name the static address group your deny rule uses",
		"group_in_tag_mode.yaml":        "address_group: only used with mode: address_group; set the mode or remove the key",
		"bad_group_name.yaml":           `address_group: "bad'name" is not a PAN-OS object name (at most 63 letters, digits, spaces, -, . or _, starting with a letter, digit or _)`,
		"bad_object_prefix.yaml":        `object_prefix: "warroom:" must start with a letter, digit or _ and hold at most 20 letters, digits, -, . or _`,
		"bad_commit_admin.yaml":         `commit_admin: "two words" is not an administrator name (letters, digits, -, ., _ and @)`,
		"commit_admin_in_tag_mode.yaml": "commit_admin: only used with mode: address_group (mode tag needs no commit)",
		"zero_commit_timeout.yaml":      "commit_timeout: 0s must be positive",
		"long_commit_timeout.yaml":      "commit_timeout: 2h0m0s is longer than 1h",
		"bad_timeout.yaml":              "line 3: cannot unmarshal !!str `soon` into time.Duration",
		"bad_vsys.yaml":                 `vsys: "shared" is not a virtual system name; use vsys1, vsys2...`,
		"ca_and_insecure.yaml":          "ca_file and insecure_skip_verify are both set; keep ca_file",
		"http_url.yaml":                 `url: "http://fw.example.com" must be an absolute https:// URL`,
		"key_and_user.yaml":             "api_key_env/api_key_file and username/password_* are both set; use an API key or a user to generate one, not both",
		"missing_url.yaml":              "url: required; give the firewall's management address, e.g. https://fw.example.com",
		"no_credentials.yaml":           "set api_key_env or api_key_file, or username with password_env or password_file",
		"password_without_user.yaml":    "username: required with password_env or password_file",
		"reserved_tag.yaml":             `tag: "NOT" is a reserved word in match criteria`,
		"secret_in_env_field.yaml":      "api_key_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_keys.yaml":                 "api_key_env and api_key_file are both set; keep one",
		"two_passwords.yaml":            "password_env and password_file are both set; keep one",
		"unknown_key.yaml":              `line 2: unknown key "api_key" (allowed: address_group, api_key_env, api_key_file, ca_file, commit_admin, commit_timeout, dry_run, insecure_skip_verify, mode, object_prefix, password_env, password_file, persistent, tag, timeout, url, username, vsys)`,
		"url_credentials.yaml":          "url: must not carry credentials; use api_key_env or username with password_env",
		"url_path.yaml":                 `url: "https://fw.example.com/api/" must be the firewall's address only, without a path or query (the API lives at /api/)`,
		"user_without_password.yaml":    "password_env or password_file: required with username",
		"zero_timeout.yaml":             "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "LUFRPT14")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://fw.example.com\napi_key_env: K\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tag != "warroom-block" || c.Vsys != "vsys1" || c.Timeout != 15*time.Second || c.Persistent != nil || c.DryRun ||
		c.Mode != ModeTag || c.AddressGroup != "" || c.ObjectPrefix != "warroom-" || c.CommitAdmin != "" || c.CommitTimeout != 5*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "fw1", LookupEnv: func(k string) (string, bool) {
		return "LUFRPTsample", k == "WARROOM_PANOS_API_KEY"
	}}
	c, err := connectors.New("panos", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.BlockIP || got[1] != connectors.UnblockIP {
		t.Errorf("capabilities %v", got)
	}
}

func TestMissingSecret(t *testing.T) {
	env := connectors.Env{Name: "fw1", LookupEnv: func(string) (string, bool) { return "", false }}
	_, err := connectors.New("panos", Sample, env)
	want := `connector "fw1" (type panos): api_key_env: environment variable WARROOM_PANOS_API_KEY is not set; export it or use api_key_file`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("url: https://fw\nusername: u\npassword_env: P\ntag: x\n"))
	f.Add([]byte("url: https://fw\napi_key_env: K\nmode: address_group\naddress_group: g\ncommit_admin: a\ncommit_timeout: 1m\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
