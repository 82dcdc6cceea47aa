package sinks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
)

// testSink is registered as type "test" for the configuration tests.
type testSink struct {
	name string
	cfg  testConfig
}

type testConfig struct {
	Level           int           `yaml:"level"`
	Every           time.Duration `yaml:"every"`
	sinks.SecretRef `yaml:",inline"`
}

func (s *testSink) Name() string                              { return s.name }
func (s *testSink) Send(context.Context, []sinks.Event) error { return nil }

func init() {
	sinks.Register("test", func(n *yaml.Node, env sinks.Env) (sinks.Sink, error) {
		c := testConfig{Level: 1}
		if err := sinks.DecodeStrict(n, &c); err != nil {
			return nil, err
		}
		if c.Level > 3 {
			return nil, fmt.Errorf("level %d: at most 3", c.Level)
		}
		return &testSink{name: env.Name, cfg: c}, nil
	})
}

func TestNewEventAndValidate(t *testing.T) {
	c := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 5, time.FixedZone("X", 3600)))
	e := sinks.NewEvent(c, sinks.IncidentOpened, "INC-0042", "warroom", map[string]string{"title": "SSH brute force"})
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.ID) {
		t.Errorf("id %s is not a UUIDv7", e.ID)
	}
	if e.Time.Location() != time.UTC || !e.Time.Equal(c.Now()) {
		t.Errorf("time %v", e.Time)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if e2 := sinks.NewEvent(c, sinks.IncidentOpened, "", "", nil); e2.ID == e.ID || e2.ID[:13] != e.ID[:13] {
		t.Errorf("ids %s and %s: want distinct ids with the same time prefix", e.ID, e2.ID)
	}
	b, _ := json.Marshal(e)
	var back sinks.Event
	if err := json.Unmarshal(b, &back); err != nil || back.ID != e.ID || !back.Time.Equal(e.Time) || back.Fields["title"] != "SSH brute force" {
		t.Fatalf("JSON round trip: %s -> %+v (%v)", b, back, err)
	}
}

func TestValidateErrors(t *testing.T) {
	ok := func() sinks.Event {
		return sinks.Event{ID: "ev-1", Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Type: sinks.ActionFailed}
	}
	long := strings.Repeat("x", 70)
	for _, tc := range []struct {
		mod  func(*sinks.Event)
		want string
	}{
		{func(e *sinks.Event) { e.ID = "" }, "event has no id: create events with sinks.NewEvent"},
		{func(e *sinks.Event) { e.ID = "a b" }, `event id "a b": want 1 to 64 characters from A-Za-z0-9._:-`},
		{func(e *sinks.Event) { e.ID = long }, `event id "` + long + `": want 1 to 64 characters from A-Za-z0-9._:-`},
		{func(e *sinks.Event) { e.Time = time.Time{} }, "event ev-1 has no time"},
		{func(e *sinks.Event) { e.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, "event ev-1: time 1969-01-01T00:00:00Z is outside the years 1970 to 9999"},
		{func(e *sinks.Event) { e.Type = "Action" }, `event ev-1: type "Action": want lowercase words joined by dots, like "incident.opened", at most 32 characters`},
		{func(e *sinks.Event) { e.Type = "action" }, `event ev-1: type "action": want lowercase words joined by dots, like "incident.opened", at most 32 characters`},
		{func(e *sinks.Event) { e.Incident = "INC\n1" }, `event ev-1: incident "INC\n1" contains a control character`},
		{func(e *sinks.Event) { e.Actor = "\xff" }, "event ev-1: actor is not valid UTF-8"},
		{func(e *sinks.Event) { e.Fields = map[string]string{"1x": "v"} }, `event ev-1: field name "1x": want 1 to 32 letters, digits, '_', '.', '-', starting with a letter or '_'`},
		{func(e *sinks.Event) { e.Fields = map[string]string{"a=b": "v"} }, `event ev-1: field name "a=b": want 1 to 32 letters, digits, '_', '.', '-', starting with a letter or '_'`},
		{func(e *sinks.Event) { e.Fields = map[string]string{"f": strings.Repeat("v", 4097)} }, "event ev-1: field f: value of 4097 bytes exceeds 4096"},
		{func(e *sinks.Event) { e.Fields = map[string]string{"f": "\xc3"} }, "event ev-1: field f: value is not valid UTF-8"},
	} {
		e := ok()
		tc.mod(&e)
		err := e.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate = %v\nwant %s", err, tc.want)
		}
	}
	many := ok()
	many.Fields = map[string]string{}
	for i := 0; i < 65; i++ {
		many.Fields[fmt.Sprintf("f%d", i)] = "v"
	}
	if err := many.Validate(); err == nil || err.Error() != "event ev-1: 65 fields: at most 64 are allowed" {
		t.Errorf("Validate = %v", err)
	}
}

