// Package splunk is the Splunk HTTP Event Collector sink: events go to
// {url}/services/collector/event as HEC JSON event objects, back to back, with
// "Authorization: Splunk <token>".
//
// HEC's answers are classified by their code: token problems (codes 1 to 4), a wrong
// index (7) and channel or query-string settings (10, 11, 14, 16) halt the sink until
// its configuration is fixed; a busy or unhealthy server (8, 9, 18, 19), 429 and 5xx are
// retried, honouring Retry-After; a refused event (5, 6, 12, 13, 15) is dropped, and
// with "invalid-event-number" only that event is dropped and the rest sent again.
package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
)

// Type is the sink type name in the configuration.
const Type = "splunk"

// Path is the HEC endpoint, appended to the configured url.
const Path = "/services/collector/event"

func init() { sinks.Register(Type, factory) }

func factory(settings *yaml.Node, env sinks.Env) (sinks.Sink, error) {
	c := DefaultConfig()
	if err := sinks.DecodeStrict(settings, &c); err != nil {
		return nil, err
	}
	return New(c, env)
}

// Sink sends events to one HTTP Event Collector.
type Sink struct {
	name     string
	endpoint string
	token    sinks.Secret
	cfg      Config
	client   *http.Client
	clock    clock.Clock
}

var _ sinks.Sink = (*Sink)(nil)

// New validates c, reads the token and returns the sink.
func New(c Config, env sinks.Env) (*Sink, error) {
	env = env.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	token, err := c.SecretRef.Resolve(env)
	if err != nil {
		return nil, err
	}
	u, _ := sinks.CheckURL(c.URL)
	tc, err := c.TLS.Config(env, "")
	if err != nil {
		return nil, err
	}
	if c.Host == "" {
		c.Host = env.Hostname
	}
	name := env.Name
	if name == "" {
		name = Type
	}
	return &Sink{
		name:     name,
		endpoint: u.String() + Path,
		token:    token,
		cfg:      c,
		client:   sinks.NewHTTPClient(tc, c.Timeout),
		clock:    env.Clock,
	}, nil
}

// Name implements sinks.Sink.
func (s *Sink) Name() string { return s.name }

// hecEvent is HEC's event object.
type hecEvent struct {
	Time       json.Number  `json:"time"`
	Host       string       `json:"host"`
	Source     string       `json:"source"`
	Sourcetype string       `json:"sourcetype"`
	Index      string       `json:"index,omitempty"`
	Event      *sinks.Event `json:"event"`
}

// Encode renders events as a HEC request body: one event object per line.
func (s *Sink) Encode(events []sinks.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range events {
		e := &events[i]
		t := e.Time
		he := hecEvent{
			Time:       json.Number(strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%03d", t.Nanosecond()/1e6)),
			Host:       s.cfg.Host,
			Source:     s.cfg.Source,
			Sourcetype: s.cfg.Sourcetype,
			Index:      s.cfg.Index,
			Event:      e,
		}
		if err := enc.Encode(&he); err != nil { // Encode ends each object with "\n"
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
		return sinks.Permanent(fmt.Errorf("splunk HEC: build request: %w", err))
	}
	req.Header.Set("Authorization", "Splunk "+s.token.Reveal())
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.Channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", s.cfg.Channel)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("splunk HEC: %w", err) // network errors are retryable
	}
	b, rerr := sinks.ReadBody(resp)
	if rerr != nil && resp.StatusCode == http.StatusOK {
		return fmt.Errorf("splunk HEC: reading the answer: %w", rerr)
	}
	return s.classify(resp, b, len(events))
}

// Reply is HEC's JSON answer.
type Reply struct {
	Text               string `json:"text"`
	Code               int    `json:"code"`
	InvalidEventNumber *int   `json:"invalid-event-number"`
}

// ParseReply decodes HEC's answer; it fails unless the body is one JSON object with
// an integer code.
func ParseReply(b []byte) (Reply, error) {
	var raw struct {
		Text               string          `json:"text"`
		Code               *int            `json:"code"`
		InvalidEventNumber json.RawMessage `json:"invalid-event-number"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return Reply{}, fmt.Errorf("not a HEC reply: %w", err)
	}
	if dec.More() {
		return Reply{}, errors.New("not a HEC reply: more than one JSON value")
	}
	if raw.Code == nil {
		return Reply{}, errors.New("not a HEC reply: no code")
	}
	r := Reply{Text: raw.Text, Code: *raw.Code}
	if len(raw.InvalidEventNumber) > 0 && string(raw.InvalidEventNumber) != "null" {
		var n int
		if err := json.Unmarshal(raw.InvalidEventNumber, &n); err != nil {
			// Some versions send it as a string.
			var s string
			if json.Unmarshal(raw.InvalidEventNumber, &s) != nil {
				return Reply{}, errors.New("not a HEC reply: invalid-event-number is not a number")
			}
			if n, err = strconv.Atoi(s); err != nil {
				return Reply{}, errors.New("not a HEC reply: invalid-event-number is not a number")
			}
		}
		r.InvalidEventNumber = &n
	}
	return r, nil
}

func (s *Sink) classify(resp *http.Response, body []byte, n int) error {
	now := s.clock.Now()
	reply, perr := ParseReply(body)
	if resp.StatusCode == http.StatusOK {
		if perr == nil && reply.Code == 0 {
			return nil
		}
		// Not HEC's success answer (a proxy page?): the events may or may not be in.
		return fmt.Errorf("splunk HEC answered 200 without its success reply: %s", sinks.Snippet(string(body), 200, s.token))
	}
	if perr != nil {
		return sinks.StatusError("splunk HEC", resp, string(body), now, s.token)
	}
	text := sinks.Snippet(reply.Text, 200, s.token)
	msg := fmt.Sprintf("splunk HEC answered %d: %s (code %d)", resp.StatusCode, text, reply.Code)
	switch reply.Code {
	case 1, 2, 3, 4:
		return sinks.Permanent(fmt.Errorf("%s: check the token in token_env/token_file and that it is enabled in Splunk", msg))
	case 7:
		return sinks.Permanent(fmt.Errorf("%s: the token may not write to index %q; fix index or the token's allowed indexes", msg, s.cfg.Index))
	case 10, 11, 14:
		return sinks.Permanent(fmt.Errorf("%s: set channel to a GUID if the token has indexer acknowledgement on", msg))
	case 16:
		return sinks.Permanent(errors.New(msg))
	case 5, 6, 12, 13, 15:
		if k := reply.InvalidEventNumber; k != nil && *k >= 0 && *k < n {
			// Only event k is refused. Those before it were likely indexed; they are
			// sent again all the same (at least once), and receivers dedupe on id.
			be := &sinks.BatchError{Dropped: []sinks.ItemError{{Index: *k, Err: sinks.Rejected(errors.New(msg))}}}
			for i := 0; i < n; i++ {
				if i != *k {
					be.Retry = append(be.Retry, i)
				}
			}
			if len(be.Retry) > 0 {
				be.Err = fmt.Errorf("splunk HEC refused event %d of the batch, the others are sent again", *k)
			}
			return be
		}
		return sinks.Rejected(errors.New(msg))
	case 8, 9, 18, 19:
		err := errors.New(msg)
		if ra, ok := sinks.ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return sinks.RetryAfter(err, ra)
		}
		return err
	}
	return sinks.StatusError("splunk HEC", resp, fmt.Sprintf("%s (code %d)", text, reply.Code), now, s.token)
}
