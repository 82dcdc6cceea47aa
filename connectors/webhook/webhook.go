// Package webhook is the generic outbound action: it calls any REST endpoint with a
// templated body signed per Standard Webhooks (webhook-id, webhook-timestamp,
// webhook-signature), to wrap systems that have no connector of their own (a SOAR, a
// ticketing system, an EDR's REST API behind a small adapter).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("webhook", factory) }

func factory(raw []byte, env connectors.Env) (connectors.Connector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return New(cfg, env)
}

// doer is the one method of *http.Client the connector calls.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ doer = (*http.Client)(nil)

// Webhook is a configured endpoint.
type Webhook struct {
	name       string
	cfg        Config
	endpoint   string // cfg.URL without query, for messages
	kinds      []connectors.ActionKind
	body       *template.Template
	revertBody *template.Template
	sendRevert bool
	key        []byte // the decoded signing key
	secrets    []string
	bearer     connectors.Secret
	clock      clock.Clock
	log        *slog.Logger
	http       doer
	sim        *connectors.Simulation

	mu        sync.Mutex
	delivered map[string]delivery // by idempotency key
}

type delivery struct {
	id       string
	at       time.Time
	reverted bool
}

var _ connectors.Connector = (*Webhook)(nil)

// New returns the endpoint described by cfg, reading its secrets through env.
func New(cfg Config, env connectors.Env) (*Webhook, error) {
	client := &http.Client{
		Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is answered, not followed
		},
	}
	return newWebhook(cfg, env, client)
}

func newWebhook(cfg Config, env connectors.Env, client doer) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "webhook"
	}
	secret, err := env.Secret("secret", cfg.SecretEnv, cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	key, err := decodeSigningSecret(secret.Reveal())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", secretKey(cfg), err)
	}
	w := &Webhook{
		name: env.Name, cfg: cfg, endpoint: vendorhttp.RedactURL(cfg.URL), clock: env.Clock, http: client,
		key: key, secrets: []string{secret.Reveal(), strings.TrimPrefix(secret.Reveal(), "whsec_")},
		log:        env.Logger.With("connector", env.Name),
		sendRevert: cfg.Revert == nil || *cfg.Revert,
		delivered:  map[string]delivery{},
	}
	if cfg.BearerTokenEnv != "" || cfg.BearerTokenFile != "" {
		if w.bearer, err = env.Secret("bearer_token", cfg.BearerTokenEnv, cfg.BearerTokenFile); err != nil {
			return nil, err
		}
		w.secrets = append(w.secrets, w.bearer.Reveal())
	}
	for _, k := range cfg.Kinds {
		w.kinds = append(w.kinds, connectors.ActionKind(k))
	}
	w.body, _ = parseTemplate("body", cfg.Body)
	w.revertBody = w.body
	if cfg.RevertBody != "" {
		w.revertBody, _ = parseTemplate("revert_body", cfg.RevertBody)
	}
	if cfg.DryRun || env.DryRun {
		w.sim = connectors.NewSimulation(env.Clock)
	}
	return w, nil
}

func secretKey(cfg Config) string {
	if cfg.SecretEnv != "" {
		return "secret_env"
	}
	return "secret_file"
}

func decodeSigningSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`the signing secret must be "whsec_" followed by base64 (Standard Webhooks)`)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 16 {
		return nil, errors.New(`the signing secret must be "whsec_" followed by the base64 of at least 16 random bytes`)
	}
	return key, nil
}

// Sign returns the webhook-signature value for a message: "v1," + base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Name implements connectors.Connector.
func (w *Webhook) Name() string { return w.name }

// Capabilities returns the configured kinds.
func (w *Webhook) Capabilities() []connectors.ActionKind {
	return append([]connectors.ActionKind(nil), w.kinds...)
}

// messageID is stable for one action and operation, so retries and repeats carry the
// same webhook-id and the receiver can drop duplicates.
func (w *Webhook) messageID(req connectors.Request, op string) string {
	sum := sha256.Sum256([]byte(w.name + "\x00" + op + "\x00" + req.IdempotencyKey))
	return "msg_" + hex.EncodeToString(sum[:12])
}

