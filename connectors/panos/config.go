package panos

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
	// Mode is how a block is made: "tag" (default) registers a tag on the address
	// through the User-ID API, no commit needed; "address_group" creates a static
	// address object per address, adds it to AddressGroup and commits.
	Mode string `yaml:"mode"`
	// AddressGroup is the static address group the objects join (mode
	// address_group); it must exist and be used in a deny rule.
	AddressGroup string `yaml:"address_group"`
	// ObjectPrefix starts the name of every address object warroom creates (mode
	// address_group, default "warroom-").
	ObjectPrefix string `yaml:"object_prefix"`
	// CommitAdmin scopes the commit to the changes of this administrator (a partial
	// commit, mode address_group). Default: username when the key is generated;
	// with a ready API key and no commit_admin the commit is a full one.
	CommitAdmin string `yaml:"commit_admin"`
	// CommitTimeout bounds how long warroom follows the commit job (mode
	// address_group, default 5m).
	CommitTimeout time.Duration `yaml:"commit_timeout"`
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

// The modes.
const (
	ModeTag          = "tag"
	ModeAddressGroup = "address_group"
)

// MaxTimeout is the longest tag timeout PAN-OS accepts, in seconds (30 days).
const MaxTimeout = 2592000

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Mode: ModeTag, Tag: "warroom-block", Vsys: "vsys1", Timeout: 15 * time.Second,
		ObjectPrefix: "warroom-", CommitTimeout: 5 * time.Minute}
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
	// PAN-OS object names: at most 63 letters, digits, spaces, hyphens, periods and
	// underscores, starting with a letter, digit or underscore.
	objectNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9 ._-]{0,62}$`)
	prefixRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,19}$`)
	adminRE      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._@-]{0,62}$`)
)

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the firewall's management address, e.g. https://fw.example.com")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use api_key_env or username with password_env")
	}
	if u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("url: %q must be the firewall's address only, without a path or query (the API lives at /api/)", vendorhttp.RedactURL(c.URL))
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
	switch c.Mode {
	case ModeTag:
		if c.AddressGroup != "" {
			return errors.New("address_group: only used with mode: address_group; set the mode or remove the key")
		}
		if c.CommitAdmin != "" {
			return errors.New("commit_admin: only used with mode: address_group (mode tag needs no commit)")
		}
	case ModeAddressGroup:
		if c.AddressGroup == "" {
			return errors.New("address_group: required with mode: address_group; name the static address group your deny rule uses")
		}
		if !objectNameRE.MatchString(c.AddressGroup) || strings.Contains(c.AddressGroup, "  ") {
			return fmt.Errorf("address_group: %q is not a PAN-OS object name (at most 63 letters, digits, spaces, -, . or _, starting with a letter, digit or _)", c.AddressGroup)
		}
		if !prefixRE.MatchString(c.ObjectPrefix) {
			return fmt.Errorf("object_prefix: %q must start with a letter, digit or _ and hold at most 20 letters, digits, -, . or _", c.ObjectPrefix)
		}
		if c.CommitAdmin != "" && !adminRE.MatchString(c.CommitAdmin) {
			return fmt.Errorf("commit_admin: %q is not an administrator name (letters, digits, -, ., _ and @)", c.CommitAdmin)
		}
		if c.CommitTimeout <= 0 {
			return fmt.Errorf("commit_timeout: %s must be positive", c.CommitTimeout)
		}
		if c.CommitTimeout > time.Hour {
			return fmt.Errorf("commit_timeout: %s is longer than 1h", c.CommitTimeout)
		}
	default:
		return fmt.Errorf("mode: %q is not a mode; use tag (User-ID tag registration, no commit) or address_group (address objects in a static group, with a commit)", c.Mode)
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
