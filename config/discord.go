package config

import "reflect"

// DiscordChat configures the Discord platform (platforms.discord).
type DiscordChat struct {
	Enabled bool `yaml:"enabled"`
}

func init() {
	sectionTypes["config.DiscordChat"] = reflect.TypeOf(DiscordChat{})
}

// validateDiscord checks platforms.discord.
func (c *Config) validateDiscord() error {
	return nil
}
