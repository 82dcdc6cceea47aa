package config

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Chat configures the chat layer every platform shares.
type Chat struct {
	// UpdateInterval is the least time between two rolling updates of new alerts, or
	// two count-only edits of the opening message, in one room.
	UpdateInterval Duration `yaml:"update_interval"`
	// Roles gives platform users and groups a role. The web chat's users get theirs
	// in platforms.local.users.
	Roles []ChatRole `yaml:"roles"`
	// DefaultRole is the role of platform users no entry names; empty for none (they
	// may read nothing and do nothing).
	DefaultRole Role `yaml:"default_role"`
}

// ChatRole is one entry of chat.roles: a platform user or group and its role.
type ChatRole struct {
	Platform string `yaml:"platform"`
	User     string `yaml:"user"`
	Group    string `yaml:"group"`
	Role     Role   `yaml:"role"`
}

// Platforms configures the chat platforms incident rooms open on.
type Platforms struct {
	Local   LocalChat   `yaml:"local"`
	Slack   SlackChat   `yaml:"slack"`
	Discord DiscordChat `yaml:"discord"`
}

// LocalChat is the built-in web chat, served on the main listener under /chat/.
type LocalChat struct {
	Enabled bool `yaml:"enabled"`
	// Auth is none (a user picker; only on a loopback listen address), password
	// (bcrypt hashes) or token (a token per user).
	Auth  string      `yaml:"auth"`
	Users []LocalUser `yaml:"users"`
	// SessionTTL is how long a login lasts without activity.
	SessionTTL Duration `yaml:"session_ttl"`
}

// LocalUser is one user of the web chat.
type LocalUser struct {
	Name        string `yaml:"name"`
	DisplayName string `yaml:"display_name"`
	Role        Role   `yaml:"role"`
	// PasswordHashEnv / PasswordHashFile name where the user's bcrypt hash is (auth:
	// password), e.g. the output of `htpasswd -nbB user pass` after the colon.
	PasswordHashEnv  string `yaml:"password_hash_env"`
	PasswordHashFile string `yaml:"password_hash_file"`
	// Secret names the user's token (auth: token).
	Secret `yaml:",inline"`
}

// Web chat authentication modes.
const (
	AuthNone     = "none"
	AuthPassword = "password"
	AuthToken    = "token"
)

// ChatPlatforms are the platform names chat.roles may name.
var ChatPlatforms = []string{"slack", "discord"}

func init() {
	sectionTypes["config.Chat"] = reflect.TypeOf(Chat{})
	sectionTypes["config.ChatRole"] = reflect.TypeOf(ChatRole{})
	sectionTypes["config.Platforms"] = reflect.TypeOf(Platforms{})
	sectionTypes["config.LocalChat"] = reflect.TypeOf(LocalChat{})
	sectionTypes["config.LocalUser"] = reflect.TypeOf(LocalUser{})
}

// DefaultChat is the chat section used for keys the file leaves out.
func DefaultChat() Chat { return Chat{UpdateInterval: Duration(30 * time.Second)} }

// DefaultPlatforms is the platforms section used for keys the file leaves out: the
// web chat, on.
func DefaultPlatforms() Platforms {
	return Platforms{Local: LocalChat{Enabled: true, Auth: AuthNone, SessionTTL: Duration(12 * time.Hour)}}
}

// IsLoopback reports whether a listen address (host:port) only accepts connections
// from this machine.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// CheckListen refuses a web chat without authentication on an address other machines
// can reach. It runs at validation and again at start, when --listen may have
// changed the address.
func (l LocalChat) CheckListen(listen string) error {
	if l.Enabled && l.Auth == AuthNone && !IsLoopback(listen) {
		return fmt.Errorf("platforms.local.auth: none serves the web chat without a login, which is allowed only on a loopback address, and listen is %s; set auth: password or auth: token (with platforms.local.users), or listen on 127.0.0.1", listen)
	}
	return nil
}

