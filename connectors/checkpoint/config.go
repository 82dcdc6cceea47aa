package checkpoint

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
)

// Config is the Check Point connector's settings.
type Config struct {
	// URL is the management server's base URL, https://host[:port]; commands go to
	// URL/web_api/<command>.
	URL string `yaml:"url"`
	// Domain is the domain to log in to on a Multi-Domain Server (empty: the default).
	Domain string `yaml:"domain"`
	// User with PasswordEnv/PasswordFile, or APIKeyEnv/APIKeyFile: one way to log in.
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	APIKeyEnv    string `yaml:"api_key_env"`
	APIKeyFile   string `yaml:"api_key_file"`
	// Group is the network group the block rule uses; warroom adds and removes host
	// and network objects in it. It must exist.
	Group string `yaml:"group"`
	// ObjectPrefix starts the name of every object warroom creates (default
	// "warroom_"), so they are easy to find and never collide with others.
	ObjectPrefix string `yaml:"object_prefix"`
	// DeleteObjects removes warroom's host or network object on revert once it has
	// left the group (default true).
	DeleteObjects *bool `yaml:"delete_objects"`
	// PolicyPackage, when set, is installed on InstallTargets after every publish.
	PolicyPackage  string   `yaml:"policy_package"`
	InstallTargets []string `yaml:"install_targets"`
	// TaskTimeout bounds the wait for a publish or installation task (default 5m);
	// PollInterval is the pause between show-task calls (default 2s).
	TaskTimeout  time.Duration `yaml:"task_timeout"`
	PollInterval time.Duration `yaml:"poll_interval"`
	// SessionTimeout is the idle timeout asked for at login (default 10m, Check
	// Point's own default; 10s–1h).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM bundle trusted for the server's certificate (default: the
	// system roots).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns certificate checks off. It logs a warning at start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// DryRun records actions without changing anything.
	DryRun bool `yaml:"dry_run"`
}

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{ObjectPrefix: "warroom_", TaskTimeout: 5 * time.Minute, PollInterval: 2 * time.Second,
		SessionTimeout: 10 * time.Minute, Timeout: 30 * time.Second}
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
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,31}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the management server, e.g. https://mgmt.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use user with password_env or password_file, or api_key_env")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url: %q must be the server only, without a path or query; warroom adds /web_api/", vendorhttp.RedactURL(c.URL))
	}
	for _, f := range []struct{ key, val string }{{"password_env", c.PasswordEnv}, {"api_key_env", c.APIKeyEnv}} {
		if f.val != "" && !envRE.MatchString(f.val) {
			return fmt.Errorf("%s must name an environment variable (letters, digits and _), not hold the secret itself", f.key)
		}
	}
	password := c.PasswordEnv != "" || c.PasswordFile != ""
	apiKey := c.APIKeyEnv != "" || c.APIKeyFile != ""
	switch {
	case c.PasswordEnv != "" && c.PasswordFile != "":
		return errors.New("password_env and password_file are both set; keep one")
	case c.APIKeyEnv != "" && c.APIKeyFile != "":
		return errors.New("api_key_env and api_key_file are both set; keep one")
	case apiKey && (password || c.User != ""):
		return errors.New("api_key_env/api_key_file and user/password are both set; log in one way")
	case !apiKey && c.User == "":
		return errors.New("user: required (with password_env or password_file), or set api_key_env or api_key_file")
	case !apiKey && !password:
		return errors.New("set password_env or password_file for user " + quote(c.User))
	}
	if strings.TrimSpace(c.Group) == "" {
		return errors.New("group: required; name the network group the block rule uses")
	}
	if !prefixRE.MatchString(c.ObjectPrefix) {
		return fmt.Errorf("object_prefix: %q must start with a letter and hold at most 32 letters, digits, _, . or -", c.ObjectPrefix)
	}
	if c.PolicyPackage != "" && len(c.InstallTargets) == 0 {
		return errors.New("install_targets: list the gateways to install policy_package on")
	}
	if c.PolicyPackage == "" && len(c.InstallTargets) > 0 {
		return errors.New("policy_package: required when install_targets is set")
	}
	for i, t := range c.InstallTargets {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("install_targets[%d]: empty gateway name", i)
		}
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	case c.PollInterval <= 0:
		return fmt.Errorf("poll_interval: %s must be positive", c.PollInterval)
	case c.TaskTimeout < c.PollInterval:
		return fmt.Errorf("task_timeout: %s must be at least poll_interval (%s)", c.TaskTimeout, c.PollInterval)
	case c.SessionTimeout < 10*time.Second || c.SessionTimeout > time.Hour:
		return fmt.Errorf("session_timeout: %s must be between 10s and 1h", c.SessionTimeout)
	}
	if c.CAFile != "" && c.InsecureSkipVerify {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on")
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
