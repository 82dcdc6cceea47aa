package sinks

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/internal/secret"
)

// Secret holds a credential read from the environment or a file; it never prints
// itself (see internal/secret). Only Reveal returns the value.
type Secret = secret.Secret

// NewSecret wraps v.
func NewSecret(v string) Secret { return secret.New(v) }

// SecretRef names where a sink's secret comes from: an environment variable or a file.
// The secret itself never appears in the configuration. Embed it inline.
type SecretRef struct {
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
}

// envNameRE: POSIX names of environment variables for applications are uppercase
// letters, digits and '_'. Insisting on it catches a token pasted into token_env.
var envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

// Validate checks that exactly one of token_env and token_file is set and that
// token_env names a variable. Errors never repeat token_env's value: it may be a
// secret pasted in the wrong place.
func (r SecretRef) Validate() error {
	switch {
	case r.TokenEnv != "" && r.TokenFile != "":
		return errors.New("token_env and token_file are both set; keep one")
	case r.TokenEnv == "" && r.TokenFile == "":
		return errors.New("token: set token_env (an environment variable) or token_file (a file holding the token); secrets never go in the configuration")
	case r.TokenEnv != "" && !envNameRE.MatchString(r.TokenEnv):
		return errors.New("token_env must be the name of an environment variable (uppercase letters, digits, '_'), not the token itself")
	case r.TokenFile != "" && strings.TrimSpace(r.TokenFile) != r.TokenFile:
		return errors.New("token_file: the path has leading or trailing spaces")
	}
	return nil
}

// safeName returns an unset variable's name for a message, unless it looks like a
// token pasted in its place (long, without '_'): then the message must not repeat it.
func safeName(name string) string {
	if strings.Contains(name, "_") || len(name) <= 12 {
		return name
	}
	return "(the name in token_env, which looks like a token: check it)"
}

// IsZero reports whether neither key is set.
func (r SecretRef) IsZero() bool { return r.TokenEnv == "" && r.TokenFile == "" }

// Resolve reads the secret. Errors name the variable or file, never the value; a
// file's trailing newline is dropped.
func (r SecretRef) Resolve(env Env) (Secret, error) {
	if err := r.Validate(); err != nil {
		return Secret{}, err
	}
	env = env.WithDefaults()
	if r.TokenEnv != "" {
		v, ok := env.LookupEnv(r.TokenEnv)
		if !ok {
			return Secret{}, fmt.Errorf("token_env: environment variable %s is not set; export it or use token_file", safeName(r.TokenEnv))
		}
		if strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("token_env: environment variable %s is empty", safeName(r.TokenEnv))
		}
		return NewSecret(strings.TrimSpace(v)), nil
	}
	b, err := env.ReadFile(r.TokenFile)
	if err != nil {
		return Secret{}, fmt.Errorf("token_file: cannot read %s: %w", r.TokenFile, unwrapPath(err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Secret{}, fmt.Errorf("token_file: %s is empty", r.TokenFile)
	}
	return NewSecret(v), nil
}

// Env is what a sink factory gets besides its settings.
type Env struct {
	// Name is the sink's configured name.
	Name string
	// Clock is the time source (default the wall clock).
	Clock clock.Clock
	// Logger receives the sink's warnings (default discards).
	Logger *slog.Logger
	// Hostname names this machine in events (default os.Hostname).
	Hostname string
	// LookupEnv and ReadFile are where secrets and CA files come from (default
	// os.LookupEnv and os.ReadFile).
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
}

// WithDefaults fills the nil fields.
func (e Env) WithDefaults() Env {
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.Hostname == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			e.Hostname = h
		} else {
			e.Hostname = "warroom"
		}
	}
	if e.LookupEnv == nil {
		e.LookupEnv = os.LookupEnv
	}
	if e.ReadFile == nil {
		e.ReadFile = os.ReadFile
	}
	return e
}
