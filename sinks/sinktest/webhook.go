package sinktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// WebhookPath is where the fake webhook receiver listens.
const WebhookPath = "/hooks/warroom"

// Webhook is a strict Standard Webhooks receiver: POST WebhookPath with Content-Type
// application/json, webhook-id, webhook-timestamp (within five minutes of its clock)
// and webhook-signature ("v1,<base64 HMAC-SHA256>" entries separated by spaces, one of
// which must verify), and a body {"events":[{...}, ...]}. It answers 204 and keeps
// each delivery; a bad signature is 401, anything else malformed 400.
type Webhook struct {
	*server
	key   []byte
	clock clock.Clock

	deliveries []WebhookDelivery // guarded by server.mu
}

// WebhookDelivery is one accepted request.
type WebhookDelivery struct {
	ID        string
	Timestamp int64
	Events    []json.RawMessage
}

// NewWebhook starts a receiver for secret ("whsec_<base64>") checking timestamps
// against c.
func NewWebhook(t testing.TB, secret string, c clock.Clock) *Webhook {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("sinktest: webhook secret must be whsec_<base64>")
	}
	h := &Webhook{key: key, clock: c}
	h.server = newServer(t)
	h.server.handler = h.handle
	h.server.failure = func(w http.ResponseWriter, f Fault) {
		writeJSON(w, f.Status, fmt.Sprintf(`{"error":%q}`, http.StatusText(f.Status)))
	}
	return h
}

// Deliveries returns every accepted request, in order.
func (h *Webhook) Deliveries() []WebhookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.deliveries)
}

// Wait blocks until at least n events were accepted or ctx ends.
func (h *Webhook) Wait(ctx context.Context, n int) error {
	return h.waitFor(ctx, func() bool {
		c := 0
		for _, d := range h.deliveries {
			c += len(d.Events)
		}
		return c >= n
	})
}

// VerifyStandardWebhook checks a Standard Webhooks signature header for id, timestamp
// and body with key, as a receiver does.
func VerifyStandardWebhook(key []byte, id, timestamp string, body []byte, header string) error {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(header) {
		ver, b64, ok := strings.Cut(sig, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}

func (h *Webhook) handle(w http.ResponseWriter, r *http.Request, body []byte) {
	fail := func(status int, msg string) {
		writeJSON(w, status, fmt.Sprintf(`{"error":%q}`, msg))
	}
	if r.URL.Path != WebhookPath {
		fail(http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(http.StatusBadRequest, "content-type must be application/json")
		return
	}
	id, ts, sig := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" {
		fail(http.StatusBadRequest, "missing webhook-id, webhook-timestamp or webhook-signature")
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(sec, 10) != ts {
		fail(http.StatusBadRequest, "webhook-timestamp must be integer unix seconds")
		return
	}
	if d := h.clock.Now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		fail(http.StatusBadRequest, "webhook-timestamp is too far from now")
		return
	}
	if err := VerifyStandardWebhook(h.key, id, ts, body, sig); err != nil {
		fail(http.StatusUnauthorized, "invalid signature")
		return
	}
	var payload struct {
		Events []json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&payload); err != nil || len(payload.Events) == 0 {
		fail(http.StatusBadRequest, `body must be {"events":[...]} with at least one event`)
		return
	}
	for _, e := range payload.Events {
		var obj map[string]json.RawMessage
		if json.Unmarshal(e, &obj) != nil || obj == nil {
			fail(http.StatusBadRequest, "every event must be a JSON object")
			return
		}
	}
	h.mu.Lock()
	h.deliveries = append(h.deliveries, WebhookDelivery{ID: id, Timestamp: sec, Events: payload.Events})
	h.signal()
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
