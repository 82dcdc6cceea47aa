// Package elastic is the Elasticsearch sink: events go to {url}/_bulk as NDJSON
// create actions, {"create":{"_index":...,"_id":<event id>}} followed by the document,
// each line ending with a newline.
//
// Writing with create and the event id makes delivery idempotent: a resend of an event
// already stored answers 409 version_conflict_engine_exception, which counts as
// delivered. The response's per-item statuses are checked: 429 and 5xx items are sent
// again (only those), other 4xx items are refused for good, logged and counted. A whole
// request refused with 401/403 or 404 halts the sink until its configuration is fixed;
// 429 and 5xx are retried, honouring Retry-After.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
)

// Type is the sink type name in the configuration.
const Type = "elastic"

func init() { sinks.Register(Type, factory) }

func factory(settings *yaml.Node, env sinks.Env) (sinks.Sink, error) {
	c := DefaultConfig()
	if err := sinks.DecodeStrict(settings, &c); err != nil {
		return nil, err
	}
	return New(c, env)
}

// Sink writes events to one Elasticsearch cluster.
type Sink struct {
	name     string
	endpoint string
	cfg      Config
	secret   sinks.Secret
	basic    sinks.Secret // base64(user:password), to cut out of messages
	client   *http.Client
	clock    clock.Clock
}

var _ sinks.Sink = (*Sink)(nil)

// New validates c, reads the credential and returns the sink.
func New(c Config, env sinks.Env) (*Sink, error) {
	env = env.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{name: env.Name, cfg: c, clock: env.Clock}
	if s.name == "" {
		s.name = Type
	}
	if c.Auth != AuthNone {
		sec, err := c.SecretRef.Resolve(env)
		if err != nil {
			return nil, err
		}
		s.secret = sec
		if c.Auth == AuthBasic {
			s.basic = sinks.NewSecret(base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + sec.Reveal())))
		}
	}
	u, _ := sinks.CheckURL(c.URL)
	u.Path += "/_bulk"
	if c.Pipeline != "" {
		u.RawQuery = url.Values{"pipeline": {c.Pipeline}}.Encode()
	}
	s.endpoint = u.String()
	tc, err := c.TLS.Config(env, "")
	if err != nil {
		return nil, err
	}
	s.client = sinks.NewHTTPClient(tc, c.Timeout)
	return s, nil
}

// Name implements sinks.Sink.
func (s *Sink) Name() string { return s.name }

type action struct {
	Create actionMeta `json:"create"`
}

type actionMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// Document is what is stored for an event: the event itself plus @timestamp, the
// field Elasticsearch data streams and Kibana expect.
type Document struct {
	Timestamp string `json:"@timestamp"`
	*sinks.Event
}

// Encode renders events as a bulk body: an action line and a document line per
// event, each ending with "\n".
func (s *Sink) Encode(events []sinks.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range events {
		e := &events[i]
		if err := enc.Encode(action{actionMeta{Index: s.cfg.Index, ID: e.ID}}); err != nil {
			return nil, sinks.Rejected(fmt.Errorf("encode event %s: %w", e.ID, err))
		}
		doc := Document{Timestamp: e.Time.UTC().Format(time.RFC3339Nano), Event: e}
		if err := enc.Encode(&doc); err != nil {
			return nil, sinks.Rejected(fmt.Errorf("encode event %s: %w", e.ID, err))
		}
	}
	return buf.Bytes(), nil
}

