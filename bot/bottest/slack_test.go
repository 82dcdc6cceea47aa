package bottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// recordingTB records the failures the fake reports instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs
	r.errs = nil
	return e
}

func call(t *testing.T, f *SlackFake, method, ctype string, form url.Values, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.APIURL()+method, strings.NewReader(form.Encode()))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestSlackFakeRefusesWhatSlackRefuses: the fake fails the test and answers in
// Slack's own error shape when the caller gets Slack's rules wrong.
func TestSlackFakeRefusesWhatSlackRefuses(t *testing.T) {
	rec := &recordingTB{TB: t}
	f := NewSlack(rec)
	form := "application/x-www-form-urlencoded"
	ok := func(v url.Values) url.Values { return v }
	cases := []struct {
		name, method, ctype, auth string
		args                      url.Values
		code                      string
	}{
		{"wrong token", "auth.test", form, "test-wrong-token", nil, "invalid_auth"},
		{"app token for a bot method", "auth.test", form, f.AppToken, nil, "invalid_auth"},
		{"json body for a form method", "auth.test", "application/json", f.BotToken, nil, "invalid_form_data"},
		{"unknown method", "chat.delete", form, f.BotToken, nil, "unknown_method"},
		{"channel name with capitals", "conversations.create", form, f.BotToken, ok(url.Values{"name": {"INC-1"}}), "invalid_name_specials"},
		{"channel name too long", "conversations.create", form, f.BotToken, ok(url.Values{"name": {strings.Repeat("a", 81)}}), "invalid_name_specials"},
		{"post without text", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C1"}}), "no_text"},
		{"51 blocks", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C1"}, "text": {"x"},
			"blocks": {"[" + strings.TrimSuffix(strings.Repeat(`{"type":"divider"},`, 51), ",") + "]"}}), "invalid_blocks"},
		{"long button text", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C1"}, "text": {"x"},
			"blocks": {`[{"type":"actions","elements":[{"type":"button","action_id":"a","text":{"type":"plain_text","text":"` + strings.Repeat("b", 76) + `"}}]}]`}}), "invalid_blocks"},
		{"section text over 3000", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C1"}, "text": {"x"},
			"blocks": {`[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("s", 3001) + `"}}]`}}), "invalid_blocks"},
		{"26 buttons", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C1"}, "text": {"x"},
			"blocks": {`[{"type":"actions","elements":[` + strings.TrimSuffix(strings.Repeat(`{"type":"button","action_id":"a","text":{"type":"plain_text","text":"b"}},`, 26), ",") + `]}]`}}), "invalid_blocks"},
		{"unknown channel", "chat.postMessage", form, f.BotToken, ok(url.Values{"channel": {"C404"}, "text": {"x"}}), "channel_not_found"},
	}
	for _, c := range cases {
		_, m := call(t, f, c.method, c.ctype, c.args, c.auth)
		if m["ok"] != false || m["error"] != c.code {
			t.Errorf("%s: answer %v; want ok false, error %s", c.name, m, c.code)
		}
		if errs := rec.take(); len(errs) == 0 {
			t.Errorf("%s: the fake did not fail the test", c.name)
		}
	}
	// A GET is refused too.
	resp, err := http.Get(f.APIURL() + "auth.test")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if errs := rec.take(); len(errs) == 0 {
		t.Error("GET: the fake did not fail the test")
	}
	// Legitimate refusals (a taken name) do not fail the test.
	f.AddChannel("taken", "U0SOMEONE", false)
	if _, m := call(t, f, "conversations.create", form, url.Values{"name": {"taken"}}, f.BotToken); m["error"] != "name_taken" {
		t.Errorf("taken name: %v", m)
	}
	if errs := rec.take(); len(errs) != 0 {
		t.Errorf("name_taken failed the test: %v", errs)
	}
	// 429 and outages in Slack's shape.
	f.RateLimit("auth.test", 3e9)
	req, _ := http.NewRequest(http.MethodPost, f.APIURL()+"auth.test", nil)
	req.Header.Set("Content-Type", form)
	req.Header.Set("Authorization", "Bearer "+f.BotToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("rate limit: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	f.SetDown(true)
	if code, _ := call(t, f, "auth.test", form, nil, f.BotToken); code != http.StatusServiceUnavailable {
		t.Errorf("outage: %d", code)
	}
}
