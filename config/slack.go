package config

import "reflect"

// SlackChat configures the Slack platform (platforms.slack).
type SlackChat struct {
	Enabled bool `yaml:"enabled"`
}

func init() {
	sectionTypes["config.SlackChat"] = reflect.TypeOf(SlackChat{})
}

// validateSlack checks platforms.slack.
func (c *Config) validateSlack() error {
	return nil
}
