package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// SlackChat configures the Slack platform (platforms.slack): one channel per
// notifiable incident, Block Kit messages with buttons, the /warroom slash command.
type SlackChat struct {
	Enabled bool `yaml:"enabled"`
	// Mode is how Slack reaches warroom: events (HTTP requests to /slack/events,
	// /slack/interactions and /slack/commands on warroom's listener, signed with the
	// signing secret) or socket (Socket Mode: warroom dials out over a websocket with
	// the app-level token; no public URL needed).
	Mode string `yaml:"mode"`
	// The bot token (xoxb-…), from an environment variable or a file.
	BotTokenEnv  string `yaml:"bot_token_env"`
	BotTokenFile string `yaml:"bot_token_file"`
	// The app-level token (xapp-…, scope connections:write), for mode socket.
	AppTokenEnv  string `yaml:"app_token_env"`
	AppTokenFile string `yaml:"app_token_file"`
	// The signing secret (Basic Information → App Credentials), for mode events.
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// APIURL is the Web API's base URL (default https://slack.com/api/): a proxy or a
	// test server can stand in for Slack.
	APIURL string `yaml:"api_url"`
	// SocketURL, when set, replaces the websocket URL apps.connections.open returns
	// (a proxy or a test server); empty uses Slack's answer.
	SocketURL string `yaml:"socket_url"`
	// TeamID, when set, refuses requests from any other workspace.
	TeamID string `yaml:"team_id"`
	// PrivateChannels opens incident channels as private channels.
	PrivateChannels bool `yaml:"private_channels"`
	// ChannelPrefix is put before every channel name, e.g. "sec-" for
	// #sec-inc-0042-ssh-brute-force.
	ChannelPrefix string `yaml:"channel_prefix"`
	// InviteUsers (user ids, U…) and InviteUsergroup (a user group id, S…) are
	// invited into every new incident channel.
	InviteUsers     []string `yaml:"invite_users"`
	InviteUsergroup string   `yaml:"invite_usergroup"`
	// ArchiveAfter archives a channel this long after its incident is resolved;
	// 0 keeps channels open.
	ArchiveAfter Duration `yaml:"archive_after"`
	// Command is the slash command's name (default /warroom).
	Command string `yaml:"command"`
	// GroupRefresh is how often user group memberships are re-read for roles.
	GroupRefresh Duration `yaml:"group_refresh"`
}

// Slack connection modes.
const (
	SlackModeEvents = "events"
	SlackModeSocket = "socket"
)

// DefaultSlackAPIURL is Slack's own Web API.
const DefaultSlackAPIURL = "https://slack.com/api/"

func init() {
	sectionTypes["config.SlackChat"] = reflect.TypeOf(SlackChat{})
}

