package config

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInvalidAIConfigs checks each file in testdata/invalid_ai fails with exactly
// this error, and that no error repeats a key written in the wrong place.
func TestInvalidAIConfigs(t *testing.T) {
	want := map[string]string{
		"bad_api_type.yaml":        `ai.api_type: "anthropic"; want openai (any OpenAI-compatible server) or azure`,
		"azure_no_url.yaml":        `ai.base_url: required for api_type azure, e.g. https://NAME.openai.azure.com`,
		"bad_url.yaml":             `ai.base_url: "api.openai.com/v1" is not an absolute http or https URL`,
		"url_credentials.yaml":     `ai.base_url: holds credentials; remove them and set api_key_env or api_key_file`,
		"http_remote.yaml":         `ai.base_url: http:// would send the API key and incident data unencrypted to llm.example; use https:// (plain http is allowed only for a loopback address)`,
		"no_model.yaml":            `ai.model: required; name the model (for azure, the deployment), e.g. gpt-4o-mini or llama3.1:8b`,
		"both_keys.yaml":           `ai: api_key_env and api_key_file both set; keep one`,
		"key_in_env.yaml":          `ai.api_key_env: not an environment variable name; it names the variable (like OPENAI_API_KEY), it does not hold the key`,
		"no_key.yaml":              `ai: no API key; set api_key_env (an environment variable) or api_key_file (a file holding it); only a loopback base_url may go without`,
		"bad_timeout.yaml":         `ai.timeout: 500ms; want between 1s and 10m`,
		"bad_max_tokens.yaml":      `ai.max_tokens: 10; want between 64 and 32768`,
		"bad_temperature.yaml":     `ai.temperature: 3; want between 0 and 2`,
		"bad_format.yaml":          `ai.response_format: "text"; want json_schema or json_object`,
		"bad_redact.yaml":          `ai.redact: "sometimes"; want auto (on unless base_url is a loopback address), always or never`,
		"bad_min_interval.yaml":    `ai.min_interval: 1s; want between 10s and 24h`,
		"bad_budget.yaml":          `ai.hourly_token_budget: 500 is below max_tokens (1000); no narrative would fit`,
		"bad_max_alerts.yaml":      `ai.max_alerts: 500; want between 1 and 200`,
		"bad_internal_domain.yaml": `ai.internal_domains[1]: "bad domain!" is not a DNS name; give a suffix such as corp.example.com or internal`,
		"unknown_key.yaml":         `line 4: unknown key "api_key"; allowed here: enabled, base_url, api_type, api_version, model, api_key_env, api_key_file, timeout, max_tokens, temperature, response_format, redact, internal_domains, min_interval, debounce, hourly_token_budget, max_alerts`,
	}
	errs := checkInvalid(t, "testdata/invalid_ai", want, func(b []byte) []byte { return append(b, sourcesBase...) })
	for name, err := range errs {
		if err != nil && strings.Contains(err.Error(), "pasted-abc123") {
			t.Errorf("%s: the error repeats the key: %v", name, err)
		}
	}
}

// TestAIDefaults checks the defaults filled in for an enabled section and that redact
// auto is on for a remote endpoint and off for a loopback one.
func TestAIDefaults(t *testing.T) {
	const base = "sources:\n  - {name: s, format: generic, token_env: T}\n"
	c, err := Parse([]byte("ai:\n  enabled: true\n  model: gpt-4o-mini\n  api_key_env: OPENAI_API_KEY\n" + base))
	if err != nil {
		t.Fatal(err)
	}
	a := c.AI
	if a.BaseURL != DefaultOpenAIBaseURL || a.APIType != AIOpenAI || time.Duration(a.Timeout) != 30*time.Second ||
		a.MaxTokens != 800 || *a.Temperature != 0.2 || a.ResponseFormat != FormatJSONSchema || a.Redact != RedactAuto ||
		time.Duration(a.MinInterval) != 5*time.Minute || time.Duration(a.Debounce) != 20*time.Second ||
		a.HourlyTokenBudget != 200000 || a.MaxAlerts != 20 || !slices.Equal(a.InternalDomains, DefaultInternalDomains) {
		t.Errorf("defaults: %+v", a)
	}
	c, err = Parse([]byte("ai:\n  enabled: true\n  model: m\n  api_key_env: K\n  internal_domains: [.Corp.Example.COM., ad.internal]\n" + base))
	if err != nil || !slices.Equal(c.AI.InternalDomains, []string{"corp.example.com", "ad.internal"}) {
		t.Errorf("internal_domains given: %v, %v", c.AI.InternalDomains, err)
	}
	if !a.RedactOn() {
		t.Error("redact auto is off for api.openai.com")
	}
	c, err = Parse([]byte("ai:\n  enabled: true\n  base_url: http://127.0.0.1:11434/v1\n  model: llama3.1:8b\n  temperature: 0\n" + base))
	if err != nil {
		t.Fatalf("a loopback server without a key: %v", err)
	}
	if c.AI.RedactOn() {
		t.Error("redact auto is on for a loopback endpoint")
	}
	if *c.AI.Temperature != 0 {
		t.Errorf("temperature 0 became %g", *c.AI.Temperature)
	}
	c, err = Parse([]byte("ai:\n  enabled: true\n  api_type: azure\n  base_url: https://corp.openai.azure.com\n  model: gpt4o\n  api_key_file: /run/secrets/azure\n  redact: never\n" + base))
	if err != nil {
		t.Fatal(err)
	}
	if c.AI.APIVersion == "" || c.AI.RedactOn() {
		t.Errorf("azure: %+v", c.AI)
	}
	// Disabled: nothing is checked, nothing filled in.
	c, err = Parse([]byte("ai:\n  enabled: false\n  model: \"\"\n" + base))
	if err != nil || c.AI.Model != "" || c.AI.Timeout != 0 {
		t.Errorf("disabled: %+v, %v", c.AI, err)
	}
}

// TestAIExampleSection checks the example's ai section validates once enabled.
func TestAIExampleSection(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "ai:\n  enabled: false", "ai:\n  enabled: true", 1)
	if doc == string(b) {
		t.Fatal("the example has no ai section starting with enabled: false")
	}
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AI.Enabled || c.AI.Model != "gpt-4o-mini" || c.AI.APIKeyEnv != "OPENAI_API_KEY" || !c.AI.RedactOn() {
		t.Errorf("example ai: %+v", c.AI)
	}
}
