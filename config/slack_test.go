package config

import (
	"strings"
	"testing"
	"time"
)

func TestSlackDefaults(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\nplatforms:\n  slack:\n    enabled: true\n    bot_token_env: SLACK_BOT_TOKEN\n    signing_secret_file: /run/secrets/slack-signing\n    api_url: http://127.0.0.1:9999/api\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Platforms.Slack
	if s.Mode != SlackModeEvents || s.Command != "/warroom" || time.Duration(s.GroupRefresh) != 5*time.Minute ||
		s.APIURL != "http://127.0.0.1:9999/api/" || s.PrivateChannels || s.ArchiveAfter != 0 {
		t.Errorf("slack defaults: %+v", s)
	}
	off, err := Parse([]byte("sources:\n  - {name: s, format: generic, token_env: T}\n"))
	if err != nil || off.Platforms.Slack.Enabled || off.Platforms.Slack.APIURL != DefaultSlackAPIURL {
		t.Errorf("slack off by default: %+v %v", off.Platforms.Slack, err)
	}
}

func TestSlackSocketModeConfig(t *testing.T) {
	c, err := Parse([]byte(`sources:
  - {name: s, format: generic, token_env: T}
chat:
  roles:
    - {platform: slack, user: U0123ABCD, role: approver}
    - {platform: slack, group: S0456EFGH, role: responder}
platforms:
  slack:
    enabled: true
    mode: socket
    bot_token_env: SLACK_BOT_TOKEN
    app_token_env: SLACK_APP_TOKEN
    socket_url: wss://proxy.example/link
    private_channels: true
    channel_prefix: sec-
    invite_users: [U0123ABCD]
    invite_usergroup: S0456EFGH
    archive_after: 24h
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Platforms.Slack
	if s.Mode != SlackModeSocket || !s.PrivateChannels || s.ChannelPrefix != "sec-" || time.Duration(s.ArchiveAfter) != 24*time.Hour {
		t.Errorf("%+v", s)
	}
}

// TestInvalidSlackConfigs checks each file in testdata/invalid_slack fails with
// exactly this error.
func TestInvalidSlackConfigs(t *testing.T) {
	want := map[string]string{
		"bad_mode.yaml":            `platforms.slack.mode: "rtm"; want events (Slack calls warroom's /slack/* URLs) or socket (Socket Mode, no public URL)`,
		"no_bot_token.yaml":        `platforms.slack: no bot_token; set bot_token_env (an environment variable) or bot_token_file (a file) holding the bot token (xoxb-…)`,
		"both_bot_tokens.yaml":     `platforms.slack: bot_token_env and bot_token_file both set; keep one`,
		"socket_no_app_token.yaml": `platforms.slack: no app_token; set app_token_env (an environment variable) or app_token_file (a file) holding the app-level token (xapp-…) Socket Mode connects with`,
		"events_no_secret.yaml":    `platforms.slack: no signing_secret; set signing_secret_env (an environment variable) or signing_secret_file (a file) holding the signing secret every request from Slack is verified with`,
		"token_in_env_key.yaml":    `platforms.slack.bot_token_env: not an environment variable name; it names the variable (like SLACK_BOT_TOKEN), it does not hold the secret`,
		"bad_api_url.yaml":         `platforms.slack.api_url: "slack.com/api"; want an http(s) URL like https://slack.com/api/`,
		"socket_url_events.yaml":   `platforms.slack.socket_url: set, but mode is events; it is for mode socket`,
		"bad_socket_url.yaml":      `platforms.slack.socket_url: "https://proxy.example/socket"; want a ws:// or wss:// URL, or leave it empty to use the one Slack hands out`,
		"bad_invite_user.yaml":     `platforms.slack.invite_users[0]: "alice"; want a Slack user id like U0123ABCD (profile → ⋮ → Copy member ID), not a name`,
		"bad_usergroup.yaml":       `platforms.slack.invite_usergroup: "@soc"; want a user group id like S0123ABCD`,
		"bad_prefix.yaml":          `platforms.slack.channel_prefix: "SOC "; use lowercase letters, digits, '-' and '_' (at most 20)`,
		"bad_archive_after.yaml":   `platforms.slack.archive_after: 10s; want 0 (never) or between 1m and 720h`,
		"bad_command.yaml":         `platforms.slack.command: "warroom"; want a slash command like /warroom`,
		"bad_team_id.yaml":         `platforms.slack.team_id: "acme"; want a workspace id like T0123ABCD`,
		"bad_group_refresh.yaml":   `platforms.slack.group_refresh: 1s; want between 10s and 24h`,
		"unknown_key.yaml":         `line 6: unknown key "bot_token"; allowed here: enabled, mode, bot_token_env, bot_token_file, app_token_env, app_token_file, signing_secret_env, signing_secret_file, api_url, socket_url, team_id, private_channels, channel_prefix, invite_users, invite_usergroup, archive_after, command, group_refresh`,
		"role_user_name.yaml":      `chat.roles[0].user: "alice"; want a Slack user id like U0123ABCD`,
		"role_group_name.yaml":     `chat.roles[0].group: "soc"; want a Slack user group id like S0123ABCD`,
	}
	errs := checkInvalid(t, "testdata/invalid_slack", want, func(b []byte) []byte { return append([]byte(sourcesBase), b...) })
	for name, err := range errs {
		if err != nil && strings.Contains(err.Error(), "secretvalue") {
			t.Errorf("%s: the error repeats a secret", name)
		}
	}
}
