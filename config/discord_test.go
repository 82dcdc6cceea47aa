package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

const discordBase = "sources:\n  - {name: s, format: generic, token_env: T}\n"

// TestInvalidDiscordConfigs checks each file in testdata/invalid_discord fails with
// exactly this error.
func TestInvalidDiscordConfigs(t *testing.T) {
	want := map[string]string{
		"bad_mode.yaml":                         `platforms.discord.mode: "websocket"; want gateway (warroom connects to Discord) or http (Discord calls POST /discord/interactions)`,
		"no_application.yaml":                   `platforms.discord.application_id: required; copy it from Discord (Developer Mode: right click, Copy ID)`,
		"no_guild.yaml":                         `platforms.discord.guild_id: required; copy it from Discord (Developer Mode: right click, Copy ID)`,
		"bad_guild.yaml":                        `platforms.discord.guild_id: "warroom-guild" is not a Discord id (a number of 15 to 21 digits)`,
		"no_token.yaml":                         `platforms.discord: no token; set token_env (an environment variable) or token_file (a file holding it)`,
		"http_no_key.yaml":                      `platforms.discord.public_key: required in http mode; copy the application's public key from the developer portal`,
		"bad_key.yaml":                          `platforms.discord.public_key: not an Ed25519 public key (64 hexadecimal characters, as the developer portal shows it)`,
		"category_and_thread.yaml":              `platforms.discord: category_id and thread_channel_id both set; channels go in a category, threads in a channel: keep one`,
		"private_no_roles.yaml":                 `platforms.discord.responder_role_ids: private channels would be visible to nobody but the bot; list the roles that may see them`,
		"bad_role_id.yaml":                      `platforms.discord.responder_role_ids[0]: "responders" is not a Discord role id (a number of 15 to 21 digits)`,
		"bad_api_url.yaml":                      `platforms.discord.api_url: "ftp://proxy.example"; want an http(s) URL without credentials, like https://discord.com`,
		"archive_category_without_archive.yaml": `platforms.discord.archive_category_id: set but archive_on_close is false; set archive_on_close: true or remove it`,
		"unknown_key.yaml":                      `line 6: unknown key "token"; allowed here: enabled, mode, application_id, public_key, token_env, token_file, guild_id, category_id, thread_channel_id, private, responder_role_ids, api_url, archive_on_close, archive_category_id, lock_on_close`,
	}
	errs := checkInvalid(t, "testdata/invalid_discord", want, func(b []byte) []byte { return append(b, discordBase...) })
	for name, err := range errs {
		if err != nil && strings.Contains(err.Error(), "pasted.discord.secret") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

// TestDiscordDefaults checks a minimal section gets gateway mode and Discord's own
// address, and that http mode takes a public key.
func TestDiscordDefaults(t *testing.T) {
	c, err := Parse([]byte(`platforms:
  discord:
    enabled: true
    application_id: "100000000000000001"
    guild_id: "100000000000000002"
    token_env: DISCORD_TOKEN
` + discordBase))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Platforms.Discord
	if d.Mode != DiscordGateway || d.APIURL != DefaultDiscordAPIURL || d.TokenEnv != "DISCORD_TOKEN" {
		t.Errorf("defaults: %+v", d)
	}
	c, err = Parse([]byte(`platforms:
  discord:
    enabled: true
    mode: http
    public_key: "` + strings.Repeat("ab", 32) + `"
    application_id: "100000000000000001"
    guild_id: "100000000000000002"
    thread_channel_id: "100000000000000004"
    api_url: http://127.0.0.1:9000/
    archive_on_close: true
    lock_on_close: true
    token_file: /run/secrets/discord
` + discordBase))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Platforms.Discord; d.Mode != DiscordHTTP || d.APIURL != "http://127.0.0.1:9000" || !d.LockOnClose {
		t.Errorf("http mode: %+v", d)
	}
	// Disabled, nothing is checked.
	if _, err := Parse([]byte("platforms:\n  discord:\n    enabled: false\n    mode: nonsense\n" + discordBase)); err != nil {
		t.Errorf("disabled section checked: %v", err)
	}
}

// TestExampleDocumentsDiscord checks config.example.yaml's discord section shows
// every key, and that it loads (disabled) as shipped.
func TestExampleDocumentsDiscord(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := strings.Index(s, "# --- discord"), strings.Index(s, "# --- end discord")
	if start < 0 || end < start {
		t.Fatal("config.example.yaml has no discord section")
	}
	section := s[start:end]
	for _, k := range yamlKeys(reflect.TypeOf(DiscordChat{})) {
		if !strings.Contains(section, " "+k+":") {
			t.Errorf("the discord section of config.example.yaml lacks %s", k)
		}
	}
	c, err := Load("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Platforms.Discord.Enabled {
		t.Error("Discord is on in the example")
	}
}
