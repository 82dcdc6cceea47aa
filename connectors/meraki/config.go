package meraki

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

// Config is the Meraki connector's settings.
type Config struct {
	// BaseURL is the Dashboard API's base, https://api.meraki.com/api/v1 by default
	// (other regions: https://api.meraki.cn/api/v1, https://api.gov-meraki.com/api/v1...).
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv / APIKeyFile name where the Dashboard API key comes from.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// AuthHeader is how the key is sent: "bearer" (Authorization: Bearer, the
	// default) or "x-cisco-meraki-api-key" (the older header).
	AuthHeader string `yaml:"auth_header"`
	// OrganizationID is the organization holding the policy objects.
	OrganizationID string `yaml:"organization_id"`
	// Group is the policy object group (NetworkObjectGroup) your firewall rules
	// deny; warroom adds and removes cidr policy objects in it. It must exist.
	Group string `yaml:"group"`
	// ObjectPrefix starts the name of every policy object warroom creates (default
	// "warroom_").
	ObjectPrefix string `yaml:"object_prefix"`
	// DeleteObjects deletes warroom's policy object on revert once it has left the
	// group (default true).
	DeleteObjects *bool `yaml:"delete_objects"`
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

// DefaultBaseURL is the Dashboard API's global endpoint.
const DefaultBaseURL = "https://api.meraki.com/api/v1"

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{BaseURL: DefaultBaseURL, AuthHeader: "bearer", ObjectPrefix: "warroom_", Timeout: 30 * time.Second}
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
	orgRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.+-]{0,31}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("base_url: %q must be an absolute https:// URL such as %s", vendorhttp.RedactURL(c.BaseURL), DefaultBaseURL)
	}
	if u.User != nil {
		return errors.New("base_url: must not carry credentials; use api_key_env or api_key_file")
	}
	if strings.TrimRight(u.Path, "/") != "/api/v1" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base_url: %q must end in /api/v1, without a query", vendorhttp.RedactURL(c.BaseURL))
	}
	if c.APIKeyEnv != "" && !envRE.MatchString(c.APIKeyEnv) {
		return errors.New("api_key_env must name an environment variable (letters, digits and _), not hold the secret itself")
	}
	switch {
	case c.APIKeyEnv != "" && c.APIKeyFile != "":
		return errors.New("api_key_env and api_key_file are both set; keep one")
	case c.APIKeyEnv == "" && c.APIKeyFile == "":
		return errors.New("set api_key_env or api_key_file: the Dashboard API key")
	}
	if c.AuthHeader != "bearer" && c.AuthHeader != "x-cisco-meraki-api-key" {
		return fmt.Errorf("auth_header: %q is not supported; use bearer or x-cisco-meraki-api-key", c.AuthHeader)
	}
	if !orgRE.MatchString(c.OrganizationID) {
		if c.OrganizationID == "" {
			return errors.New("organization_id: required; find it with GET /organizations or in the dashboard footer")
		}
		return fmt.Errorf("organization_id: %q is not an organization id", c.OrganizationID)
	}
	if strings.TrimSpace(c.Group) == "" {
		return errors.New("group: required; name the policy object group your deny rule uses")
	}
	if !prefixRE.MatchString(c.ObjectPrefix) {
		return fmt.Errorf("object_prefix: %q must start with a letter and hold at most 32 letters, digits, _, ., + or -", c.ObjectPrefix)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	if c.CAFile != "" && c.InsecureSkipVerify {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file and leave certificate checks on")
	}
	return nil
}
