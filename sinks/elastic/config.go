package elastic

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/warroom/warroom/sinks"
)

// Sample is an example configuration of this sink, as a sinks section.
//
//go:embed sample.yaml
var Sample string

// Auth modes.
const (
	AuthAPIKey = "api_key" // Authorization: ApiKey <token>, the "encoded" value Elasticsearch returns
	AuthBasic  = "basic"   // username and the password in token_env/token_file
	AuthNone   = "none"    // a cluster without security, for development
)

// Config is the elastic sink's settings.
type Config struct {
	// URL is the cluster address, https://host:9200 (warroom adds /_bulk). Required.
	URL string `yaml:"url"`
	// Index is the index or data stream written to (default "warroom-events"). Events
	// are written with the create action, which data streams require.
	Index string `yaml:"index"`
	// Auth is api_key (default), basic or none.
	Auth string `yaml:"auth"`
	// Username is the user for basic auth.
	Username string `yaml:"username"`
	// token_env / token_file: the encoded API key, or the password for basic auth.
	sinks.SecretRef `yaml:",inline"`
	// Pipeline names an ingest pipeline to run the events through.
	Pipeline string `yaml:"pipeline"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// ca_file / insecure_skip_verify for an https url.
	sinks.TLS `yaml:",inline"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Index: "warroom-events", Auth: AuthAPIKey, Timeout: 10 * time.Second}
}

var (
	indexRE    = regexp.MustCompile(`^[a-z0-9.][a-z0-9._+-]*$`)
	pipelineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// Validate checks the settings.
func (c *Config) Validate() error {
	u, err := sinks.CheckURL(c.URL)
	if err != nil {
		return err
	}
	if c.Index == "" || c.Index == "." || c.Index == ".." || len(c.Index) > 255 || !indexRE.MatchString(c.Index) {
		return fmt.Errorf("index %q: Elasticsearch index names are lowercase letters, digits, '.', '_', '-' and '+', not starting with '_', '-' or '+', at most 255 bytes", c.Index)
	}
	switch c.Auth {
	case AuthAPIKey:
		if c.Username != "" {
			return errors.New("username applies only to auth: basic; an API key names its user itself")
		}
		if err := c.SecretRef.Validate(); err != nil {
			return fmt.Errorf("auth api_key: %w", err)
		}
	case AuthBasic:
		if c.Username == "" {
			return errors.New("auth basic: username is required")
		}
		if err := c.SecretRef.Validate(); err != nil {
			return fmt.Errorf("auth basic: the password: %w", err)
		}
	case AuthNone:
		if c.Username != "" || !c.SecretRef.IsZero() {
			return errors.New("auth none takes no username, token_env or token_file; set auth: api_key or basic to use them")
		}
	default:
		return fmt.Errorf("auth %q: want api_key, basic or none", c.Auth)
	}
	if c.Pipeline != "" && !pipelineRE.MatchString(c.Pipeline) {
		return fmt.Errorf("pipeline %q: want letters, digits, '_', '.' and '-'", c.Pipeline)
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
