package edl

import (
	"testing"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"unknown_key.yaml":           `line 1: unknown key "lsit" (allowed: auth, dry_run, list, max_entries, password_env, password_file, token_env, token_file, username)`,
		"bad_list.yaml":              `list: "Block List" is not a valid list name; use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit`,
		"bad_auth.yaml":              `auth: "digest" is not supported; use none, basic or bearer`,
		"basic_no_username.yaml":     "auth: basic needs username",
		"basic_no_password.yaml":     "auth: basic: set password_env or password_file",
		"basic_two_passwords.yaml":   "auth: basic: password_env and password_file are both set; keep one",
		"basic_with_token.yaml":      "token_env and token_file are only used with auth: bearer",
		"bearer_no_token.yaml":       "auth: bearer: set token_env or token_file",
		"bearer_with_username.yaml":  "username, password_env and password_file are only used with auth: basic",
		"none_with_credentials.yaml": "auth is none but credentials are set; set auth: basic or auth: bearer, or remove them",
		"env_holds_secret.yaml":      "token_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"max_entries_zero.yaml":      "max_entries: 0 must be at least 1",
		"wrong_type.yaml":            "line 1: cannot unmarshal !!str `many` into int",
		"not_mapping.yaml":           "line 1: settings must be a mapping of keys to values",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "s3cr3t")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() || c.List != "warroom-block" || c.Auth != AuthNone || c.MaxEntries != 50000 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "edl-sample", LookupEnv: func(k string) (string, bool) {
		return "sample-password", k == "WARROOM_EDL_PASSWORD"
	}}
	c, err := connectors.New("edl", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if c.Name() != "edl-sample" || c.(*EDL).Path() != "/edl/warroom-block.txt" {
		t.Errorf("sample built %s at %s", c.Name(), c.(*EDL).Path())
	}
	_, err = connectors.New("edl", Sample, connectors.Env{LookupEnv: func(string) (string, bool) { return "", false }})
	want := `connector "edl" (type edl): password_env: environment variable WARROOM_EDL_PASSWORD is not set; export it or use password_file`
	if err == nil || err.Error() != want {
		t.Errorf("missing secret: %v, want %q", err, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("list: a\nauth: bearer\ntoken_file: /x\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
