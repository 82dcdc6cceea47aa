package fortigate

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
)

// Config is the fortigate connector's settings.
type Config struct {
	// URL is the FortiGate's management address, https://host[:port]. The REST API
	// lives at <url>/api/v2/.
	URL string `yaml:"url"`
	// TokenEnv / TokenFile name where the REST API administrator's token comes from
	// (sent as Authorization: Bearer). One is required.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// VDOM is the virtual domain the bans apply to (default root).
	VDOM string `yaml:"vdom"`
	// Mode is how an address is blocked: "ban" (default) puts it on the quarantine
	// list with the TTL as expiry; "address_group" creates an address object and adds
	// it to Group (IPv4) or Group6 (IPv6), which a deny policy uses.
	Mode string `yaml:"mode"`
	// Group is the IPv4 address group (firewall addrgrp) of address_group mode.
	Group string `yaml:"group"`
	// Group6 is the IPv6 address group (firewall addrgrp6) of address_group mode;
	// empty refuses IPv6 targets.
	Group6 string `yaml:"group6"`
	// ObjectPrefix starts the names of the address objects warroom creates
	// (default "warroom_").
	ObjectPrefix string `yaml:"object_prefix"`
	// CAFile is a PEM bundle of the roots trusted for the FortiGate's certificate;
	// when set, only these roots are trusted (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns certificate verification off. It is logged as a
	// warning at start-up; use ca_file instead.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one API request (default 15s).
	Timeout time.Duration `yaml:"timeout"`
	// DryRun records actions without calling the FortiGate.
	DryRun bool `yaml:"dry_run"`
}

// Modes.
const (
	ModeBan          = "ban"
	ModeAddressGroup = "address_group"
)

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{VDOM: "root", Mode: ModeBan, ObjectPrefix: "warroom_", Timeout: 15 * time.Second}
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
	vdomRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,31}$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-][A-Za-z0-9_. -]{0,78}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,30}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the FortiGate's management address, e.g. https://fgt.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use token_env or token_file")
	}
	if u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("url: %q must be the FortiGate's address only, without a path or query (the API lives at /api/v2/)", vendorhttp.RedactURL(c.URL))
	}
	if c.TokenEnv != "" && !envRE.MatchString(c.TokenEnv) {
		return errors.New("token_env must name an environment variable (letters, digits and _), not hold the token itself")
	}
	switch {
	case c.TokenEnv != "" && c.TokenFile != "":
		return errors.New("token_env and token_file are both set; keep one")
	case c.TokenEnv == "" && c.TokenFile == "":
		return errors.New("set token_env or token_file: the REST API administrator's token")
	}
	if !vdomRE.MatchString(c.VDOM) {
		return fmt.Errorf("vdom: %q is not a VDOM name (letters, digits, _ . -, at most 31)", c.VDOM)
	}
	switch c.Mode {
	case ModeBan:
		if c.Group != "" || c.Group6 != "" {
			return errors.New("group/group6: only used with mode: address_group; remove them or set the mode")
		}
	case ModeAddressGroup:
		if c.Group == "" && c.Group6 == "" {
			return errors.New("group: required with mode: address_group; name the address group your deny policy uses")
		}
		for _, g := range []struct{ key, val string }{{"group", c.Group}, {"group6", c.Group6}} {
			if g.val != "" && !nameRE.MatchString(g.val) {
				return fmt.Errorf("%s: %q is not an object name (letters, digits, _ . - and spaces, at most 79)", g.key, g.val)
			}
		}
		if !prefixRE.MatchString(c.ObjectPrefix) {
			return fmt.Errorf("object_prefix: %q must be 1 to 30 letters, digits, _ or -", c.ObjectPrefix)
		}
	default:
		return fmt.Errorf("mode: %q is not a mode; use ban or address_group", c.Mode)
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	return nil
}