func TestClassification(t *testing.T) {
	base := errors.New("boom")
	for _, tc := range []struct {
		name                           string
		err                            error
		retryable, permanent, rejected bool
	}{
		{"plain", base, true, false, false},
		{"wrapped plain", fmt.Errorf("ctx: %w", base), true, false, false},
		{"permanent", sinks.Permanent(base), false, true, false},
		{"rejected", sinks.Rejected(base), false, true, true},
		{"wrapped rejected", fmt.Errorf("x: %w", sinks.Rejected(base)), false, true, true},
		{"retry after", sinks.RetryAfter(base, time.Second), true, false, false},
		{"outermost wins", sinks.RetryAfter(sinks.Permanent(base), time.Second), true, false, false},
		{"nil", nil, false, false, false},
	} {
		if got := sinks.Retryable(tc.err); got != tc.retryable {
			t.Errorf("%s: Retryable = %v", tc.name, got)
		}
		if got := sinks.IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("%s: IsPermanent = %v", tc.name, got)
		}
		if got := sinks.IsRejected(tc.err); got != tc.rejected {
			t.Errorf("%s: IsRejected = %v", tc.name, got)
		}
		if tc.err != nil && !errors.Is(tc.err, base) {
			t.Errorf("%s: does not unwrap to the cause", tc.name)
		}
	}
	if sinks.Permanent(nil) != nil || sinks.Rejected(nil) != nil || sinks.RetryAfter(nil, time.Second) != nil {
		t.Error("classifying nil must give nil")
	}
	if d, ok := sinks.RetryDelay(fmt.Errorf("w: %w", &sinks.BatchError{Err: sinks.RetryAfter(base, 7*time.Second)})); !ok || d != 7*time.Second {
		t.Errorf("RetryDelay through a BatchError = %v %v", d, ok)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0":                                0,
		"120":                              2 * time.Minute,
		" 5 ":                              5 * time.Second,
		"Sat, 01 Mar 2025 12:00:30 GMT":    30 * time.Second,
		"Saturday, 01-Mar-25 12:01:00 GMT": time.Minute,
		"Sat Mar  1 12:00:10 2025":         10 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT":    0,
	} {
		got, ok := sinks.ParseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "soon", "99999999999", "Sat, 01 Mar 2025"} {
		if d, ok := sinks.ParseRetryAfter(in, now); ok {
			t.Errorf("ParseRetryAfter(%q) = %v, want not ok", in, d)
		}
	}
}

// FuzzParseRetryAfter: never a negative wait, never a panic.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := sinks.ParseRetryAfter(v, now); ok && d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}