func (c *Config) validateChat() error {
	ch := c.Chat
	if d := time.Duration(ch.UpdateInterval); d < time.Second || d > time.Hour {
		return fmt.Errorf("chat.update_interval: %s; want between 1s and 1h", d)
	}
	if ch.DefaultRole != "" && ch.DefaultRole.Rank() == 0 {
		return fmt.Errorf("chat.default_role: %q; want viewer, responder, approver, admin or empty for none", ch.DefaultRole)
	}
	for i, r := range ch.Roles {
		where := fmt.Sprintf("chat.roles[%d]", i)
		known := false
		for _, p := range ChatPlatforms {
			known = known || r.Platform == p
		}
		switch {
		case r.Platform == "local":
			return fmt.Errorf("%s.platform: the web chat's users get their role in platforms.local.users", where)
		case !known:
			return fmt.Errorf("%s.platform: %q; want one of %s", where, r.Platform, strings.Join(ChatPlatforms, ", "))
		case r.User != "" && r.Group != "":
			return fmt.Errorf("%s: user and group both set; one entry names one of them", where)
		case r.User == "" && r.Group == "":
			return fmt.Errorf("%s: name a user (a platform user id) or a group (a user group or role id)", where)
		case r.Role.Rank() == 0:
			return fmt.Errorf("%s.role: %q; want viewer, responder, approver or admin", where, r.Role)
		}
	}
	return c.Platforms.Local.validate(c.Listen)
}

func (l LocalChat) validate(listen string) error {
	if !l.Enabled {
		return nil
	}
	switch l.Auth {
	case AuthNone, AuthPassword, AuthToken:
	default:
		return fmt.Errorf("platforms.local.auth: %q; want none, password or token", l.Auth)
	}
	if d := time.Duration(l.SessionTTL); d < 5*time.Minute || d > 30*24*time.Hour {
		return fmt.Errorf("platforms.local.session_ttl: %s; want between 5m and 720h", d)
	}
	if l.Auth != AuthNone && len(l.Users) == 0 {
		return fmt.Errorf("platforms.local.users: none configured; auth: %s needs at least one user", l.Auth)
	}
	seen := map[string]bool{}
	for i, u := range l.Users {
		where := fmt.Sprintf("platforms.local.users[%d]", i)
		if !userName.MatchString(u.Name) {
			return fmt.Errorf("%s.name: %q; use lowercase letters, digits, '.', '-' and '_' (at most 32)", where, u.Name)
		}
		if seen[u.Name] {
			return fmt.Errorf("%s.name: %q is used twice", where, u.Name)
		}
		seen[u.Name] = true
		if u.Role.Rank() == 0 {
			return fmt.Errorf("%s.role: %q; want viewer, responder, approver or admin", where, u.Role)
		}
		hasPw := u.PasswordHashEnv != "" || u.PasswordHashFile != ""
		hasTok := u.TokenEnv != "" || u.TokenFile != ""
		switch l.Auth {
		case AuthNone:
			if hasPw || hasTok {
				return fmt.Errorf("%s: auth is none, so a password hash or token would be ignored; remove it or set auth", where)
			}
		case AuthPassword:
			if hasTok {
				return fmt.Errorf("%s: auth is password; token_env and token_file are for auth: token", where)
			}
			switch {
			case u.PasswordHashEnv != "" && u.PasswordHashFile != "":
				return fmt.Errorf("%s: password_hash_env and password_hash_file both set; keep one", where)
			case !hasPw:
				return fmt.Errorf("%s: no password; set password_hash_env or password_hash_file (a bcrypt hash)", where)
			case u.PasswordHashEnv != "" && !envName.MatchString(u.PasswordHashEnv):
				return fmt.Errorf("%s.password_hash_env: not an environment variable name; it names the variable (like WARROOM_ALICE_HASH), it does not hold the hash", where)
			}
		case AuthToken:
			if hasPw {
				return fmt.Errorf("%s: auth is token; password_hash_env and password_hash_file are for auth: password", where)
			}
			if err := u.Secret.validate(where); err != nil {
				return err
			}
		}
	}
	return l.CheckListen(listen)
}

// Display is the user's name for display.
func (u LocalUser) Display() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}
