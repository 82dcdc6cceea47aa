package crowdstrike

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
)

// Clouds maps each Falcon cloud to its API base URL.
var Clouds = map[string]string{
	"us-1":     "https://api.crowdstrike.com",
	"us-2":     "https://api.us-2.crowdstrike.com",
	"eu-1":     "https://api.eu-1.crowdstrike.com",
	"us-gov-1": "https://api.laggar.gcw.crowdstrike.com",
}

// Config is the crowdstrike connector's settings.
type Config struct {
	// Cloud is the Falcon cloud of the tenant: us-1 (default), us-2, eu-1 or us-gov-1.
	Cloud string `yaml:"cloud"`
	// BaseURL overrides the cloud's API URL (a proxy, a test double). https only,
	// except for loopback addresses.
	BaseURL string `yaml:"base_url"`
	// ClientID is the API client's id (not a secret).
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv / ClientSecretFile name where the API client's secret comes from.
	// One is required.
	ClientSecretEnv  string `yaml:"client_secret_env"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// MemberCID locks the token to one member CID of a Flight Control (MSSP) parent.
	MemberCID string `yaml:"member_cid"`
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns TLS certificate checks off. Logged as a warning.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one HTTP request (default 15s).
	Timeout time.Duration `yaml:"timeout"`
	// SettleTimeout is how long Verify waits for a pending containment change to
	// settle (default 30s; 0 reads once).
	SettleTimeout time.Duration `yaml:"settle_timeout"`
	// PollInterval is the wait between two reads while a change is pending (default 2s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// DryRun records actions without calling the API.
	DryRun bool `yaml:"dry_run"`
}

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Cloud: "us-1", Timeout: 15 * time.Second, SettleTimeout: 30 * time.Second, PollInterval: 2 * time.Second}
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
	envRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	cidRE      = regexp.MustCompile(`^[A-Fa-f0-9]{32}(-[A-Fa-f0-9]{2})?$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if _, ok := Clouds[c.Cloud]; !ok {
		return fmt.Errorf("cloud: %q is not a Falcon cloud; use %s (or set base_url)", c.Cloud, cloudList())
	}
	if c.BaseURL != "" {
		if err := checkURL(c.BaseURL); err != nil {
			return fmt.Errorf("base_url: %w", err)
		}
	}
	if c.ClientID == "" {
		return errors.New("client_id: required; give the id of the Falcon API client (Hosts: Read and Write)")
	}
	if !clientIDRE.MatchString(c.ClientID) {
		return errors.New("client_id: must be the API client's id (letters, digits, - and _); the secret goes in client_secret_env or client_secret_file")
	}
	switch {
	case c.ClientSecretEnv != "" && c.ClientSecretFile != "":
		return errors.New("client_secret_env and client_secret_file are both set; keep one")
	case c.ClientSecretEnv == "" && c.ClientSecretFile == "":
		return errors.New("set client_secret_env or client_secret_file: the Falcon API client's secret")
	case c.ClientSecretEnv != "" && !envRE.MatchString(c.ClientSecretEnv):
		return errors.New("client_secret_env must name an environment variable (letters, digits and _), not hold the secret itself")
	}
	if c.MemberCID != "" && !cidRE.MatchString(c.MemberCID) {
		return fmt.Errorf("member_cid: %q is not a CID (32 hex digits, optionally -NN)", c.MemberCID)
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

// API returns the base URL requests go to: base_url, or the cloud's.
func (c Config) API() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	return Clouds[c.Cloud]
}

func cloudList() string {
	names := make([]string, 0, len(Clouds))
	for n := range Clouds {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func checkURL(s string) error {
	return vendorhttp.CheckAPIURL(s, "use client_secret_env or client_secret_file")
}
