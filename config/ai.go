package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// AI configures the language model that writes incident narratives (ai:). Without
// one, rooms get the template narrative. Any OpenAI-compatible endpoint works:
// OpenAI, Azure OpenAI, and local servers (Ollama, llama.cpp server, vLLM) by base_url.
type AI struct {
	Enabled bool `yaml:"enabled"`
	// BaseURL is the API root, e.g. https://api.openai.com/v1 (the default for
	// api_type openai), http://127.0.0.1:11434/v1 for Ollama, or
	// https://NAME.openai.azure.com for Azure.
	BaseURL string `yaml:"base_url"`
	// APIType is openai (any OpenAI-compatible server) or azure.
	APIType string `yaml:"api_type"`
	// APIVersion is Azure's api-version query parameter.
	APIVersion string `yaml:"api_version"`
	// Model is the model name (for Azure: the deployment name).
	Model string `yaml:"model"`
	// APIKeyEnv / APIKeyFile name where the API key is; a loopback endpoint may
	// have none.
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// Timeout bounds one request to the model.
	Timeout Duration `yaml:"timeout"`
	// MaxTokens bounds the length of one answer.
	MaxTokens int `yaml:"max_tokens"`
	// Temperature, 0 to 2; low values keep the narrative close to the facts.
	Temperature *float64 `yaml:"temperature"`
	// ResponseFormat is json_schema (structured outputs, where the server supports
	// them; warroom falls back to json_object when the server refuses the schema) or
	// json_object (plain JSON mode).
	ResponseFormat string `yaml:"response_format"`
	// Redact replaces internal addresses, host names and user names with stable
	// placeholders before anything leaves the process, and restores them in the
	// answer: auto (on unless base_url is a loopback address), always or never.
	Redact string `yaml:"redact"`
	// InternalDomains are the DNS suffixes of the organisation's own names: with
	// redaction on, a domain under one of them (in entities and in alert text) is
	// replaced by a placeholder like the internal addresses. Other domains are
	// evidence (C2, exfiltration) and are kept. Left out: DefaultInternalDomains.
	InternalDomains []string `yaml:"internal_domains"`
	// MinInterval is the least time between two narratives of one incident.
	MinInterval Duration `yaml:"min_interval"`
	// Debounce is how long a meaningful change (new stage, severity, merge,
	// containment) must settle before the narrative is written again.
	Debounce Duration `yaml:"debounce"`
	// HourlyTokenBudget caps the tokens (prompt and answer) spent in any hour;
	// past it, rooms keep the template or the last narrative.
	HourlyTokenBudget int `yaml:"hourly_token_budget"`
	// MaxAlerts is how many of an incident's most recent alerts the prompt holds.
	MaxAlerts int `yaml:"max_alerts"`
}

// AI API types, redact modes and response formats.
const (
	AIOpenAI = "openai"
	AIAzure  = "azure"

	RedactAuto   = "auto"
	RedactAlways = "always"
	RedactNever  = "never"

	FormatJSONSchema = "json_schema"
	FormatJSONObject = "json_object"
)

// DefaultInternalDomains are internal_domains' default: the names reserved or
// commonly used for private networks.
var DefaultInternalDomains = []string{"local", "internal", "lan", "home.arpa", "localdomain", "intranet", "corp", "home"}

// dnsName matches a DNS name: labels of letters, digits and inner hyphens (or
// underscores), joined by dots.
var dnsName = regexp.MustCompile(`^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$`)

// DefaultOpenAIBaseURL is base_url's default for api_type openai.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

func init() {
	sectionTypes["config.AI"] = reflect.TypeOf(AI{})
}

// WithDefaults returns the section with defaults filled in for keys left out.
func (a AI) WithDefaults() AI {
	if a.APIType == "" {
		a.APIType = AIOpenAI
	}
	if a.BaseURL == "" && a.APIType == AIOpenAI {
		a.BaseURL = DefaultOpenAIBaseURL
	}
	if a.APIVersion == "" && a.APIType == AIAzure {
		a.APIVersion = "2024-06-01"
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(30 * time.Second)
	}
	if a.MaxTokens == 0 {
		a.MaxTokens = 800
	}
	if a.Temperature == nil {
		t := 0.2
		a.Temperature = &t
	}
	if a.ResponseFormat == "" {
		a.ResponseFormat = FormatJSONSchema
	}
	if a.Redact == "" {
		a.Redact = RedactAuto
	}
	if a.MinInterval == 0 {
		a.MinInterval = Duration(5 * time.Minute)
	}
	if a.Debounce == 0 {
		a.Debounce = Duration(20 * time.Second)
	}
	if a.HourlyTokenBudget == 0 {
		a.HourlyTokenBudget = 200000
	}
	if a.MaxAlerts == 0 {
		a.MaxAlerts = 20
	}
	if a.InternalDomains == nil {
		a.InternalDomains = append([]string(nil), DefaultInternalDomains...)
	}
	return a
}