var (
	slackUserID   = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	slackGroupID  = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	slackTeamID   = regexp.MustCompile(`^[TE][A-Z0-9]{2,20}$`)
	slackPrefix   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,19}$`)
	slackCommand  = regexp.MustCompile(`^/[a-z0-9_-]{1,31}$`)
	slackSecretEn = envName
)

// validateSlack applies the defaults of platforms.slack and checks it.
func (c *Config) validateSlack() error {
	s := &c.Platforms.Slack
	if s.Mode == "" {
		s.Mode = SlackModeEvents
	}
	if s.APIURL == "" {
		s.APIURL = DefaultSlackAPIURL
	}
	if s.Command == "" {
		s.Command = "/warroom"
	}
	if s.GroupRefresh == 0 {
		s.GroupRefresh = Duration(5 * time.Minute)
	}
	if !s.Enabled {
		return nil
	}
	const w = "platforms.slack"
	switch s.Mode {
	case SlackModeEvents, SlackModeSocket:
	default:
		return fmt.Errorf("%s.mode: %q; want events (Slack calls warroom's /slack/* URLs) or socket (Socket Mode, no public URL)", w, s.Mode)
	}
	if err := slackSecret(w, "bot_token", s.BotTokenEnv, s.BotTokenFile, "the bot token (xoxb-…)"); err != nil {
		return err
	}
	if s.Mode == SlackModeSocket {
		if err := slackSecret(w, "app_token", s.AppTokenEnv, s.AppTokenFile, "the app-level token (xapp-…) Socket Mode connects with"); err != nil {
			return err
		}
	} else if err := slackSecret(w, "signing_secret", s.SigningSecretEnv, s.SigningSecretFile, "the signing secret every request from Slack is verified with"); err != nil {
		return err
	}
	u, err := url.Parse(s.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("%s.api_url: %q; want an http(s) URL like %s", w, s.APIURL, DefaultSlackAPIURL)
	}
	if !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	if s.SocketURL != "" {
		u, err := url.Parse(s.SocketURL)
		if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" || u.User != nil {
			return fmt.Errorf("%s.socket_url: %q; want a ws:// or wss:// URL, or leave it empty to use the one Slack hands out", w, s.SocketURL)
		}
		if s.Mode != SlackModeSocket {
			return fmt.Errorf("%s.socket_url: set, but mode is %s; it is for mode socket", w, s.Mode)
		}
	}
	if s.TeamID != "" && !slackTeamID.MatchString(s.TeamID) {
		return fmt.Errorf("%s.team_id: %q; want a workspace id like T0123ABCD", w, s.TeamID)
	}
	if s.ChannelPrefix != "" && !slackPrefix.MatchString(s.ChannelPrefix) {
		return fmt.Errorf("%s.channel_prefix: %q; use lowercase letters, digits, '-' and '_' (at most 20)", w, s.ChannelPrefix)
	}
	for i, id := range s.InviteUsers {
		if !slackUserID.MatchString(id) {
			return fmt.Errorf("%s.invite_users[%d]: %q; want a Slack user id like U0123ABCD (profile → ⋮ → Copy member ID), not a name", w, i, id)
		}
	}
	if s.InviteUsergroup != "" && !slackGroupID.MatchString(s.InviteUsergroup) {
		return fmt.Errorf("%s.invite_usergroup: %q; want a user group id like S0123ABCD", w, s.InviteUsergroup)
	}
	if d := time.Duration(s.ArchiveAfter); d != 0 && (d < time.Minute || d > 30*24*time.Hour) {
		return fmt.Errorf("%s.archive_after: %s; want 0 (never) or between 1m and 720h", w, d)
	}
	if !slackCommand.MatchString(s.Command) {
		return fmt.Errorf("%s.command: %q; want a slash command like /warroom", w, s.Command)
	}
	if d := time.Duration(s.GroupRefresh); d < 10*time.Second || d > 24*time.Hour {
		return fmt.Errorf("%s.group_refresh: %s; want between 10s and 24h", w, d)
	}
	for i, r := range c.Chat.Roles {
		if r.Platform != "slack" {
			continue
		}
		if r.User != "" && !slackUserID.MatchString(r.User) {
			return fmt.Errorf("chat.roles[%d].user: %q; want a Slack user id like U0123ABCD", i, r.User)
		}
		if r.Group != "" && !slackGroupID.MatchString(r.Group) {
			return fmt.Errorf("chat.roles[%d].group: %q; want a Slack user group id like S0123ABCD", i, r.Group)
		}
	}
	return nil
}

// slackSecret checks that a secret is named exactly once, by an environment variable
// name or a file.
func slackSecret(w, key, env, file, what string) error {
	switch {
	case env != "" && file != "":
		return fmt.Errorf("%s: %s_env and %s_file both set; keep one", w, key, key)
	case env == "" && file == "":
		return fmt.Errorf("%s: no %s; set %s_env (an environment variable) or %s_file (a file) holding %s", w, key, key, key, what)
	case env != "" && !slackSecretEn.MatchString(env):
		// The value is not repeated: it may be the secret itself, pasted by mistake.
		return fmt.Errorf("%s.%s_env: not an environment variable name; it names the variable (like SLACK_%s), it does not hold the secret", w, key, strings.ToUpper(key))
	}
	return nil
}
