package defender

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

// Default endpoints of Microsoft Defender for Endpoint's public cloud.
const (
	DefaultAPIURL   = "https://api.securitycenter.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
	DefaultScope    = "https://api.securitycenter.microsoft.com/.default"
)

// Isolation types of the isolate API.
const (
	Full      = "Full"
	Selective = "Selective"
)

// Config is the defender connector's settings.
type Config struct {
	// TenantID is the Microsoft Entra tenant (a GUID or a verified domain).
	TenantID string `yaml:"tenant_id"`
	// ClientID is the application (client) id of the app registration (not a secret).
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv / ClientSecretFile name where the app's client secret comes
	// from. One is required.
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// APIURL is the Defender for Endpoint API (default
	// https://api.securitycenter.microsoft.com; regional hosts such as
	// https://eu.api.security.microsoft.com work too).
	APIURL string `yaml:"api_url"`
	// LoginURL is the Entra ID authority (default https://login.microsoftonline.com;
	// https://login.microsoftonline.us for US Government).
	LoginURL string `yaml:"login_url"`
	// Scope requested with the client credentials (default
	// https://api.securitycenter.microsoft.com/.default).
	Scope string `yaml:"scope"`
	// IsolationType is Full (default) or Selective (Outlook, Teams and Skype keep
	// working).
	IsolationType string `yaml:"isolation_type"`
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns TLS certificate checks off. Logged as a warning.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one HTTP request (default 15s).
	Timeout time.Duration `yaml:"timeout"`
	// SettleTimeout is how long Verify waits for a pending machine action (default
	// 30s; 0 reads once).
	SettleTimeout time.Duration `yaml:"settle_timeout"`
	// PollInterval is the wait between two reads while an action is pending (default 2s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// DryRun records actions without calling the API.
	DryRun bool `yaml:"dry_run"`
}

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{APIURL: DefaultAPIURL, LoginURL: DefaultLoginURL, Scope: DefaultScope, IsolationType: Full,
		Timeout: 15 * time.Second, SettleTimeout: 30 * time.Second, PollInterval: 2 * time.Second}
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
	guidRE   = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	domainRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	switch {
	case c.TenantID == "":
		return errors.New("tenant_id: required; give the Entra tenant id (a GUID) or its verified domain")
	case !guidRE.MatchString(c.TenantID) && !domainRE.MatchString(c.TenantID):
		return fmt.Errorf("tenant_id: %q is neither a GUID nor a domain name", c.TenantID)
	case c.ClientID == "":
		return errors.New("client_id: required; give the application (client) id of the app registration")
	case !guidRE.MatchString(c.ClientID):
		return errors.New("client_id: must be the application (client) id, a GUID; the secret goes in client_secret_env or client_secret_file")
	case c.ClientSecretEnv != "" && c.ClientSecretFile != "":
		return errors.New("client_secret_env and client_secret_file are both set; keep one")
	case c.ClientSecretEnv == "" && c.ClientSecretFile == "":
		return errors.New("set client_secret_env or client_secret_file: the app registration's client secret")
	case c.ClientSecretEnv != "" && !envRE.MatchString(c.ClientSecretEnv):
		return errors.New("client_secret_env must name an environment variable (letters, digits and _), not hold the secret itself")
	}
	if err := checkURL(c.APIURL); err != nil {
		return fmt.Errorf("api_url: %w", err)
	}
	if err := checkURL(c.LoginURL); err != nil {
		return fmt.Errorf("login_url: %w", err)
	}
	if u, err := url.Parse(c.Scope); err != nil || u.Scheme != "https" || !strings.HasSuffix(c.Scope, "/.default") {
		return fmt.Errorf("scope: %q must be the API's app id URI followed by /.default, e.g. %s", c.Scope, DefaultScope)
	}
	if c.IsolationType != Full && c.IsolationType != Selective {
		return fmt.Errorf("isolation_type: %q is not supported; use Full or Selective", c.IsolationType)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	if c.SettleTimeout < 0 {
		return fmt.Errorf("settle_timeout: %s must not be negative (0 reads the state once)", c.SettleTimeout)
	}
	if c.PollInterval <= 0 {
		return fmt.Errorf("poll_interval: %s must be positive", c.PollInterval)
	}
	return nil
}

func checkURL(s string) error {
	return vendorhttp.CheckAPIURL(s, "use client_secret_env or client_secret_file")
}
