package splunk

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/warroom/warroom/sinks"
)

// Sample is an example configuration of this sink, as a sinks section.
//
//go:embed sample.yaml
var Sample string

// Config is the splunk sink's settings.
type Config struct {
	// URL is the HEC base address, https://host:8088 (warroom adds
	// /services/collector/event). Required.
	URL string `yaml:"url"`
	// token_env / token_file: the HEC token. Required.
	sinks.SecretRef `yaml:",inline"`
	// Index overrides the token's default index.
	Index string `yaml:"index"`
	// Source and Sourcetype label the events (default "warroom" and "warroom:event").
	Source     string `yaml:"source"`
	Sourcetype string `yaml:"sourcetype"`
	// Host names this machine in the events (default the host name).
	Host string `yaml:"host"`
	// Channel is a GUID sent as X-Splunk-Request-Channel, needed when the token has
	// indexer acknowledgement turned on.
	Channel string `yaml:"channel"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// ca_file / insecure_skip_verify for an https url.
	sinks.TLS `yaml:",inline"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Source: "warroom", Sourcetype: "warroom:event", Timeout: 10 * time.Second}
}

var (
	indexRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	guidRE  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Validate checks the settings.
func (c *Config) Validate() error {
	u, err := sinks.CheckURL(c.URL)
	if err != nil {
		return err
	}
	if strings.Contains(u.Path, "/services/collector") {
		return fmt.Errorf("url %s: give the HEC base address (like https://splunk.example.net:8088); warroom adds /services/collector/event", c.URL)
	}
	if err := c.SecretRef.Validate(); err != nil {
		return err
	}
	if c.Index != "" && (!indexRE.MatchString(c.Index) || len(c.Index) > 80) {
		return fmt.Errorf("index %q: Splunk index names are lowercase letters, digits, '_' and '-', not starting with '_' or '-', at most 80 characters", c.Index)
	}
	for _, f := range []struct{ key, v string }{{"source", c.Source}, {"sourcetype", c.Sourcetype}, {"host", c.Host}} {
		if f.key != "host" && f.v == "" {
			return fmt.Errorf("%s must not be empty", f.key)
		}
		if len(f.v) > 255 || strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("%s: want at most 255 characters without control characters", f.key)
		}
	}
	if c.Channel != "" && !guidRE.MatchString(c.Channel) {
		return fmt.Errorf("channel %q: want a GUID like 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba", c.Channel)
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