// RedactOn reports whether prompts are redacted: always, never, or (auto) when the
// endpoint is not on this machine.
func (a AI) RedactOn() bool {
	switch a.Redact {
	case RedactAlways:
		return true
	case RedactNever:
		return false
	}
	return !loopbackURL(a.BaseURL)
}

// loopbackURL reports whether u's host is localhost or a loopback address.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := p.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// validateAI checks the ai section and fills in its defaults.
func (c *Config) validateAI() error {
	a := c.AI
	if !a.Enabled {
		return nil
	}
	switch a.APIType {
	case "", AIOpenAI, AIAzure:
	default:
		return fmt.Errorf("ai.api_type: %q; want openai (any OpenAI-compatible server) or azure", a.APIType)
	}
	if a.APIType == AIAzure && a.BaseURL == "" {
		return fmt.Errorf("ai.base_url: required for api_type azure, e.g. https://NAME.openai.azure.com")
	}
	a = a.WithDefaults()
	u, err := url.Parse(a.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("ai.base_url: %q is not an absolute http or https URL", a.BaseURL)
	}
	if u.User != nil {
		return fmt.Errorf("ai.base_url: holds credentials; remove them and set api_key_env or api_key_file")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("ai.base_url: %q has a query or fragment; give the API root only", a.BaseURL)
	}
	local := loopbackURL(a.BaseURL)
	if u.Scheme == "http" && !local {
		return fmt.Errorf("ai.base_url: http:// would send the API key and incident data unencrypted to %s; use https:// (plain http is allowed only for a loopback address)", hostOnly(u.Host))
	}
	if strings.TrimSpace(a.Model) == "" {
		return fmt.Errorf("ai.model: required; name the model (for azure, the deployment), e.g. gpt-4o-mini or llama3.1:8b")
	}
	switch {
	case a.APIKeyEnv != "" && a.APIKeyFile != "":
		return fmt.Errorf("ai: api_key_env and api_key_file both set; keep one")
	case a.APIKeyEnv != "" && !envName.MatchString(a.APIKeyEnv):
		return fmt.Errorf("ai.api_key_env: not an environment variable name; it names the variable (like OPENAI_API_KEY), it does not hold the key")
	case a.APIKeyEnv == "" && a.APIKeyFile == "" && !local:
		return fmt.Errorf("ai: no API key; set api_key_env (an environment variable) or api_key_file (a file holding it); only a loopback base_url may go without")
	}
	if d := time.Duration(a.Timeout); d < time.Second || d > 10*time.Minute {
		return fmt.Errorf("ai.timeout: %s; want between 1s and 10m", d)
	}
	if a.MaxTokens < 64 || a.MaxTokens > 32768 {
		return fmt.Errorf("ai.max_tokens: %d; want between 64 and 32768", a.MaxTokens)
	}
	if t := *a.Temperature; t < 0 || t > 2 {
		return fmt.Errorf("ai.temperature: %g; want between 0 and 2", t)
	}
	switch a.ResponseFormat {
	case FormatJSONSchema, FormatJSONObject:
	default:
		return fmt.Errorf("ai.response_format: %q; want json_schema or json_object", a.ResponseFormat)
	}
	switch a.Redact {
	case RedactAuto, RedactAlways, RedactNever:
	default:
		return fmt.Errorf("ai.redact: %q; want auto (on unless base_url is a loopback address), always or never", a.Redact)
	}
	if d := time.Duration(a.MinInterval); d < 10*time.Second || d > 24*time.Hour {
		return fmt.Errorf("ai.min_interval: %s; want between 10s and 24h", d)
	}
	if d := time.Duration(a.Debounce); d < 0 || d > time.Hour {
		return fmt.Errorf("ai.debounce: %s; want between 0s and 1h", d)
	}
	if a.HourlyTokenBudget < a.MaxTokens {
		return fmt.Errorf("ai.hourly_token_budget: %d is below max_tokens (%d); no narrative would fit", a.HourlyTokenBudget, a.MaxTokens)
	}
	if a.MaxAlerts < 1 || a.MaxAlerts > 200 {
		return fmt.Errorf("ai.max_alerts: %d; want between 1 and 200", a.MaxAlerts)
	}
	for i, d := range a.InternalDomains {
		norm := strings.ToLower(strings.Trim(strings.TrimSpace(d), "."))
		if len(norm) > 253 || !dnsName.MatchString(norm) {
			return fmt.Errorf("ai.internal_domains[%d]: %q is not a DNS name; give a suffix such as corp.example.com or internal", i, d)
		}
		a.InternalDomains[i] = norm
	}
	c.AI = a
	return nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
