package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestFakeIsStrict sends requests that break the API's rules: each is reported as a
// test error and answered with the API's error JSON and status.
func TestFakeIsStrict(t *testing.T) {
	s := New(t, "sk-good", "gpt-4o-mini")
	var reported []string
	s.Errorf = func(format string, args ...any) { reported = append(reported, fmt.Sprintf(format, args...)) }
	good := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"answer in JSON"},{"role":"user","content":"hi"}],"response_format":{"type":"json_object"},"stream":false}`
	for _, tc := range []struct {
		name, method, path, auth, ctype, body string
		status                                int
	}{
		{"wrong path", "POST", "/v1/completions", "Bearer sk-good", "application/json", good, 404},
		{"wrong method", "GET", "/v1/chat/completions", "Bearer sk-good", "application/json", "", 405},
		{"no auth", "POST", "/v1/chat/completions", "", "application/json", good, 401},
		{"wrong key", "POST", "/v1/chat/completions", "Bearer sk-bad", "application/json", good, 401},
		{"form body", "POST", "/v1/chat/completions", "Bearer sk-good", "application/x-www-form-urlencoded", good, 400},
		{"unknown field", "POST", "/v1/chat/completions", "Bearer sk-good", "application/json", strings.Replace(good, `"stream"`, `"functions":[],"stream"`, 1), 400},
		{"wrong model", "POST", "/v1/chat/completions", "Bearer sk-good", "application/json", strings.Replace(good, "gpt-4o-mini", "gpt-5", 1), 400},
		{"bad role", "POST", "/v1/chat/completions", "Bearer sk-good", "application/json", strings.Replace(good, `"role":"user"`, `"role":"root"`, 1), 400},
		{"json mode without the word", "POST", "/v1/chat/completions", "Bearer sk-good", "application/json", strings.Replace(good, "answer in JSON", "answer", 1), 400},
		{"not JSON", "POST", "/v1/chat/completions", "Bearer sk-good", "application/json", "{", 400},
	} {
		reported = nil
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error *struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Errorf("%s: status %d (want %d), error body %+v, %v", tc.name, resp.StatusCode, tc.status, e.Error, err)
		}
		if len(reported) != 1 {
			t.Errorf("%s: %d test errors reported, want 1", tc.name, len(reported))
		}
	}
	// The same request, well formed, is answered as chat.completion JSON.
	reported = nil
	req, _ := http.NewRequest("POST", s.URL+"/v1/chat/completions", strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer sk-good")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens, CompletionTokens, TotalTokens int
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || c.Object != "chat.completion" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Created == 0 ||
		c.Model != "gpt-4o-mini" || len(c.Choices) != 1 || c.Choices[0].Message.Role != "assistant" ||
		c.Choices[0].FinishReason != "stop" || !json.Valid([]byte(c.Choices[0].Message.Content)) {
		t.Errorf("answer %+v", c)
	}
	if len(reported) != 0 {
		t.Errorf("a good request was reported: %v", reported)
	}
}

// TestFakeRateLimit answers 429 with Retry-After and the API's rate-limit error.
func TestFakeRateLimit(t *testing.T) {
	s := New(t, "k", "m")
	s.SetMode(RateLimited)
	req, _ := http.NewRequest("POST", s.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Type string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || e.Error.Code != "rate_limit_exceeded" {
		t.Errorf("status %d, Retry-After %q, error %+v", resp.StatusCode, resp.Header.Get("Retry-After"), e.Error)
	}
}
