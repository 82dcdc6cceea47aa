// Package webhook is the signed webhook sink: each batch is POSTed as
// {"events":[...]} and signed per Standard Webhooks — webhook-id (the same for every
// resend of the same batch, so receivers can deduplicate), webhook-timestamp (unix
// seconds of the attempt) and webhook-signature "v1,<base64 HMAC-SHA256>" over
// "id.timestamp.body" with the secret's bytes.
//
// 2xx is success; 429, 408 and 5xx are retried honouring Retry-After; 400, 413 and 422
// refuse the batch's content; 410 Gone and other 4xx halt the sink until its
// configuration is fixed. Redirects are not followed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
)

// Type is the sink type name in the configuration.
const Type = "webhook"

func init() { sinks.Register(Type, factory) }

func factory(settings *yaml.Node, env sinks.Env) (sinks.Sink, error) {
	c := DefaultConfig()
	if err := sinks.DecodeStrict(settings, &c); err != nil {
		return nil, err
	}
	return New(c, env)
}

// Sink posts signed batches to one endpoint.
type Sink struct {
	name     string
	endpoint string
	secret   sinks.Secret // the whsec_ string
	key      sinks.Secret // its decoded bytes
	keyB64   sinks.Secret // its base64 part, to cut out of messages
	client   *http.Client
	clock    clock.Clock
}

var _ sinks.Sink = (*Sink)(nil)

// New validates c, reads the secret and returns the sink.
func New(c Config, env sinks.Env) (*Sink, error) {
	env = env.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sec, err := c.SecretRef.Resolve(env)
	if err != nil {
		return nil, err
	}
	key, err := ParseSecret(sec.Reveal())
	if err != nil {
		where := "token_env: " + c.TokenEnv
		if c.TokenFile != "" {
			where = "token_file: " + c.TokenFile
		}
		return nil, fmt.Errorf("%s does not hold a Standard Webhooks secret: %w", where, err)
	}
	u, _ := sinks.CheckURL(c.URL)
	tc, err := c.TLS.Config(env, "")
	if err != nil {
		return nil, err
	}
	name := env.Name
	if name == "" {
		name = Type
	}
	return &Sink{
		name:     name,
		endpoint: u.String(),
		secret:   sec,
		key:      sinks.NewSecret(string(key)),
		keyB64:   sinks.NewSecret(strings.TrimPrefix(sec.Reveal(), "whsec_")),
		client:   sinks.NewHTTPClient(tc, c.Timeout),
		clock:    env.Clock,
	}, nil
}

// ParseSecret decodes a "whsec_<base64>" secret into its key bytes (24 to 64).
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("want whsec_ followed by base64")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after whsec_ is not standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the key is %d bytes; want 24 to 64 random bytes", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature value for a message: "v1," and the base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// MessageID names a batch: the same events give the same id, so a resend carries
// the id of the first attempt.
func MessageID(events []sinks.Event) string {
	h := sha256.New()
	for _, e := range events {
		h.Write([]byte(e.ID))
		h.Write([]byte{'\n'})
	}
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Name implements sinks.Sink.
func (s *Sink) Name() string { return s.name }

// Encode renders the body: {"events":[...]}.
func Encode(events []sinks.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Events []sinks.Event `json:"events"`
	}{events}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Send implements sinks.Sink.
func (s *Sink) Send(ctx context.Context, events []sinks.Event) error {
	if len(events) == 0 {
		return nil
	}
	body, err := Encode(events)
	if err != nil {
		return sinks.Rejected(fmt.Errorf("webhook: encode: %w", err))
	}
	id := MessageID(events)
	ts := s.clock.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return sinks.Permanent(fmt.Errorf("webhook: build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "warroom")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign([]byte(s.key.Reveal()), id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err) // network errors are retryable
	}
	b, _ := sinks.ReadBody(resp)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	if resp.StatusCode == http.StatusGone {
		return sinks.Permanent(fmt.Errorf("webhook answered 410 Gone: the receiver wants no more events; fix url or remove the sink"))
	}
	return sinks.StatusError("webhook", resp, string(b), s.clock.Now(), s.secret, s.keyB64, s.key)
}
