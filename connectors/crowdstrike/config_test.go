package crowdstrike

import (
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
)

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"bad_client_id.yaml":       "client_id: must be the API client's id (letters, digits, - and _); the secret goes in client_secret_env or client_secret_file",
		"bad_cloud.yaml":           `cloud: "eu-2" is not a Falcon cloud; use eu-1, us-1, us-2, us-gov-1 (or set base_url)`,
		"bad_member_cid.yaml":      `member_cid: "nope" is not a CID (32 hex digits, optionally -NN)`,
		"bad_scheme.yaml":          `base_url: "ftp://api.example.com" must be an absolute https:// URL`,
		"bad_timeout.yaml":         "line 3: cannot unmarshal !!str `soon` into time.Duration",
		"missing_client_id.yaml":   "client_id: required; give the id of the Falcon API client (Hosts: Read and Write)",
		"negative_settle.yaml":     "settle_timeout: -1s must not be negative (0 reads the state once)",
		"no_secret.yaml":           "set client_secret_env or client_secret_file: the Falcon API client's secret",
		"plain_http.yaml":          `base_url: "http://api.example.com": plain http is only allowed for loopback addresses; use https`,
		"secret_in_env_field.yaml": "client_secret_env must name an environment variable (letters, digits and _), not hold the secret itself",
		"two_secrets.yaml":         "client_secret_env and client_secret_file are both set; keep one",
		"unknown_key.yaml":         `line 3: unknown key "client_secret" (allowed: base_url, ca_file, client_id, client_secret_env, client_secret_file, cloud, dry_run, insecure_skip_verify, member_cid, poll_interval, settle_timeout, timeout)`,
		"url_credentials.yaml":     "base_url: must not carry credentials; use client_secret_env or client_secret_file",
		"zero_poll.yaml":           "poll_interval: 0s must be positive",
		"zero_timeout.yaml":        "timeout: 0s must be positive",
	}
	connectortest.RunInvalidConfigs(t, want, func(raw []byte) error { _, err := ParseConfig(raw); return err }, "hunter2", "s3cr3t-value", ":pw@")
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("client_id: abc\nclient_secret_env: S\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloud != "us-1" || c.API() != "https://api.crowdstrike.com" || c.Timeout != 15*time.Second ||
		c.SettleTimeout != 30*time.Second || c.PollInterval != 2*time.Second || c.InsecureSkipVerify || c.DryRun {
		t.Errorf("defaults = %+v", c)
	}
	for cloud, want := range map[string]string{"us-2": "https://api.us-2.crowdstrike.com", "eu-1": "https://api.eu-1.crowdstrike.com",
		"us-gov-1": "https://api.laggar.gcw.crowdstrike.com"} {
		c, err := ParseConfig([]byte("cloud: " + cloud + "\nclient_id: abc\nclient_secret_env: S\n"))
		if err != nil || c.API() != want {
			t.Errorf("cloud %s: API %q, %v; want %s", cloud, c.API(), err, want)
		}
	}
	c, err = ParseConfig([]byte("base_url: https://proxy.example.net/falcon/\nclient_id: abc\nclient_secret_env: S\n"))
	if err != nil || c.API() != "https://proxy.example.net/falcon" {
		t.Errorf("base_url must override the cloud: %q %v", c.API(), err)
	}
}

func TestSampleBuilds(t *testing.T) {
	env := connectors.Env{Name: "edr", LookupEnv: func(k string) (string, bool) {
		return "sample-secret", k == "WARROOM_FALCON_CLIENT_SECRET"
	}}
	c, err := connectors.New("crowdstrike", Sample, env)
	if err != nil {
		t.Fatalf("the embedded sample does not build: %v", err)
	}
	if got := c.Capabilities(); len(got) != 2 || got[0] != connectors.IsolateHost || got[1] != connectors.ReleaseHost {
		t.Errorf("sample capabilities %v", got)
	}
	if c.Name() != "edr" {
		t.Errorf("Name %q", c.Name())
	}
}

func TestMissingSecretVariable(t *testing.T) {
	env := connectors.Env{LookupEnv: func(string) (string, bool) { return "", false }}
	_, err := connectors.New("crowdstrike", []byte("client_id: abc\nclient_secret_env: FALCON_SECRET\n"), env)
	want := `connector "crowdstrike" (type crowdstrike): client_secret_env: environment variable FALCON_SECRET is not set; export it or use client_secret_file`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(Sample)
	f.Add([]byte("client_id: a\nclient_secret_env: S\nbase_url: https://x/\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ParseConfig accepted a config Validate refuses: %v", verr)
			}
			if !strings.HasPrefix(c.API(), "https://") && !strings.HasPrefix(c.API(), "http://") {
				t.Fatalf("API %q is not http(s)", c.API())
			}
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("1700000005", "", int64(1700000000))
	f.Add("", "120", int64(1700000000))
	f.Fuzz(func(t *testing.T, epoch, seconds string, now int64) {
		d := RetryAfter(epoch, seconds, time.Unix(now, 0))
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("RetryAfter(%q, %q) = %v; want 0..24h", epoch, seconds, d)
		}
		if d != 0 && (d < time.Second || d%time.Second != 0) {
			t.Fatalf("RetryAfter(%q, %q) = %v; want whole seconds, at least one", epoch, seconds, d)
		}
	})
}
