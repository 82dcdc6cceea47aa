package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Secrets resolves the secrets a configuration names. Values come from environment
// variables or files; with generate on, a variable that is unset gets a random value,
// kept in a 0600 file beside the database so later starts and the CLI find it.
type Secrets struct {
	path     string
	generate bool
	getenv   func(string) string

	mu        sync.Mutex
	generated map[string]string
	created   []string
}

// SecretsPath is where generated secrets are kept for a database file.
func SecretsPath(database string) string { return database + ".secrets" }

// NewSecrets returns a resolver for c. getenv is os.Getenv outside tests.
func NewSecrets(c *Config, getenv func(string) string) *Secrets {
	return &Secrets{path: SecretsPath(c.Database), generate: c.GenerateMissingSecrets, getenv: getenv}
}

// Resolve returns the secret's value. where names the config key for errors; the value
// itself never appears in an error.
func (s *Secrets) Resolve(where string, sec Secret) (string, error) {
	if sec.TokenFile != "" {
		b, err := os.ReadFile(sec.TokenFile)
		if err != nil {
			return "", fmt.Errorf("%s.token_file: %w", where, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s.token_file: %s is empty", where, sec.TokenFile)
		}
		return v, nil
	}
	if v := strings.TrimSpace(s.getenv(sec.TokenEnv)); v != "" {
		return v, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if v, ok := s.generated[sec.TokenEnv]; ok {
		return v, nil
	}
	if !s.generate {
		return "", fmt.Errorf("%s.token_env: environment variable %s is unset; export it (or set generate_missing_secrets: true to have one generated)", where, sec.TokenEnv)
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate %s: %w", sec.TokenEnv, err)
	}
	v := base64.RawURLEncoding.EncodeToString(buf)
	s.generated[sec.TokenEnv] = v
	if err := s.save(); err != nil {
		delete(s.generated, sec.TokenEnv)
		return "", err
	}
	s.created = append(s.created, sec.TokenEnv)
	return v, nil
}

// Generated lists the variables this resolver generated values for, and the file.
func (s *Secrets) Generated() ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.created...), s.path
}

// Lookup returns a secret by variable name from the environment or, failing that,
// from the generated secrets file. It never generates. The CLI uses it to find the
// tokens of a local server.
func (s *Secrets) Lookup(name string) (string, bool) {
	if v := strings.TrimSpace(s.getenv(name)); v != "" {
		return v, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return "", false
	}
	v, ok := s.generated[name]
	return v, ok
}

func (s *Secrets) load() error {
	if s.generated != nil {
		return nil
	}
	s.generated = map[string]string{}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read generated secrets: %w", err)
	}
	if err := json.Unmarshal(b, &s.generated); err != nil {
		return fmt.Errorf("generated secrets file %s is damaged (delete it to generate new tokens): %w", s.path, err)
	}
	return nil
}

func (s *Secrets) save() error {
	b, err := json.MarshalIndent(s.generated, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("save generated secrets: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save generated secrets: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("save generated secrets: %w", err)
	}
	return nil
}
