package opnsense

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
)

// Config is the opnsense connector's settings.
type Config struct {
	// URL is the firewall's web address, https://host[:port]. The API lives at
	// <url>/api/.
	URL string `yaml:"url"`
	// KeyEnv / KeyFile and SecretEnv / SecretFile name where the API key and its
	// secret come from (System > Access > Users > API keys); they are sent as HTTP
	// basic authentication. One of each is required.
	KeyEnv     string `yaml:"key_env"`
	KeyFile    string `yaml:"key_file"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Alias is the firewall alias (pf table) blocked addresses are added to. Create
	// it as type "External (advanced)" and use it in a block rule. Required.
	Alias string `yaml:"alias"`
	// CAFile is a PEM bundle of the roots trusted for the firewall's certificate;
	// when set, only these roots are trusted (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns certificate verification off. It is logged as a
	// warning at start-up; use ca_file instead.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one API request (default 15s).
	Timeout time.Duration `yaml:"timeout"`
	// DryRun records actions without calling the firewall.
	DryRun bool `yaml:"dry_run"`
}

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Timeout: 15 * time.Second}
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
	envRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	aliasRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,31}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the firewall's web address, e.g. https://opnsense.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use key_env and secret_env")
	}
	if u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("url: %q must be the firewall's address only, without a path or query (the API lives at /api/)", vendorhttp.RedactURL(c.URL))
	}
	for _, f := range []struct{ key, val string }{{"key_env", c.KeyEnv}, {"secret_env", c.SecretEnv}} {
		if f.val != "" && !envRE.MatchString(f.val) {
			return fmt.Errorf("%s must name an environment variable (letters, digits and _), not hold the secret itself", f.key)
		}
	}
	switch {
	case c.KeyEnv != "" && c.KeyFile != "":
		return errors.New("key_env and key_file are both set; keep one")
	case c.KeyEnv == "" && c.KeyFile == "":
		return errors.New("set key_env or key_file: the API key")
	case c.SecretEnv != "" && c.SecretFile != "":
		return errors.New("secret_env and secret_file are both set; keep one")
	case c.SecretEnv == "" && c.SecretFile == "":
		return errors.New("set secret_env or secret_file: the API key's secret")
	}
	if c.Alias == "" {
		return errors.New("alias: required; name the External (advanced) alias used in your block rule")
	}
	if !aliasRE.MatchString(c.Alias) {
		return fmt.Errorf("alias: %q is not an alias name (letters, digits and _, at most 31)", c.Alias)
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	return nil
}
