package narrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// chatAPI is the part of go-openai's client used here.
type chatAPI interface {
	CreateChatCompletion(ctx context.Context, req openai.ChatCompletionRequest) (openai.ChatCompletionResponse, error)
}

var _ chatAPI = (*openai.Client)(nil)

// Completer answers a prompt with the model's text.
type Completer interface {
	Complete(ctx context.Context, p Prompt) (Answer, error)
	// Model names the model, as rooms show it.
	Model() string
}

// Answer is the model's reply.
type Answer struct {
	Content          string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// BaseURL is the API root (https://api.openai.com/v1, http://127.0.0.1:11434/v1,
	// https://NAME.openai.azure.com).
	BaseURL string
	// Azure selects Azure OpenAI's URLs and api-key header; APIVersion is its
	// api-version.
	Azure      bool
	APIVersion string
	APIKey     string
	Model      string
	// Timeout bounds one request (go-openai's default client has none).
	Timeout     time.Duration
	MaxTokens   int
	Temperature float64
	// JSONObject asks for plain JSON mode from the start instead of a JSON schema.
	JSONObject bool
}

// Client is an OpenAI-compatible chat completion client.
type Client struct {
	api   chatAPI
	o     ClientOptions
	mu    sync.Mutex
	plain bool // the server refused the JSON schema: use JSON mode
}

var _ Completer = (*Client)(nil)

// NewClient builds a client for o.
func NewClient(o ClientOptions) (*Client, error) {
	if o.BaseURL == "" || o.Model == "" {
		return nil, errors.New("narrate: base URL and model are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	var cfg openai.ClientConfig
	if o.Azure {
		cfg = openai.DefaultAzureConfig(o.APIKey, strings.TrimRight(o.BaseURL, "/"))
		if o.APIVersion != "" {
			cfg.APIVersion = o.APIVersion
		}
		cfg.AzureModelMapperFunc = func(m string) string { return m } // the model is the deployment
	} else {
		cfg = openai.DefaultConfig(o.APIKey)
		cfg.BaseURL = strings.TrimRight(o.BaseURL, "/")
	}
	cfg.HTTPClient = &retryAfterDoer{c: &http.Client{Timeout: o.Timeout, CheckRedirect: refuseRedirect}}
	return newClient(openai.NewClientWithConfig(cfg), o), nil
}

// refuseRedirect follows no redirect: chat completion endpoints do not redirect, and
// Go keeps custom headers such as Azure's api-key on a redirect to another host.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the model endpoint redirected to %s://%s; set ai.base_url to the final address", req.URL.Scheme, req.URL.Host)
}

func newClient(api chatAPI, o ClientOptions) *Client {
	return &Client{api: api, o: o, plain: o.JSONObject}
}

// Model implements Completer.
func (c *Client) Model() string { return c.o.Model }

// Complete sends p and returns the answer. It asks for the JSON schema of Result;
// when the server refuses it (400), it asks again in plain JSON mode and keeps
// doing so. A 429 error carries the server's Retry-After (see RetryAfter).
func (c *Client) Complete(ctx context.Context, p Prompt) (Answer, error) {
	c.mu.Lock()
	plain := c.plain
	c.mu.Unlock()
	ans, err := c.complete(ctx, p, plain)
	var apiErr *openai.APIError
	if err != nil && !plain && errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusBadRequest {
		c.mu.Lock()
		c.plain = true
		c.mu.Unlock()
		ans, err = c.complete(ctx, p, true)
	}
	return ans, err
}

func (c *Client) complete(ctx context.Context, p Prompt, plain bool) (Answer, error) {
	req := openai.ChatCompletionRequest{
		Model: c.o.Model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: p.System},
			{Role: openai.ChatMessageRoleUser, Content: p.User},
		},
		MaxTokens:   c.o.MaxTokens,
		Temperature: float32(c.o.Temperature),
	}
	if plain {
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	} else {
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: "incident_narrative", Schema: Schema(), Strict: true}}
	}
	var ra time.Duration
	ctx = context.WithValue(ctx, retryAfterKey{}, &ra)
	resp, err := c.api.CreateChatCompletion(ctx, req)
	if err != nil {
		err = fmt.Errorf("chat completion (model %s): %w", c.o.Model, scrub(err, c.o.APIKey))
		if ra > 0 {
			err = &RetryAfterError{After: ra, Err: err}
		}
		return Answer{}, err
	}
	if len(resp.Choices) == 0 {
		return Answer{}, fmt.Errorf("chat completion (model %s): %w: no choices in the answer", c.o.Model, ErrInvalid)
	}
	ch := resp.Choices[0]
	ans := Answer{Content: ch.Message.Content, FinishReason: string(ch.FinishReason),
		PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
	if ch.FinishReason == openai.FinishReasonLength {
		return ans, fmt.Errorf("chat completion (model %s): %w: cut at max_tokens", c.o.Model, ErrInvalid)
	}
	if ch.FinishReason == openai.FinishReasonContentFilter {
		return ans, fmt.Errorf("chat completion (model %s): %w: withheld by the content filter", c.o.Model, ErrInvalid)
	}
	return ans, nil
}

// RetryAfterError is a rate-limit error with the server's Retry-After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return fmt.Sprintf("%v (retry after %s)", e.Err, e.After) }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns how long the server asked to wait, if it did.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

type retryAfterKey struct{}

// retryAfterDoer records a 429 answer's Retry-After in the request's context, which
// go-openai's errors do not carry.
type retryAfterDoer struct{ c *http.Client }

func (d *retryAfterDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if p, ok := req.Context().Value(retryAfterKey{}).(*time.Duration); ok {
			*p = parseRetryAfter(resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}

// parseRetryAfter reads a Retry-After of seconds; other forms count as 1s.
func parseRetryAfter(v string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(min(n, 3600)) * time.Second
	}
	if v != "" {
		return time.Second
	}
	return 0
}

// scrub removes the API key from an error, should a server echo it back.
func scrub(err error, key string) error {
	if key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), key, "[api key]"), err: err}
}

// scrubbed is an error whose text no longer holds the key; errors.Is and As still
// see the original (its status code, for the JSON mode fallback).
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
