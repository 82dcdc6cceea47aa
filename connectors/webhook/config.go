package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
)

// Config is the webhook connector's settings.
type Config struct {
	// URL is the endpoint (http or https). Credentials never go in it.
	URL string `yaml:"url"`
	// Method is POST (default), PUT, PATCH or DELETE.
	Method string `yaml:"method"`
	// SecretEnv / SecretFile name where the Standard Webhooks signing secret
	// ("whsec_" + base64) comes from. One is required.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// BearerTokenEnv / BearerTokenFile optionally add "Authorization: Bearer <token>"
	// for endpoints that also want a token.
	BearerTokenEnv  string `yaml:"bearer_token_env"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Headers are extra, non-secret request headers.
	Headers map[string]string `yaml:"headers"`
	// Kinds are the action kinds this endpoint handles (default [webhook]).
	Kinds []string `yaml:"kinds"`
	// Body is a text/template for the request body; see the README for its data and
	// functions. The default is a Standard Webhooks style {type, timestamp, data}.
	Body string `yaml:"body"`
	// RevertBody is the template used by Revert (default: Body, with .Op "revert").
	RevertBody string `yaml:"revert_body"`
	// Revert sends a request when an action is reverted (default true). With false,
	// Revert only records that the action no longer applies.
	Revert *bool `yaml:"revert"`
	// ContentType of the body (default application/json). JSON bodies are checked to
	// be valid JSON before they are sent.
	ContentType string `yaml:"content_type"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// DryRun records actions without sending anything.
	DryRun bool `yaml:"dry_run"`
}

// DefaultBody is the body template used when none is configured.
const DefaultBody = `{"type": {{json .Type}}, "timestamp": {{json (rfc3339 .Timestamp)}}, "data": {"connector": {{json .Connector}}, "op": {{json .Op}}, "action_id": {{json .ActionID}}, "idempotency_key": {{json .IdempotencyKey}}, "kind": {{json .Kind}}, "target": {{json .Target}}, "ttl_seconds": {{seconds .TTL}}, "params": {{json .Params}}}}`

// DefaultConfig returns the defaults applied before decoding.
func DefaultConfig() Config {
	return Config{Method: http.MethodPost, Kinds: []string{string(connectors.Webhook)}, Body: DefaultBody,
		ContentType: "application/json", Timeout: 10 * time.Second}
}

// ParseConfig decodes raw YAML over the defaults, rejecting unknown keys, and
// validates the result.
func ParseConfig(raw []byte) (Config, error) {
	c := DefaultConfig()
	c.Kinds = nil // a configured list replaces the default rather than appending to it
	if err := connectors.DecodeStrict(raw, &c); err != nil {
		return Config{}, err
	}
	if c.Kinds == nil {
		c.Kinds = DefaultConfig().Kinds
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved headers are set by the connector itself.
var reserved = map[string]string{
	"Authorization":     "use bearer_token_env or bearer_token_file",
	"Content-Type":      "use content_type",
	"Content-Length":    "it is computed",
	"Host":              "it comes from url",
	"Webhook-Id":        "it is part of the signature",
	"Webhook-Timestamp": "it is part of the signature",
	"Webhook-Signature": "it is the signature",
	"Idempotency-Key":   "it is derived from the action",
}

// Validate checks the settings, naming the offending key.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required; give the endpoint to call")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: %q must be an absolute http:// or https:// URL", vendorhttp.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("url: must not carry credentials; use bearer_token_env or bearer_token_file")
	}
	switch c.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return fmt.Errorf("method: %q is not supported; use POST, PUT, PATCH or DELETE", c.Method)
	}
	for _, f := range []struct{ key, val string }{{"secret_env", c.SecretEnv}, {"bearer_token_env", c.BearerTokenEnv}} {
		if f.val != "" && !envRE.MatchString(f.val) {
			return fmt.Errorf("%s must name an environment variable (letters, digits and _), not hold the secret itself", f.key)
		}
	}
	switch {
	case c.SecretEnv != "" && c.SecretFile != "":
		return errors.New("secret_env and secret_file are both set; keep one")
	case c.SecretEnv == "" && c.SecretFile == "":
		return errors.New("set secret_env or secret_file: the Standard Webhooks signing secret (whsec_...)")
	case c.BearerTokenEnv != "" && c.BearerTokenFile != "":
		return errors.New("bearer_token_env and bearer_token_file are both set; keep one")
	}
	for name := range c.Headers {
		canon := http.CanonicalHeaderKey(name)
		if why, ok := reserved[canon]; ok {
			return fmt.Errorf("headers: %q is set by warroom (%s); remove it", name, why)
		}
		if !validHeaderName(name) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
	}
	if len(c.Kinds) == 0 {
		return errors.New("kinds: list at least one action kind")
	}
	seen := map[string]bool{}
	for i, k := range c.Kinds {
		if !connectors.ActionKind(k).Valid() {
			return fmt.Errorf("kinds[%d]: %q is not an action kind; use block_ip, unblock_ip, isolate_host, release_host or webhook", i, k)
		}
		if seen[k] {
			return fmt.Errorf("kinds[%d]: %q is listed twice", i, k)
		}
		seen[k] = true
	}
	if c.ContentType == "" || strings.ContainsAny(c.ContentType, "\r\n") {
		return errors.New("content_type: must be a media type such as application/json")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	}
	for _, tb := range []struct{ key, text string }{{"body", c.Body}, {"revert_body", c.RevertBody}} {
		if tb.key == "revert_body" && tb.text == "" {
			continue
		}
		t, err := parseTemplate(tb.key, tb.text)
		if err != nil {
			return fmt.Errorf("%s: %w", tb.key, err)
		}
		if _, err := render(t, sampleData(), isJSON(c.ContentType)); err != nil {
			return fmt.Errorf("%s: %w (checked with a sample action)", tb.key, err)
		}
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// TemplateData is what body templates see.
type TemplateData struct {
	Type           string            // "action.<kind>" or "action.<kind>.revert"
	ID             string            // the webhook-id of this message
	Op             string            // "execute" or "revert"
	Connector      string            // the connector instance name
	ActionID       string            // warroom's action id
	IdempotencyKey string            // the action's idempotency key
	Kind           string            // block_ip, isolate_host, webhook...
	Target         string            // "203.0.113.7/32", "2001:db8::/64" or a host name
	Address        string            // the bare address when the target is a single IP
	TTL            time.Duration     // the action's TTL
	Params         map[string]string // the action's parameters
	Timestamp      time.Time         // the webhook-timestamp
}

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"seconds": func(d time.Duration) int64 { return int64(d / time.Second) },
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(funcs).Option("missingkey=zero").Parse(text)
}

func render(t *template.Template, d TemplateData, checkJSON bool) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	if checkJSON && !json.Valid(b.Bytes()) {
		var v any
		err := json.Unmarshal(b.Bytes(), &v)
		return nil, fmt.Errorf("the template renders invalid JSON (%v); quote values with {{json .Field}}", err)
	}
	return b.Bytes(), nil
}

func sampleData() TemplateData {
	return TemplateData{
		Type: "action.block_ip", ID: "msg_sample", Op: "execute", Connector: "sample", ActionID: "act-1",
		IdempotencyKey: "key-1", Kind: "block_ip", Target: "203.0.113.7/32", Address: "203.0.113.7",
		TTL: 24 * time.Hour, Params: map[string]string{"incident": "INC-0001", "note": `say "hi"`},
		Timestamp: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}