func TestStatusError(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	secret := sinks.NewSecret("hunter2-token")
	for _, tc := range []struct {
		status              int
		retryable, rejected bool
		want                string
	}{
		{503, true, false, "x answered 503 Service Unavailable: busy hunter2-token"},
		{429, true, false, ""},
		{408, true, false, ""},
		{400, false, true, ""},
		{413, false, true, ""},
		{401, false, false, "x answered 401 Unauthorized: busy [redacted]: check the token and its permissions"},
		{404, false, false, "check url"},
		{302, false, false, "x answered 302 Found: busy [redacted]; it redirects to https://other.example.net/p: set url to the final address"},
		{418, false, false, ""},
	} {
		resp := &http.Response{StatusCode: tc.status, Status: fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status)), Header: http.Header{}}
		resp.Header.Set("Retry-After", "9")
		resp.Header.Set("Location", "https://other.example.net/p?token=abc")
		err := sinks.StatusError("x", resp, "busy hunter2-token", now, secret)
		if sinks.Retryable(err) != tc.retryable || sinks.IsRejected(err) != tc.rejected {
			t.Errorf("%d: %v retryable %v rejected %v", tc.status, err, sinks.Retryable(err), sinks.IsRejected(err))
		}
		if strings.Contains(err.Error(), "hunter2-token") || strings.Contains(err.Error(), "abc") {
			t.Errorf("%d: leaks: %v", tc.status, err)
		}
		if tc.want != "" && !strings.Contains(strings.ReplaceAll(err.Error(), "[redacted]", "hunter2-token"), strings.ReplaceAll(tc.want, "[redacted]", "hunter2-token")) {
			t.Errorf("%d: %q does not contain %q", tc.status, err, tc.want)
		}
		if tc.retryable {
			if d, ok := sinks.RetryDelay(err); !ok || d != 9*time.Second {
				t.Errorf("%d: RetryDelay %v %v", tc.status, d, ok)
			}
		}
	}
}

func TestCheckURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://h:8088":         "https://h:8088",
		"https://h:8088/":        "https://h:8088",
		"http://127.0.0.1/a/b/":  "http://127.0.0.1/a/b",
		"":                       "url is required",
		"https://u:p@h":          "url must not hold credentials: put the secret in token_env or token_file",
		"https://h?":             "url must not have a query string: credentials go in token_env or token_file",
		"https://h/#f":           "url must not have a fragment (#...)",
		"h:8088":                 "url h:8088: scheme must be http or https",
		"https://":               "url https://: host is missing",
		"https://h:99999":        `url https://h:99999: port "99999" is not valid`,
		"https://h\x7f":          "url is not a valid URL: want https://host[:port][/path]",
		"https://[::1]:9200/es/": "https://[::1]:9200/es",
	} {
		u, err := sinks.CheckURL(in)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = u.String()
		}
		if got != want {
			t.Errorf("CheckURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := sinks.NewSecret("hunter2-token")
	holder := struct {
		Name string
		s    sinks.Secret
		S    sinks.Secret
	}{"x", s, s}
	b, _ := json.Marshal(holder)
	logger, logs := sinktest.NewLogger()
	logger.Info("secret", "s", s, "holder", holder)
	texts := []string{fmt.Sprintf("%v %+v %#v %s %q", s, holder, holder, s, s), string(b), logs.String()}
	sinktest.NoSecret(t, "hunter2-token", texts...)
	if s.Reveal() != "hunter2-token" || s.IsZero() || !(sinks.Secret{}).IsZero() {
		t.Fatal("Reveal/IsZero")
	}
}

func TestSecretRefResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("file-token\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	env := sinks.Env{LookupEnv: func(k string) (string, bool) {
		m := map[string]string{"TOKEN": " env-token ", "BLANK": " "}
		v, ok := m[k]
		return v, ok
	}}
	for _, tc := range []struct {
		ref  sinks.SecretRef
		want string
	}{
		{sinks.SecretRef{TokenEnv: "TOKEN"}, "env-token"},
		{sinks.SecretRef{TokenFile: file}, "file-token"},
		{sinks.SecretRef{TokenEnv: "MISSING"}, "error: token_env: environment variable MISSING is not set; export it or use token_file"},
		{sinks.SecretRef{TokenEnv: "BLANK"}, "error: token_env: environment variable BLANK is empty"},
		{sinks.SecretRef{TokenFile: empty}, "error: token_file: " + empty + " is empty"},
		{sinks.SecretRef{TokenEnv: "ABCDEF0123456789ABCDEF"}, "error: token_env: environment variable (the name in token_env, which looks like a token: check it) is not set; export it or use token_file"},
		{sinks.SecretRef{TokenEnv: "abc-123"}, "error: token_env must be the name of an environment variable (uppercase letters, digits, '_'), not the token itself"},
		{sinks.SecretRef{TokenFile: " /x"}, "error: token_file: the path has leading or trailing spaces"},
	} {
		s, err := tc.ref.Resolve(env)
		got := s.Reveal()
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("Resolve(%+v) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestParseConfigAndBuild(t *testing.T) {
	cfg, err := sinks.ParseConfig([]byte(`
delivery:
  batch_size: 50
  max_backoff: 1m
  poll: 0s
outputs:
  - name: first
    type: test
    level: 2
    token_env: TOKEN
  - name: second
    type: test
`))
	if err != nil {
		t.Fatal(err)
	}
	want := sinks.DefaultDelivery()
	want.BatchSize, want.MaxBackoff, want.Poll = 50, time.Minute, 0
	if cfg.Delivery != want {
		t.Errorf("delivery %+v, want %+v", cfg.Delivery, want)
	}
	ss, err := cfg.Build(sinks.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Name() != "first" || ss[0].(*testSink).cfg.Level != 2 || ss[1].(*testSink).cfg.Level != 1 {
		t.Fatalf("built %v", ss)
	}
	empty, err := sinks.ParseConfig(nil)
	if err != nil || empty.Delivery != sinks.DefaultDelivery() || len(empty.Outputs) != 0 {
		t.Fatalf("empty config: %+v %v", empty, err)
	}
	if got := sinks.Types(); !strings.Contains(strings.Join(got, ","), "test") {
		t.Fatalf("Types() = %v", got)
	}
}

func TestInvalidConfigs(t *testing.T) {
	sinktest.InvalidConfigs(t, "testdata/invalid", func(n *yaml.Node) error {
		var c sinks.Config
		if err := c.UnmarshalYAML(n); err != nil {
			return err
		}
		_, err := c.Build(sinks.Env{})
		return err
	})
}

func TestConfigEmbedsInAConfigFile(t *testing.T) {
	var file struct {
		Sinks sinks.Config `yaml:"sinks"`
	}
	err := yaml.Unmarshal([]byte("sinks:\n  outputs:\n    - {name: a, type: test, level: 9}\n"), &file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = file.Sinks.Build(sinks.Env{})
	if err == nil || err.Error() != `sinks.outputs[0]: sink "a" (type test): level 9: at most 3` {
		t.Fatalf("Build = %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	f := func(*yaml.Node, sinks.Env) (sinks.Sink, error) { return nil, nil }
	for name, reg := range map[string]func(){
		"duplicate": func() { sinks.Register("test", f) },
		"empty":     func() { sinks.Register("", f) },
		"spaces":    func() { sinks.Register(" x", f) },
		"nil":       func() { sinks.Register("nil-factory", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			reg()
		}()
	}
}

// FuzzParseConfig: a sinks section either fails with an error or yields valid
// delivery settings and uniquely named outputs of known types.
func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := sinks.ParseConfig(raw)
		if err != nil {
			return
		}
		if err := c.Delivery.Validate(); err != nil {
			t.Fatalf("accepted invalid delivery settings: %v", err)
		}
		seen := map[string]bool{}
		for _, o := range c.Outputs {
			if seen[o.Name] || o.Type == "" || o.Settings == nil {
				t.Fatalf("bad output %+v", o)
			}
			seen[o.Name] = true
		}
	})
}
