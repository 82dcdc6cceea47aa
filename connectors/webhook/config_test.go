package webhook

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_header_name.yaml":        `headers: "X Bad" is not a valid header name`,
		"bad_kind.yaml":               `kinds[1]: "nuke" is not an action kind; use block_ip, unblock_ip, isolate_host, release_host or webhook`,
		"bad_method.yaml":             `method: "GET" is not supported; use POST, PUT, PATCH or DELETE`,
		"bad_revert_template.yaml":    "revert_body: template: revert_body:1: missing value for if",
		"bad_scheme.yaml":             `url: "ftp://files.example.com/x" must be an absolute http:// or https:// URL`,
		"bad_template.yaml":           "body: template: body:1: bad character U+007D '}'",
		"bad_timeout.yaml":            "line 3: cannot unmarshal !!str `soon` into time.Duration",
		"duplicate_kind.yaml":         `kinds[1]: "block_ip" is listed twice`,
		"empty_content_type.yaml":     "content_type: must be a media type such as application/json",
		"empty_kinds.yaml":            "kinds: list at least one action kind",
		"missing_url.yaml":            "url: required; give the endpoint to call",
		"no_secret.yaml":              "set secret_env or secret_file: the Standard Webhooks signing secret (whsec_...)",
		"reserved_header.yaml":        `headers: "authorization" is set by warroom (use bearer_token_env or bearer_token_file); remove it`,
		"secret_in_env_field.yaml":    "secret_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"signature_header.yaml":       `headers: "webhook-signature" is set by warroom (it is the signature); remove it`,
		"two_bearer_tokens.yaml":      "bearer_token_env and bearer_token_file are both set; keep one",
		"two_secrets.yaml":            "secret_env and secret_file are both set; keep one",
		"unknown_key.yaml":            `line 3: unknown key "urll" (allowed: bearer_token_env, bearer_token_file, body, content_type, dry_run, headers, kinds, method, revert, revert_body, secret_env, secret_file, timeout, url)`,
		"unknown_template_field.yaml": `body: template: body:1:7: executing "body" at <.Nope>: can't evaluate field Nope in type webhook.TemplateData (checked with a sample action)`,
		"unquoted_template.yaml":      "body: the template renders invalid JSON (invalid character 'h' after object key:value pair); quote values with {{json .Field}} (checked with a sample action)",
		"url_credentials.yaml":        "url: must not carry credentials; use bearer_token_env or bearer_token_file",
		"zero_timeout.yaml":           "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "pa55", "token=abc", "c2VjcmV0")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("url: https://x.example/h\nsecret_env: S\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != "POST" || c.Body != DefaultBody || c.ContentType != "application/json" || c.Timeout != 10*time.Second ||
		len(c.Kinds) != 1 || c.Kinds[0] != "webhook" || c.Revert != nil {
		t.Errorf("defaults = %+v", c)
	}
	c, err = ParseConfig([]byte("url: https://x.example/h\nsecret_env: S\nkinds: [block_ip]\n"))
	if err != nil || len(c.Kinds) != 1 || c.Kinds[0] != "block_ip" {
		t.Errorf("a configured kinds list must replace the default: %v %v", c.Kinds, err)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "soar", LookupEnv: func(k string) (string, bool) {
		return testSecret, k == "WARROOM_WEBHOOK_SECRET"
	}}
	c, err := connectors.New("webhook", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 3 {
		t.Errorf("sample capabilities %v", got)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("url: https://x/\nsecret_env: S\nbody: '{{json .Params}}'\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}
