package defender

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_client_id.yaml":       "client_id: must be the application (client) id, a GUID; the secret goes in client_secret_env or client_secret_file",
		"bad_isolation_type.yaml":  `isolation_type: "full" is not supported; use Full or Selective`,
		"bad_scope.yaml":           `scope: "https://api.securitycenter.microsoft.com/Machine.Isolate" must be the API's app id URI followed by /.default, e.g. https://api.securitycenter.microsoft.com/.default`,
		"bad_tenant.yaml":          `tenant_id: "not_a_tenant" is neither a GUID nor a domain name`,
		"login_url_query.yaml":     `login_url: "https://login.example.com/" must not have a query or fragment`,
		"missing_client_id.yaml":   "client_id: required; give the application (client) id of the app registration",
		"missing_tenant.yaml":      "tenant_id: required; give the Entra tenant id (a GUID) or its verified domain",
		"negative_settle.yaml":     "settle_timeout: -5s must not be negative (0 reads the state once)",
		"no_secret.yaml":           "set client_secret_env or client_secret_file: the app registration's client secret",
		"plain_http_api.yaml":      `api_url: "http://api.securitycenter.microsoft.com": plain http is only allowed for loopback addresses; use https`,
		"secret_in_env_field.yaml": "client_secret_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_secrets.yaml":         "client_secret_env and client_secret_file are both set; keep one",
		"unknown_key.yaml":         `line 4: unknown key "client_secret" (allowed: api_url, ca_file, client_id, client_secret_env, client_secret_file, dry_run, insecure_skip_verify, isolation_type, login_url, poll_interval, scope, settle_timeout, tenant_id, timeout)`,
		"url_credentials.yaml":     "api_url: must not carry credentials; use client_secret_env or client_secret_file",
		"zero_poll.yaml":           "poll_interval: 0s must be positive",
		"zero_timeout.yaml":        "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "hunter2", "abc~def", ":pw@", "x=1")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("tenant_id: contoso.onmicrosoft.com\nclient_id: 4a7c6a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f\nclient_secret_env: S\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL != DefaultAPIURL || c.LoginURL != DefaultLoginURL || c.Scope != DefaultScope || c.IsolationType != Full ||
		c.Timeout != 15*time.Second || c.SettleTimeout != 30*time.Second || c.PollInterval != 2*time.Second || c.InsecureSkipVerify || c.DryRun {
		t.Errorf("defaults = %+v", c)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "edr", LookupEnv: func(k string) (string, bool) {
		return "sample-secret", k == "WARROOM_DEFENDER_CLIENT_SECRET"
	}}
	c, err := connectors.New("defender", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.IsolateHost || got[1] != connectors.ReleaseHost {
		t.Errorf("sample capabilities %v", got)
	}
	d := c.(*Defender)
	if d.tokenURL != "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token" {
		t.Errorf("token URL %s", d.tokenURL)
	}
}

func TestTokenRoles(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct {
		token string
		roles []string
		ok    bool
	}{
		{enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"roles":["Machine.Isolate","Machine.Read.All"]}`)) + ".sig", []string{"Machine.Isolate", "Machine.Read.All"}, true},
		{enc([]byte(`{}`)) + "." + enc([]byte(`{"appid":"x"}`)) + ".sig", nil, true},
		{"opaque-token", nil, false},
		{"a.%%%.c", nil, false},
		{"a." + enc([]byte("not json")) + ".c", nil, false},
	} {
		roles, ok := TokenRoles(tc.token)
		if ok != tc.ok || strings.Join(roles, ",") != strings.Join(tc.roles, ",") {
			t.Errorf("TokenRoles(%q) = %v, %v; want %v, %v", tc.token, roles, ok, tc.roles, tc.ok)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("tenant_id: a.b\nclient_id: 4a7c6a8e-1d2b-4c3d-9e8f-0a1b2c3d4e5f\nclient_secret_env: S\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("1", int64(1700000000))
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", int64(1445412470))
	f.Fuzz(func(t *testing.T, v string, now int64) {
		d := RetryAfter(v, time.Unix(now, 0))
		if d < 0 || d > 24*time.Hour || (d != 0 && (d < time.Second || d%time.Second != 0)) {
			t.Fatalf("RetryAfter(%q) = %v; want 0 or whole seconds in 1s..24h", v, d)
		}
	})
}

func FuzzTokenRoles(f *testing.F) {
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		roles, ok := TokenRoles(tok)
		if !ok && roles != nil {
			t.Fatalf("TokenRoles(%q) returned roles %v with ok=false", tok, roles)
		}
	})
}