// Send implements sinks.Sink.
func (s *Sink) Send(ctx context.Context, events []sinks.Event) error {
	if len(events) == 0 {
		return nil
	}
	body, err := s.Encode(events)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return sinks.Permanent(fmt.Errorf("elasticsearch: build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	switch s.cfg.Auth {
	case AuthAPIKey:
		req.Header.Set("Authorization", "ApiKey "+s.secret.Reveal())
	case AuthBasic:
		req.Header.Set("Authorization", "Basic "+s.basic.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("elasticsearch: %w", err) // network errors are retryable
	}
	b, rerr := sinks.ReadBody(resp)
	if resp.StatusCode != http.StatusOK {
		return sinks.StatusError("elasticsearch", resp, errorDetail(b), s.clock.Now(), s.secret, s.basic)
	}
	if rerr != nil {
		return fmt.Errorf("elasticsearch: reading the bulk response: %w", rerr)
	}
	items, err := ParseBulkResponse(b, events)
	if err != nil {
		// The outcome is unknown; resending is safe, creates are idempotent.
		return fmt.Errorf("elasticsearch: %s", sinks.Snippet(err.Error(), 300, s.secret, s.basic))
	}
	return s.settle(items)
}

// Item is the outcome of one create action.
type Item struct {
	Status int
	Type   string // error type, when failed
	Reason string
}

// ParseBulkResponse reads a bulk response for events: one item per event, in order,
// each a create whose _id matches.
func ParseBulkResponse(b []byte, events []sinks.Event) ([]Item, error) {
	var r struct {
		Errors *bool                        `json:"errors"`
		Items  []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("the bulk response is not JSON: %w", err)
	}
	if r.Errors == nil || r.Items == nil {
		return nil, errors.New("the bulk response has no errors flag or items")
	}
	if len(r.Items) != len(events) {
		return nil, fmt.Errorf("the bulk response has %d items for %d actions", len(r.Items), len(events))
	}
	out := make([]Item, len(events))
	for i, it := range r.Items {
		raw, ok := it["create"]
		if !ok || len(it) != 1 {
			return nil, fmt.Errorf("bulk response item %d is not a create result", i)
		}
		var res struct {
			ID     string `json:"_id"`
			Status int    `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("bulk response item %d: %w", i, err)
		}
		if res.Status < 100 || res.Status > 599 {
			return nil, fmt.Errorf("bulk response item %d has status %d", i, res.Status)
		}
		if res.ID != "" && res.ID != events[i].ID {
			return nil, fmt.Errorf("bulk response item %d is for _id %q, want %q", i, res.ID, events[i].ID)
		}
		out[i].Status = res.Status
		if res.Error != nil {
			out[i].Type, out[i].Reason = res.Error.Type, res.Error.Reason
		}
		if !*r.Errors && res.Status >= 300 {
			return nil, fmt.Errorf("bulk response says no errors, but item %d has status %d", i, res.Status)
		}
	}
	return out, nil
}

func (s *Sink) settle(items []Item) error {
	be := &sinks.BatchError{}
	var firstRetry string
	for i, it := range items {
		switch {
		case it.Status >= 200 && it.Status < 300:
		case it.Status == http.StatusConflict:
			// create of an _id that exists: delivered before (an answer was lost).
		case it.Status == http.StatusTooManyRequests || it.Status >= 500:
			be.Retry = append(be.Retry, i)
			if firstRetry == "" {
				firstRetry = s.itemText(it)
			}
		default:
			be.Dropped = append(be.Dropped, sinks.ItemError{Index: i, Err: sinks.Rejected(fmt.Errorf("elasticsearch refused the document: %s", s.itemText(it)))})
		}
	}
	if len(be.Retry) == 0 && len(be.Dropped) == 0 {
		return nil
	}
	if len(be.Retry) > 0 {
		be.Err = fmt.Errorf("elasticsearch: %d of %d items to send again, first: %s", len(be.Retry), len(items), firstRetry)
	}
	return be
}

func (s *Sink) itemText(it Item) string {
	return sinks.Snippet(fmt.Sprintf("%d %s: %s", it.Status, it.Type, it.Reason), 300, s.secret, s.basic)
}

// errorDetail takes type and reason out of Elasticsearch's error shape, or returns the
// body as it is.
func errorDetail(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Type != "" {
			return obj.Type + ": " + obj.Reason
		}
		var str string
		if json.Unmarshal(e.Error, &str) == nil {
			return str
		}
	}
	return strings.TrimSpace(string(b))
}