func (w *Webhook) data(req connectors.Request, op string, now time.Time) TemplateData {
	typ := "action." + string(req.Kind)
	if op == "revert" {
		typ += ".revert"
	}
	d := TemplateData{
		Type: typ, ID: w.messageID(req, op), Op: op, Connector: w.name, ActionID: req.ActionID,
		IdempotencyKey: req.IdempotencyKey, Kind: string(req.Kind), Target: req.Target.String(),
		TTL: req.TTL, Params: req.Params, Timestamp: now,
	}
	if d.Params == nil {
		d.Params = map[string]string{}
	}
	if req.Target.IsIP() && req.Target.Prefix.IsSingleIP() {
		d.Address = req.Target.Prefix.Addr().String()
	}
	return d
}

func (w *Webhook) renderFor(req connectors.Request, op string, now time.Time) (TemplateData, []byte, error) {
	d := w.data(req, op, now)
	t := w.body
	if op == "revert" {
		t = w.revertBody
	}
	body, err := render(t, d, isJSON(w.cfg.ContentType))
	if err != nil {
		return d, nil, connectors.Permanent(fmt.Errorf("webhook %s: rendering the %s template: %w", w.name, t.Name(), err))
	}
	return d, body, nil
}

// Execute sends the action. A request already acknowledged is not sent again.
func (w *Webhook) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(w, req); err != nil {
		return connectors.Result{}, err
	}
	if w.sim != nil {
		d, err := w.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return w.sim.Execute(req, d), nil
	}
	w.mu.Lock()
	prev, ok := w.delivered[req.IdempotencyKey]
	w.mu.Unlock()
	if ok && !prev.reverted {
		return connectors.Result{Reference: prev.id, Detail: fmt.Sprintf("already delivered to %s as %s", w.endpoint, prev.id)}, nil
	}
	id, err := w.send(ctx, req, "execute")
	if err != nil {
		return connectors.Result{}, err
	}
	w.mu.Lock()
	w.delivered[req.IdempotencyKey] = delivery{id: id, at: w.clock.Now()}
	w.mu.Unlock()
	return connectors.Result{Changed: true, Reference: id, Detail: fmt.Sprintf("%s %s accepted %s %s (%s)", w.cfg.Method, w.endpoint, req.Kind, req.Target, id)}, nil
}

// Revert sends the revert message for an action that was delivered; reverting
// something never delivered (or already reverted) is a no-op.
func (w *Webhook) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(w, req); err != nil {
		return connectors.Result{}, err
	}
	if w.sim != nil {
		return w.sim.Revert(req, connectors.Diff{Changes: []string{fmt.Sprintf("%s %s (revert %s %s)", w.cfg.Method, w.endpoint, req.Kind, req.Target)}}), nil
	}
	w.mu.Lock()
	prev, ok := w.delivered[req.IdempotencyKey]
	w.mu.Unlock()
	if !ok || prev.reverted {
		return connectors.Result{Detail: fmt.Sprintf("nothing to revert: %s %s was not delivered by this process", req.Kind, req.Target)}, nil
	}
	res := connectors.Result{Changed: true}
	if w.sendRevert {
		id, err := w.send(ctx, req, "revert")
		if err != nil {
			return connectors.Result{}, err
		}
		res.Reference = id
		res.Detail = fmt.Sprintf("%s %s accepted the revert of %s %s (%s)", w.cfg.Method, w.endpoint, req.Kind, req.Target, id)
	} else {
		res.Detail = fmt.Sprintf("revert of %s %s recorded; nothing sent (revert: false)", req.Kind, req.Target)
	}
	w.mu.Lock()
	prev.reverted = true
	w.delivered[req.IdempotencyKey] = prev
	w.mu.Unlock()
	return res, nil
}

// Verify reports whether the endpoint acknowledged the action (and it was not
// reverted since). The remote system's state cannot be read back, so Observed is
// false.
func (w *Webhook) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(w, req); err != nil {
		return connectors.Verification{}, err
	}
	if w.sim != nil {
		return w.sim.Verify(req), nil
	}
	now := w.clock.Now()
	w.mu.Lock()
	prev, ok := w.delivered[req.IdempotencyKey]
	w.mu.Unlock()
	v := connectors.Verification{CheckedAt: now}
	switch {
	case ok && !prev.reverted:
		v.InPlace = true
		v.Detail = fmt.Sprintf("%s acknowledged %s at %s; its own state cannot be read back", w.endpoint, prev.id, prev.at.UTC().Format(time.RFC3339))
	case ok:
		v.Detail = fmt.Sprintf("%s acknowledged the revert of %s", w.endpoint, prev.id)
	default:
		v.Detail = fmt.Sprintf("%s has not acknowledged this action", w.endpoint)
	}
	return v, nil
}

