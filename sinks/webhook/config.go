package webhook

import (
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/warroom/warroom/sinks"
)

// Sample is an example configuration of this sink, as a sinks section.
//
//go:embed sample.yaml
var Sample string

// Config is the webhook sink's settings.
type Config struct {
	// URL is the receiver's endpoint, posted to as it is. Required.
	URL string `yaml:"url"`
	// token_env / token_file: the signing secret, "whsec_" followed by the base64 of
	// 24 to 64 random bytes (the Standard Webhooks format). Required.
	sinks.SecretRef `yaml:",inline"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// ca_file / insecure_skip_verify for an https url.
	sinks.TLS `yaml:",inline"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Timeout: 10 * time.Second} }

// Validate checks the settings.
func (c *Config) Validate() error {
	u, err := sinks.CheckURL(c.URL)
	if err != nil {
		return err
	}
	if err := c.SecretRef.Validate(); err != nil {
		return err
	}
	if c.Timeout <= 0 || c.Timeout > 5*time.Minute {
		return fmt.Errorf("timeout %s: want more than 0s and at most 5m", c.Timeout)
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if u.Scheme != "https" && !c.TLS.IsZero() {
		return errors.New("ca_file and insecure_skip_verify apply only to an https url")
	}
	return nil
}
