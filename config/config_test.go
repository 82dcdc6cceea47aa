package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/warroom/warroom/ingest"
)

func TestExampleConfigIsValid(t *testing.T) {
	c, err := Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 6 {
		t.Errorf("example config has %d sources; want one per format (6)", len(c.Sources))
	}
	formats := map[string]bool{}
	for _, s := range c.Sources {
		if s.Name != s.Format {
			t.Errorf("source %q has format %q; the example names each source after its format", s.Name, s.Format)
		}
		if s.TokenEnv != "WARROOM_INGEST_TOKEN" {
			t.Errorf("source %q takes its token from %q; want WARROOM_INGEST_TOKEN", s.Name, s.TokenEnv)
		}
		formats[s.Format] = true
	}
	if len(formats) != 6 {
		t.Errorf("formats covered: %v", formats)
	}
	if len(c.API.Tokens) != 1 || c.API.Tokens[0].TokenEnv != "WARROOM_API_TOKEN" {
		t.Errorf("api tokens: %+v; want one from WARROOM_API_TOKEN", c.API.Tokens)
	}
	if time.Duration(c.Correlation.Window) != 30*time.Minute {
		t.Errorf("window %v", time.Duration(c.Correlation.Window))
	}
}

func TestDefaultsApplyWhereFileIsSilent(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Listen != d.Listen || c.Database != d.Database || c.Ingest.MaxBodyBytes != 10<<20 ||
		c.Correlation.Window != d.Correlation.Window || c.Correlation.MaxPeers != d.Correlation.MaxPeers ||
		c.Correlation.NotifySeverity != "medium" || c.Correlation.NotifyCount != d.Correlation.NotifyCount {
		t.Errorf("defaults not applied: %+v", c)
	}
}

// TestInvalidConfigs checks each file in testdata/invalid fails with exactly this error.
func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"unknown_key.yaml":         wantUnknownTopKey,
		"unknown_source_key.yaml":  `line 4: unknown key "token"; allowed here: name, format, token_env, token_file`,
		"bad_listen.yaml":          `listen: "localhost" is not an address:port like 127.0.0.1:8080`,
		"no_sources.yaml":          `sources: none configured; add at least one (see config.example.yaml)`,
		"bad_format.yaml":          `sources[0].format: "snort"; want one of alertmanager, elastic, generic, splunk, suricata, zeek`,
		"dup_source.yaml":          `sources[1].name: "s" is used twice`,
		"both_secrets.yaml":        `sources[0]: token_env and token_file both set; keep one`,
		"no_secret.yaml":           `sources[0]: no token; set token_env (an environment variable) or token_file (a file holding it)`,
		"secret_in_env_field.yaml": `sources[0].token_env: not an environment variable name; it names the variable (like WARROOM_INGEST_TOKEN), it does not hold the token`,
		"bad_window.yaml":          `line 4: "30 minutes" is not a duration; write it like 30m or 24h`,
		"short_window.yaml":        `correlation.window: 10s; want between 1m and 168h`,
		"bad_role.yaml":            `api.tokens[0].role: "root"; want viewer, responder, approver or admin`,
		"bad_ignore.yaml":          `correlation.ignore[0]: "10.0.0.0/33" is not a CIDR like 192.0.2.0/24`,
		"bad_severity.yaml":        `correlation.notify_severity: severity "warning": want one of critical, high, medium, low, info`,
		"bad_category_rule.yaml":   `categories: `,
		"wrong_type.yaml":          `line 4: "lots" is the wrong type; want a whole number`,
		"bad_name.yaml":            `sources[0].name: "My Source"; use lowercase letters, digits, - and _ (at most 63)`,
		"two_docs.yaml":            `more than one YAML document: keep the configuration in one`,
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d files in testdata/invalid, %d expectations", len(files), len(want))
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
			got := strings.TrimPrefix(err.Error(), f+": ")
			if name == "bad_category_rule.yaml" {
				if !strings.HasPrefix(got, w) || !strings.Contains(got, "categories") {
					t.Errorf("error\n got %q\nwant prefix %q", got, w)
				}
				return
			}
			if got != w {
				t.Errorf("error\n got %q\nwant %q", got, w)
			}
		})
	}
}

func TestSecretsGenerateOnceAndPersistPrivately(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	c.Database = filepath.Join(dir, "w.db")
	c.GenerateMissingSecrets = true
	env := func(string) string { return "" }
	s := NewSecrets(&c, env)
	v1, err := s.Resolve("sources[0]", Secret{TokenEnv: "WARROOM_INGEST_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v1) < 32 {
		t.Errorf("generated token %d chars; want at least 32", len(v1))
	}
	v2, _ := s.Resolve("sources[1]", Secret{TokenEnv: "WARROOM_INGEST_TOKEN"})
	if v1 != v2 {
		t.Error("same variable resolved to two values")
	}
	fi, err := os.Stat(SecretsPath(c.Database))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v; want 0600", fi.Mode().Perm())
	}
	// A new resolver (a restart, or the CLI) finds the same value and generates nothing.
	s2 := NewSecrets(&c, env)
	v3, ok := s2.Lookup("WARROOM_INGEST_TOKEN")
	if !ok || v3 != v1 {
		t.Errorf("lookup after restart: %q %v", v3, ok)
	}
	if gen, _ := s2.Generated(); len(gen) != 0 {
		t.Errorf("generated again: %v", gen)
	}
	// The environment wins over the file.
	s3 := NewSecrets(&c, func(string) string { return "from-env" })
	if v, _ := s3.Resolve("x", Secret{TokenEnv: "WARROOM_INGEST_TOKEN"}); v != "from-env" {
		t.Errorf("env not preferred: %q", v)
	}
}

func TestSecretsMissingWithoutGenerateIsAnError(t *testing.T) {
	c := Default()
	c.Database = filepath.Join(t.TempDir(), "w.db")
	_, err := NewSecrets(&c, func(string) string { return "" }).Resolve("api.tokens[0]", Secret{TokenEnv: "WARROOM_API_TOKEN"})
	want := "api.tokens[0].token_env: environment variable WARROOM_API_TOKEN is unset; export it (or set generate_missing_secrets: true to have one generated)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v; want %q", err, want)
	}
	if _, err := os.Stat(SecretsPath(c.Database)); err == nil {
		t.Error("a secrets file was written although generation is off")
	}
}

func TestSecretFileValueNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	os.WriteFile(f, []byte("  \n"), 0o600)
	c := Default()
	_, err := NewSecrets(&c, os.Getenv).Resolve("sources[0]", Secret{TokenFile: f})
	if err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty token file: %v", err)
	}
	os.WriteFile(f, []byte("hunter2-very-secret\n"), 0o600)
	v, err := NewSecrets(&c, os.Getenv).Resolve("sources[0]", Secret{TokenFile: f})
	if err != nil || v != "hunter2-very-secret" {
		t.Errorf("token file: %q %v", v, err)
	}
}

func TestRoles(t *testing.T) {
	if !RoleAdmin.Allows(RoleApprover) || RoleViewer.Allows(RoleResponder) || Role("x").Allows(RoleViewer) || RoleAdmin.Allows(Role("")) {
		t.Error("role ordering wrong")
	}
}