// Preview shows the request that Execute would send.
func (w *Webhook) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(w, req); err != nil {
		return connectors.Diff{}, err
	}
	d, body, err := w.renderFor(req, "execute", w.clock.Now())
	if err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{
		fmt.Sprintf("%s %s (webhook-id %s)", w.cfg.Method, w.endpoint, d.ID),
		"body: " + string(body),
	}}, nil
}

// Ready checks the endpoint's host accepts TCP connections. Authentication and
// permission are only known when an action runs.
func (w *Webhook) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked}
	u, _ := url.Parse(w.cfg.URL)
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	dctx, cancel := context.WithTimeout(ctx, min(w.cfg.Timeout, 5*time.Second))
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", host)
	if err != nil {
		r.Reachable = connectors.Failed
		r.Message = fmt.Sprintf("cannot connect to %s: %v", host, err)
		return r
	}
	_ = conn.Close()
	r.Reachable = connectors.Passed
	r.Message = fmt.Sprintf("%s accepts connections; signed requests are checked when an action runs", host)
	if w.sim != nil {
		r.Message += "; dry run"
	}
	return r
}

// send renders, signs and posts one message, classifying the outcome.
func (w *Webhook) send(ctx context.Context, req connectors.Request, op string) (string, error) {
	now := w.clock.Now()
	d, body, err := w.renderFor(req, op, now)
	if err != nil {
		return "", err
	}
	hreq, err := http.NewRequestWithContext(ctx, w.cfg.Method, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "", connectors.Permanent(fmt.Errorf("webhook %s: building the request to %s: %w", w.name, w.endpoint, err))
	}
	ts := now.Unix()
	h := hreq.Header
	for k, v := range w.cfg.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", w.cfg.ContentType)
	h.Set("User-Agent", "warroom-webhook/1")
	h.Set("Idempotency-Key", d.ID)
	h.Set("webhook-id", d.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", Sign(w.key, d.ID, ts, body))
	if !w.bearer.IsZero() {
		h.Set("Authorization", "Bearer "+w.bearer.Reveal())
	}

	resp, err := w.http.Do(hreq)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller's deadline or cancellation; the retry stage sees ctx is done.
			return "", connectors.Temporary(fmt.Errorf("webhook %s: %s %s: %w", w.name, w.cfg.Method, w.endpoint, cerr))
		}
		// Transport errors (refused, reset, timeout) may pass; url.Error repeats the
		// URL with its query, so report the inner error against the redacted one.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", connectors.Temporary(fmt.Errorf("webhook %s: %s %s: %w", w.name, w.cfg.Method, w.endpoint, err))
	}
	defer resp.Body.Close()
	snippet := w.snippet(resp.Body)
	w.log.Info("webhook: delivered", "op", op, "kind", string(req.Kind), "action", req.ActionID, "webhook_id", d.ID, "status", resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return d.ID, nil
	}
	herr := fmt.Errorf("webhook %s: %s %s answered %s%s", w.name, w.cfg.Method, w.endpoint, resp.Status, snippet)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		if after, ok := retryAfter(resp.Header.Get("Retry-After"), w.clock.Now()); ok {
			return "", connectors.TemporaryAfter(herr, after)
		}
		return "", connectors.Temporary(herr)
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout:
		return "", connectors.Temporary(herr)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return "", connectors.Permanent(fmt.Errorf("%w; redirects are not followed, point url at the final endpoint", herr))
	}
	return "", connectors.Permanent(herr)
}

// snippet returns the start of an error body, printable, with secrets masked.
func (w *Webhook) snippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	for _, sec := range w.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		const maxSeconds = int64(7 * 24 * time.Hour / time.Second) // anything longer is past any deadline
		return time.Duration(min(n, maxSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}
