package connectors

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/warroom/warroom/internal/clock"
)

// Env is what a factory gets besides its own configuration: the instance name, the
// clock, a logger, the global dry-run switch, where secrets come from and optional
// persistence.
type Env struct {
	// Name is the instance name from the configuration (a config may hold several
	// connectors of one type).
	Name string
	// Clock is the time source; nil means the wall clock.
	Clock clock.Clock
	// Logger receives the connector's logs; nil discards them.
	Logger *slog.Logger
	// DryRun makes every connector record actions without changing anything (drills
	// run this way). A connector's own dry_run setting can only add to it.
	DryRun bool
	// LookupEnv and ReadFile are where secrets come from; nil means os.LookupEnv and
	// os.ReadFile. Secrets are never read from the configuration itself.
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	// State, when set, persists connector state across restarts. Each stateful
	// connector documents the interface it needs (for example edl.Store) and checks for
	// it by type assertion; nil keeps state in memory.
	State any
}

// WithDefaults fills nil fields with the real clock, a discarding logger and the
// process environment.
func (e Env) WithDefaults() Env {
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	if e.LookupEnv == nil {
		e.LookupEnv = os.LookupEnv
	}
	if e.ReadFile == nil {
		e.ReadFile = os.ReadFile
	}
	return e
}

// Secret reads a secret named by a config's *_env / *_file pair: exactly one of
// envVar and file should be set (config validation checks that). field is the config
// key prefix ("token", "secret") used in error messages. Errors name the variable or
// file, never the value. A file's trailing newline is dropped.
func (e Env) Secret(field, envVar, file string) (Secret, error) {
	e = e.WithDefaults()
	switch {
	case envVar != "" && file != "":
		return Secret{}, fmt.Errorf("%s_env and %s_file are both set; keep one", field, field)
	case envVar != "":
		v, ok := e.LookupEnv(envVar)
		if !ok {
			return Secret{}, fmt.Errorf("%s_env: environment variable %s is not set; export it or use %s_file", field, envVar, field)
		}
		if strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("%s_env: environment variable %s is empty", field, envVar)
		}
		return NewSecret(v), nil
	case file != "":
		b, err := e.ReadFile(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is already in the message below
			}
			return Secret{}, fmt.Errorf("%s_file: cannot read %s: %w", field, file, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("%s_file: %s is empty", field, file)
		}
		return NewSecret(v), nil
	}
	return Secret{}, fmt.Errorf("%s: set %s_env or %s_file", field, field, field)
}
