package edl

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/warroom/warroom/connectors"
)

// Config is the edl connector's settings.
type Config struct {
	// List names the list: it is served at /edl/<list>.txt (default "warroom-block").
	List string `yaml:"list"`
	// Auth is how firewalls authenticate when they poll: none (default), basic or
	// bearer.
	Auth string `yaml:"auth"`
	// Username is the basic-auth user name (auth: basic). Not a secret.
	Username string `yaml:"username"`
	// PasswordEnv / PasswordFile name where the basic-auth password comes from.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// TokenEnv / TokenFile name where the bearer token comes from (auth: bearer).
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// MaxEntries caps the list (default 50000; firewalls limit the size of an external
	// list, so check your model's limit).
	MaxEntries int `yaml:"max_entries"`
	// DryRun records actions without changing the served list.
	DryRun bool `yaml:"dry_run"`
}

// Auth modes.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
)

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{List: "warroom-block", Auth: AuthNone, MaxEntries: 50000}
}

// ParseConfig decodes raw YAML over the defaults, rejecting unknown keys, and
// validates the result.
func ParseConfig(raw []byte) (Config, error) {
	c := DefaultConfig()
	if err := connectors.DecodeStrict(raw, &c); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var (
	listRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if !listRE.MatchString(c.List) {
		return fmt.Errorf("list: %q is not a valid list name; use 1 to 64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit", c.List)
	}
	if c.MaxEntries < 1 {
		return fmt.Errorf("max_entries: %d must be at least 1", c.MaxEntries)
	}
	for _, f := range []struct{ key, val string }{
		{"password_env", c.PasswordEnv}, {"token_env", c.TokenEnv},
	} {
		if f.val != "" && !envRE.MatchString(f.val) {
			return fmt.Errorf("%s must name an environment variable (letters, digits and _), not hold the secret itself", f.key)
		}
	}
	basicSet := c.Username != "" || c.PasswordEnv != "" || c.PasswordFile != ""
	tokenSet := c.TokenEnv != "" || c.TokenFile != ""
	switch c.Auth {
	case AuthNone:
		if basicSet || tokenSet {
			return errors.New("auth is none but credentials are set; set auth: basic or auth: bearer, or remove them")
		}
	case AuthBasic:
		if tokenSet {
			return errors.New("token_env and token_file are only used with auth: bearer")
		}
		if c.Username == "" {
			return errors.New("auth: basic needs username")
		}
		if err := oneOf("password", c.PasswordEnv, c.PasswordFile); err != nil {
			return fmt.Errorf("auth: basic: %w", err)
		}
	case AuthBearer:
		if basicSet {
			return errors.New("username, password_env and password_file are only used with auth: basic")
		}
		if err := oneOf("token", c.TokenEnv, c.TokenFile); err != nil {
			return fmt.Errorf("auth: bearer: %w", err)
		}
	default:
		return fmt.Errorf("auth: %q is not supported; use none, basic or bearer", c.Auth)
	}
	return nil
}

func oneOf(field, env, file string) error {
	switch {
	case env != "" && file != "":
		return fmt.Errorf("%s_env and %s_file are both set; keep one", field, field)
	case env == "" && file == "":
		return fmt.Errorf("set %s_env or %s_file", field, field)
	}
	return nil
}
