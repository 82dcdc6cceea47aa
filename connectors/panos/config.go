package panos

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/warroom/warroom/connectors"
)

// Config is the panos connector's settings.
type Config struct {
	// URL is the firewall's management address, https://host[:port]. The XML API
	// lives at <url>/api/.
	URL string `yaml:"url"`
	// APIKeyEnv / APIKeyFile name where a ready API key comes from. Use these, or
	// Username with PasswordEnv / PasswordFile to have the connector generate the key
	// (type=keygen) and generate it again when the firewall stops accepting it.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// Username is the administrator the key is generated for. Not a secret.
	Username string `yaml:"username"`
	// PasswordEnv / PasswordFile name where that administrator's password comes from.
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// Tag is the tag registered on blocked addresses; a Dynamic Address Group matching
	// it, used in a deny rule, enforces the block (default "warroom-block").
	Tag string `yaml:"tag"`
	// Vsys is the virtual system the tags are registered in (default vsys1).
	Vsys string `yaml:"vsys"`
	// Persistent keeps registrations across a firewall reboot (default true).
	Persistent *bool `yaml:"persistent"`
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

// MaxTimeout is the longest tag timeout PAN-OS accepts, in seconds (30 days).
const MaxTimeout = 2592000

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Tag: "warroom-block", Vsys: "vsys1", Timeout: 15 * time.Second}
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
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	vsysRE = regexp.MustCompile(`^vsys[0-9]{1,3}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the firewall's management address, e.g. https://fw.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", redactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use api_key_env or username with password_env")
	}
	if u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("url: %q must be the firewall's address only, without a path or query (the API lives at /api/)", redactURL(c.URL))
	}
	for _, f := range []struct{ key, val string }{{"api_key_env", c.APIKeyEnv}, {"password_env", c.PasswordEnv}} {
		if f.val != "" && !envRE.MatchString(f.val) {
			return fmt.Errorf("%s must name an environment variable (letters, digits and _), not hold the secret itself", f.key)
		}
	}
	key := c.APIKeyEnv != "" || c.APIKeyFile != ""
	pass := c.PasswordEnv != "" || c.PasswordFile != ""
	switch {
	case c.APIKeyEnv != "" && c.APIKeyFile != "":
		return errors.New("api_key_env and api_key_file are both set; keep one")
	case c.PasswordEnv != "" && c.PasswordFile != "":
		return errors.New("password_env and password_file are both set; keep one")
	case key && (pass || c.Username != ""):
		return errors.New("api_key_env/api_key_file and username/password_* are both set; use an API key or a user to generate one, not both")
	case !key && !pass && c.Username == "":
		return errors.New("set api_key_env or api_key_file, or username with password_env or password_file")
	case !key && c.Username == "":
		return errors.New("username: required with password_env or password_file")
	case !key && !pass:
		return errors.New("password_env or password_file: required with username")
	}
	if strings.ContainsAny(c.Username, "\r\n") {
		return errors.New("username: must be a single line")
	}
	if err := validTag(c.Tag); err != nil {
		return fmt.Errorf("tag: %w", err)
	}
	if !vsysRE.MatchString(c.Vsys) {
		return fmt.Errorf("vsys: %q is not a virtual system name; use vsys1, vsys2...", c.Vsys)
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		return errors.New("ca_file and insecure_skip_verify are both set; keep ca_file")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	return nil
}

// validTag applies PAN-OS's rules for registered tags: at most 127 characters, no
// quotes, no run of spaces, not the words and/or/not.
func validTag(t string) error {
	switch {
	case t == "":
		return errors.New("must not be empty")
	case len(t) > 127:
		return fmt.Errorf("%q is longer than 127 characters", t)
	case strings.ContainsAny(t, `'"<>&`) || strings.ContainsAny(t, "\r\n\t"):
		return fmt.Errorf("%q must not contain quotes, <, >, & or control characters", t)
	case strings.Contains(t, "  "):
		return fmt.Errorf("%q must not contain consecutive spaces", t)
	}
	switch strings.ToLower(t) {
	case "and", "or", "not":
		return fmt.Errorf("%q is a reserved word in match criteria", t)
	}
	return nil
}

// redactURL drops credentials, query and fragment for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#@"); i >= 0 {
			return s[:i]
		}
		return s
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}
