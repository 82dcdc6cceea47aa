package connectors

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type stubConnector struct{ name string }

func (s stubConnector) Name() string               { return s.name }
func (s stubConnector) Capabilities() []ActionKind { return []ActionKind{BlockIP, UnblockIP} }
func (s stubConnector) Execute(context.Context, Request) (Result, error) {
	return Result{}, nil
}
func (s stubConnector) Verify(context.Context, Request) (Verification, error) {
	return Verification{}, nil
}
func (s stubConnector) Revert(context.Context, Request) (Result, error) { return Result{}, nil }
func (s stubConnector) Preview(context.Context, Request) (Diff, error)  { return Diff{}, nil }
func (s stubConnector) Ready(context.Context) Readiness                 { return Readiness{} }

var _ Connector = stubConnector{}

type stubConfig struct {
	Address string        `yaml:"address"`
	Timeout time.Duration `yaml:"timeout"`
	Nested  struct {
		Depth int `yaml:"depth"`
	} `yaml:"nested"`
	Items []struct {
		Key string `yaml:"key"`
	} `yaml:"items"`
	Labels map[string]string `yaml:"labels"`
}

func stubFactory(raw []byte, env Env) (Connector, error) {
	cfg := stubConfig{Timeout: time.Second}
	if err := DecodeStrict(raw, &cfg); err != nil {
		return nil, err
	}
	return stubConnector{name: env.Name}, nil
}

// registerTestTypes registers the test types once per process, so the tests also pass
// with -count above 1 (Register refuses a name twice).
var registerTestTypes = sync.OnceFunc(func() {
	Register("test-zeta", stubFactory)
	Register("test-alpha", stubFactory)
	Register("test-dup", stubFactory)
})

func TestRegistry(t *testing.T) {
	registerTestTypes()
	names := Names()
	var ours []string
	for _, n := range names {
		if strings.HasPrefix(n, "test-") {
			ours = append(ours, n)
		}
	}
	if !reflect.DeepEqual(ours, []string{"test-alpha", "test-dup", "test-zeta"}) {
		t.Errorf("Names() = %v, want sorted test-alpha, test-dup, test-zeta", names)
	}
	if _, ok := Lookup("test-alpha"); !ok {
		t.Error("Lookup misses a registered type")
	}

	c, err := New("test-alpha", []byte("address: x\n"), Env{Name: "edge"})
	if err != nil || c.Name() != "edge" {
		t.Fatalf("New = %v, %v", c, err)
	}
	c, err = New("test-alpha", nil, Env{})
	if err != nil || c.Name() != "test-alpha" {
		t.Fatalf("New without a name = %v, %v; want the type as the name", c, err)
	}
	_, err = New("test-alpha", []byte("adress: x\n"), Env{Name: "edge"})
	want := `connector "edge" (type test-alpha): line 1: unknown key "adress" (allowed: address, items, labels, nested, timeout)`
	if err == nil || err.Error() != want {
		t.Errorf("New with a typo = %v, want %q", err, want)
	}
	_, err = New("nope", nil, Env{})
	if err == nil || !strings.HasPrefix(err.Error(), `connector type "nope" is unknown; registered types: `) {
		t.Errorf("New unknown = %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	registerTestTypes()
	for name, fn := range map[string]func(){
		"duplicate":   func() { Register("test-dup", stubFactory) },
		"empty name":  func() { Register("", stubFactory) },
		"nil factory": func() { Register("test-nil", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			fn()
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, in, err string
		check         func(stubConfig) bool
	}{
		{name: "empty keeps defaults", in: "", check: func(c stubConfig) bool { return c.Timeout == time.Second }},
		{name: "null keeps defaults", in: "~\n", check: func(c stubConfig) bool { return c.Timeout == time.Second }},
		{name: "values", in: "address: a\ntimeout: 24h\nnested: {depth: 3}\nitems: [{key: k}]\nlabels: {any: thing}\n", check: func(c stubConfig) bool {
			return c.Address == "a" && c.Timeout == 24*time.Hour && c.Nested.Depth == 3 && c.Items[0].Key == "k" && c.Labels["any"] == "thing"
		}},
		{name: "unknown top", in: "address: a\ncolour: red\n", err: `line 2: unknown key "colour" (allowed: address, items, labels, nested, timeout)`},
		{name: "unknown nested", in: "nested:\n  depht: 3\n", err: `line 2: unknown key "depht" in nested (allowed: depth)`},
		{name: "unknown in list", in: "items:\n  - key: a\n  - kee: b\n", err: `line 3: unknown key "kee" in items[1] (allowed: key)`},
		{name: "bad type", in: "nested: {depth: deep}\n", err: "line 1: cannot unmarshal !!str `deep` into int"},
		{name: "bad duration", in: "timeout: soon\n", err: "line 1: cannot unmarshal !!str `soon` into time.Duration"},
		{name: "not a mapping", in: "- a\n- b\n", err: "line 1: settings must be a mapping of keys to values"},
		{name: "duplicate key", in: "address: a\naddress: b\n", err: `line 2: key "address" is given twice`},
		{name: "bad yaml", in: "address: [\n", err: "settings are not valid YAML: line 1: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := stubConfig{Timeout: time.Second}
			err := DecodeStrict([]byte(tt.in), &cfg)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("decoded %+v", cfg)
			}
		})
	}
}

func TestEnvSecret(t *testing.T) {
	env := Env{
		LookupEnv: func(k string) (string, bool) {
			v, ok := map[string]string{"GOOD": "s3cr3t-value", "BLANK": "  "}[k]
			return v, ok
		},
		ReadFile: func(p string) ([]byte, error) {
			switch p {
			case "/run/secrets/tok":
				return []byte("file-s3cr3t\n"), nil
			case "/run/secrets/empty":
				return []byte("\n"), nil
			}
			return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
		},
	}
	tests := []struct {
		env, file, want, err string
	}{
		{env: "GOOD", want: "s3cr3t-value"},
		{file: "/run/secrets/tok", want: "file-s3cr3t"},
		{env: "MISSING", err: "token_env: environment variable MISSING is not set; export it or use token_file"},
		{env: "BLANK", err: "token_env: environment variable BLANK is empty"},
		{file: "/run/secrets/none", err: "token_file: cannot read /run/secrets/none: file does not exist"},
		{file: "/run/secrets/empty", err: "token_file: /run/secrets/empty is empty"},
		{env: "GOOD", file: "/run/secrets/tok", err: "token_env and token_file are both set; keep one"},
		{err: "token: set token_env or token_file"},
	}
	for _, tt := range tests {
		s, err := env.Secret("token", tt.env, tt.file)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Secret(%q, %q) error = %v, want %q", tt.env, tt.file, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error leaks the secret: %v", err)
			}
			continue
		}
		if err != nil || s.Reveal() != tt.want {
			t.Errorf("Secret(%q, %q) = %v, %v", tt.env, tt.file, s.Reveal(), err)
		}
	}
}
