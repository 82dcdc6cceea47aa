package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// DiscordChat configures the Discord platform (platforms.discord).
type DiscordChat struct {
	Enabled bool `yaml:"enabled"`
	// Mode is how clicks and slash commands reach warroom: gateway (a bot connection
	// warroom opens to Discord) or http (Discord calls POST /discord/interactions on
	// warroom's listener, which must then be reachable from the internet over HTTPS).
	Mode string `yaml:"mode"`
	// ApplicationID is the application's id (General Information in the developer
	// portal).
	ApplicationID string `yaml:"application_id"`
	// PublicKey is the application's public key (hex), which signs HTTP interactions.
	// Required in http mode. It is public: it may sit in the file.
	PublicKey string `yaml:"public_key"`
	// The bot token, from token_env or token_file.
	Secret `yaml:",inline"`
	// GuildID is the server incident rooms open in and slash commands are registered
	// for.
	GuildID string `yaml:"guild_id"`
	// CategoryID is the category incident channels are created under (channel mode).
	CategoryID string `yaml:"category_id"`
	// ThreadChannelID, when set, opens a thread per incident in this channel instead
	// of a channel per incident.
	ThreadChannelID string `yaml:"thread_channel_id"`
	// Private makes every incident room private; without it only incidents the bot
	// marks private are. A private channel is visible to ResponderRoleIDs (and the
	// bot) only; a private thread to the people invited and those who can manage
	// threads.
	Private bool `yaml:"private"`
	// ResponderRoleIDs are the guild roles that see private incident channels.
	ResponderRoleIDs []string `yaml:"responder_role_ids"`
	// APIURL stands in for https://discord.com (REST and, through GET /gateway, the
	// gateway): a proxy or a test server.
	APIURL string `yaml:"api_url"`
	// ArchiveOnClose archives an incident's room when the incident closes: a thread
	// is archived; a channel moves to ArchiveCategoryID when set.
	ArchiveOnClose bool `yaml:"archive_on_close"`
	// ArchiveCategoryID is where closed incident channels move (channel mode).
	ArchiveCategoryID string `yaml:"archive_category_id"`
	// LockOnClose makes a closed room read-only: a thread is locked; in a channel,
	// @everyone loses Send Messages.
	LockOnClose bool `yaml:"lock_on_close"`
}

// Discord interaction modes.
const (
	DiscordGateway = "gateway"
	DiscordHTTP    = "http"
)

// DefaultDiscordAPIURL is Discord's own address.
const DefaultDiscordAPIURL = "https://discord.com"

func init() {
	sectionTypes["config.DiscordChat"] = reflect.TypeOf(DiscordChat{})
}

var snowflake = regexp.MustCompile(`^[0-9]{15,21}$`)

// validateDiscord checks platforms.discord and fills in its defaults.
func (c *Config) validateDiscord() error {
	d := &c.Platforms.Discord
	if !d.Enabled {
		return nil
	}
	const where = "platforms.discord"
	if d.Mode == "" {
		d.Mode = DiscordGateway
	}
	if d.APIURL == "" {
		d.APIURL = DefaultDiscordAPIURL
	}
	switch d.Mode {
	case DiscordGateway, DiscordHTTP:
	default:
		return fmt.Errorf("%s.mode: %q; want gateway (warroom connects to Discord) or http (Discord calls POST /discord/interactions)", where, d.Mode)
	}
	ids := []struct{ key, v string }{{"application_id", d.ApplicationID}, {"guild_id", d.GuildID}}
	for _, id := range ids {
		if id.v == "" {
			return fmt.Errorf("%s.%s: required; copy it from Discord (Developer Mode: right click, Copy ID)", where, id.key)
		}
	}
	ids = append(ids, struct{ key, v string }{"category_id", d.CategoryID}, struct{ key, v string }{"thread_channel_id", d.ThreadChannelID},
		struct{ key, v string }{"archive_category_id", d.ArchiveCategoryID})
	for _, id := range ids {
		if id.v != "" && !snowflake.MatchString(id.v) {
			return fmt.Errorf("%s.%s: %q is not a Discord id (a number of 15 to 21 digits)", where, id.key, id.v)
		}
	}
	for i, r := range d.ResponderRoleIDs {
		if !snowflake.MatchString(r) {
			return fmt.Errorf("%s.responder_role_ids[%d]: %q is not a Discord role id (a number of 15 to 21 digits)", where, i, r)
		}
	}
	if err := d.Secret.validate(where); err != nil {
		return err
	}
	if d.Mode == DiscordHTTP || d.PublicKey != "" {
		if d.PublicKey == "" {
			return fmt.Errorf("%s.public_key: required in http mode; copy the application's public key from the developer portal", where)
		}
		if b, err := hex.DecodeString(d.PublicKey); err != nil || len(b) != 32 {
			return fmt.Errorf("%s.public_key: not an Ed25519 public key (64 hexadecimal characters, as the developer portal shows it)", where)
		}
	}
	if d.ThreadChannelID != "" && d.CategoryID != "" {
		return fmt.Errorf("%s: category_id and thread_channel_id both set; channels go in a category, threads in a channel: keep one", where)
	}
	if d.ThreadChannelID != "" && d.ArchiveCategoryID != "" {
		return fmt.Errorf("%s.archive_category_id: threads are archived in place; it applies to channels only", where)
	}
	if d.ArchiveCategoryID != "" && !d.ArchiveOnClose {
		return fmt.Errorf("%s.archive_category_id: set but archive_on_close is false; set archive_on_close: true or remove it", where)
	}
	if d.Private && d.ThreadChannelID == "" && len(d.ResponderRoleIDs) == 0 {
		return fmt.Errorf("%s.responder_role_ids: private channels would be visible to nobody but the bot; list the roles that may see them", where)
	}
	u, err := url.Parse(d.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("%s.api_url: %q; want an http(s) URL without credentials, like %s", where, d.APIURL, DefaultDiscordAPIURL)
	}
	d.APIURL = strings.TrimSuffix(d.APIURL, "/")
	return nil
}
