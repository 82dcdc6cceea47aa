package ciscofmc

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

// Config is the Cisco FMC connector's settings.
type Config struct {
	// URL is the Management Center's base URL, https://host[:port].
	URL string `yaml:"url"`
	// User and PasswordEnv/PasswordFile are the API user's credentials, sent with HTTP
	// basic authentication to get a token.
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Domain is the domain's full name ("Global/Europe"); empty uses the user's
	// default domain (the token's DOMAIN_UUID).
	Domain string `yaml:"domain"`
	// Group is the network group the access rule blocks; warroom adds and removes
	// host and network objects in it. It must exist and keep at least one other
	// member, since FMC refuses an empty group.
	Group string `yaml:"group"`
	// ObjectPrefix starts the name of every object warroom creates (default
	// "warroom_").
	ObjectPrefix string `yaml:"object_prefix"`
	// DeleteObjects deletes warroom's object on revert once it has left the group
	// (default true).
	DeleteObjects *bool `yaml:"delete_objects"`
	// DeployDevices are the managed devices to deploy to after each change (by
	// name); empty leaves deployment to the administrators.
	DeployDevices []string `yaml:"deploy_devices"`
	// DeployTimeout bounds how long warroom follows the deployment task it started
	// (job/taskstatuses) before reporting a retryable timeout (default 10m; 0 starts
	// the deployment without waiting for it).
	DeployTimeout time.Duration `yaml:"deploy_timeout"`
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
	return Config{ObjectPrefix: "warroom_", Timeout: 30 * time.Second, DeployTimeout: 10 * time.Minute}
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
	envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// FMC object names: letters, digits and -_.+, at most 64 characters.
	prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.+-]{0,19}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the Management Center, e.g. https://fmc.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use user with password_env or password_file")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url: %q must be the server only, without a path or query; warroom adds /api/...", vendorhttp.RedactURL(c.URL))
	}
	if c.User == "" {
		return errors.New("user: required; the FMC API user (with password_env or password_file)")
	}
	if c.PasswordEnv != "" && !envRE.MatchString(c.PasswordEnv) {
		return errors.New("password_env must name an environment variable (letters, digits and _), not hold the secret itself")
	}
	switch {
	case c.PasswordEnv != "" && c.PasswordFile != "":
		return errors.New("password_env and password_file are both set; keep one")
	case c.PasswordEnv == "" && c.PasswordFile == "":
		return fmt.Errorf("set password_env or password_file for user %q", c.User)
	}
	if strings.TrimSpace(c.Group) == "" {
		return errors.New("group: required; name the network group the block rule uses")
	}
	if !prefixRE.MatchString(c.ObjectPrefix) {
		return fmt.Errorf("object_prefix: %q must start with a letter and hold at most 20 letters, digits, _, ., + or -", c.ObjectPrefix)
	}
	seen := map[string]bool{}
	for i, d := range c.DeployDevices {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("deploy_devices[%d]: empty device name", i)
		}
		if seen[d] {
			return fmt.Errorf("deploy_devices[%d]: %q is listed twice", i, d)
		}
		seen[d] = true
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	if c.DeployTimeout < 0 {
		return fmt.Errorf("deploy_timeout: %s is negative; use 0 to start deployments without waiting for them", c.DeployTimeout)
	}
	if c.DeployTimeout > 24*time.Hour {
		return fmt.Errorf("deploy_timeout: %s is longer than 24h", c.DeployTimeout)
	}
	if c.CAFile != "" && c.InsecureSkipVerify {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on")
	}
	return nil
}
