package config

import "reflect"

// AI configures the language model that writes incident narratives (ai:). Without
// one, rooms get the template narrative.
type AI struct {
	Enabled bool `yaml:"enabled"`
}

func init() {
	sectionTypes["config.AI"] = reflect.TypeOf(AI{})
}

// validateAI checks the ai section.
func (c *Config) validateAI() error {
	return nil
}
