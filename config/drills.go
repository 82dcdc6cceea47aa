package config

import "reflect"

// Drills configures scheduled gap drills (drills:).
type Drills struct {
	Enabled bool `yaml:"enabled"`
}

func init() {
	sectionTypes["config.Drills"] = reflect.TypeOf(Drills{})
}

// validateDrills checks the drills section.
func (c *Config) validateDrills() error {
	return nil
}
