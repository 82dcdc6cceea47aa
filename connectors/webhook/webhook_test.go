package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/connectortest"
	"github.com/warroom/warroom/internal/clock"
)

// testSecret is the example secret of the Standard Webhooks specification.
const (
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testBearer = "soar-bearer-5e1f0c"
)

func testEnv(env connectors.Env) connectors.Env {
	env.LookupEnv = func(k string) (string, bool) {
		v, ok := map[string]string{"WH_SECRET": testSecret, "SOAR_TOKEN": testBearer}[k]
		return v, ok
	}
	return env
}

func newHook(t *testing.T, url, extra string, env connectors.Env) *Webhook {
	t.Helper()
	cfg, err := ParseConfig([]byte("url: " + url + "\nsecret_env: WH_SECRET\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(cfg, testEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func blockReq(target string) connectors.Request {
	tg, _ := connectors.ParseTarget(target)
	return connectors.Request{ActionID: "act-7", IdempotencyKey: "key-" + target, Kind: connectors.BlockIP, Target: tg, TTL: 24 * time.Hour,
		Params: map[string]string{"incident": "INC-0042", "note": "line 1\n\"quoted\" <b>&"}}
}

func TestSpecVector(t *testing.T) {
	// The example from the Standard Webhooks specification.
	key, err := decodeSigningSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm9wZQ== "+got)
	if err := connectortest.VerifySignature(testSecret, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330, 0), time.Minute); err != nil {
		t.Fatalf("the verifier rejects the specification's example: %v", err)
	}
	if err := connectortest.VerifySignature(testSecret, h, []byte(`{"test": 2432232315}`), time.Unix(1614265330, 0), time.Minute); err == nil {
		t.Fatal("the verifier accepts a changed body")
	}
	if err := connectortest.VerifySignature(testSecret, h, []byte(`{"test": 2432232314}`), time.Unix(1614265330+3600, 0), time.Minute); err == nil {
		t.Fatal("the verifier accepts a stale timestamp")
	}
}

func TestConformance(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	connectortest.RunConformance(t, func(t *testing.T, env connectors.Env) connectortest.Subject {
		w := newHook(t, rcv.URL+"/hook", "kinds: [block_ip, unblock_ip]\nbearer_token_env: SOAR_TOKEN\n", env)
		return connectortest.Subject{Connector: w, Secrets: []string{testSecret, strings.TrimPrefix(testSecret, "whsec_"), testBearer}}
	})
	reqs := rcv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want one execute and one revert", len(reqs))
	}
	for _, r := range reqs {
		if r.SigErr != nil {
			t.Errorf("signature: %v", r.SigErr)
		}
		if r.Header.Get("Authorization") != "Bearer "+testBearer {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
	}
	if reqs[0].ID == reqs[1].ID {
		t.Error("execute and revert share a webhook-id")
	}
}

func TestSignedTemplatedDelivery(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	w := newHook(t, rcv.URL+"/hooks/warroom?tenant=7", "kinds: [block_ip]\nheaders: {X-Source: warroom}\n", connectors.Env{Name: "soar", Clock: clk})
	req := blockReq("203.0.113.7")
	res, err := w.Execute(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.Requests()[0]
	if got.SigErr != nil {
		t.Fatalf("signature rejected: %v", got.SigErr)
	}
	if got.Method != "POST" || got.Path != "/hooks/warroom?tenant=7" || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("X-Source") != "warroom" || got.Header.Get("Idempotency-Key") != got.ID || !strings.HasPrefix(got.ID, "msg_") ||
		got.Timestamp != fmt.Sprint(clk.Now().Unix()) || res.Reference != got.ID {
		t.Fatalf("request %+v, result %+v", got, res)
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got.Body)
	}
	want := map[string]any{
		"type": "action.block_ip", "timestamp": clk.Now().UTC().Format(time.RFC3339),
		"data": map[string]any{
			"connector": "soar", "op": "execute", "action_id": "act-7", "idempotency_key": "key-203.0.113.7",
			"kind": "block_ip", "target": "203.0.113.7/32", "ttl_seconds": float64(86400),
			"params": map[string]any{"incident": "INC-0042", "note": "line 1\n\"quoted\" <b>&"},
		},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body\n%v\nwant\n%v", body, want)
	}
	if res.Detail != fmt.Sprintf("POST %s/hooks/warroom accepted block_ip 203.0.113.7/32 (%s)", rcv.URL, got.ID) {
		t.Errorf("Detail %q", res.Detail)
	}
}

func TestCustomTemplates(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	w := newHook(t, rcv.URL, `kinds: [block_ip]
body: '{"ip": {{json .Address}}, "minutes": {{seconds .TTL}}, "why": {{json .Params.note}}, "kind": {{json (upper .Kind)}}}'
revert_body: '{"unblock": {{json .Address}}, "op": {{json .Op}}}'
`, connectors.Env{})
	ctx := context.Background()
	req := blockReq("203.0.113.9")
	if _, err := w.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Revert(ctx, req); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.Requests()
	if got := string(reqs[0].Body); got != `{"ip": "203.0.113.9", "minutes": 86400, "why": "line 1\n\"quoted\" \u003cb\u003e\u0026", "kind": "BLOCK_IP"}` {
		t.Errorf("execute body %s", got)
	}
	if got := string(reqs[1].Body); got != `{"unblock": "203.0.113.9", "op": "revert"}` {
		t.Errorf("revert body %s", got)
	}
}

func TestOutcomeClassification(t *testing.T) {
	tests := []struct {
		name      string
		fault     connectortest.Fault
		retryable bool
		after     time.Duration
		err       string
	}{
		{"503", connectortest.Fault{Status: 503}, true, 0, "answered 503 Service Unavailable: Service Unavailable (503)"},
		{"503 retry-after", connectortest.Fault{Status: 503, RetryAfter: "4"}, true, 4 * time.Second, "answered 503 Service Unavailable"},
		{"500", connectortest.Fault{Status: 500}, true, 0, "answered 500 Internal Server Error"},
		{"502", connectortest.Fault{Status: 502}, true, 0, "answered 502 Bad Gateway"},
		{"408", connectortest.Fault{Status: 408}, true, 0, "answered 408 Request Timeout"},
		{"429", connectortest.Fault{Status: 429, RetryAfter: "7"}, true, 7 * time.Second, "answered 429 Too Many Requests"},
		{"429 no header", connectortest.Fault{Status: 429}, true, 0, "answered 429 Too Many Requests"},
		{"400", connectortest.Fault{Status: 400}, false, 0, "answered 400 Bad Request"},
		{"403", connectortest.Fault{Status: 403}, false, 0, "answered 403 Forbidden"},
		{"404", connectortest.Fault{Status: 404}, false, 0, "answered 404 Not Found"},
		{"422", connectortest.Fault{Status: 422}, false, 0, "answered 422 Unprocessable Entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := connectortest.NewReceiver(t, testSecret)
			rcv.Inject(tt.fault)
			w := newHook(t, rcv.URL, "kinds: [block_ip]\n", connectors.Env{})
			_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.err)
			}
			if connectors.Retryable(err) != tt.retryable {
				t.Errorf("Retryable = %v, want %v", !tt.retryable, tt.retryable)
			}
			if after, _ := connectors.RetryAfter(err); after != tt.after {
				t.Errorf("RetryAfter = %v, want %v", after, tt.after)
			}
			if v, _ := w.Verify(context.Background(), blockReq("203.0.113.7")); v.InPlace {
				t.Error("a failed delivery verifies as in place")
			}
		})
	}
}

func TestBadSignatureIsPermanent(t *testing.T) {
	rcv := connectortest.NewReceiver(t, "whsec_"+strings.Repeat("QUJD", 8)) // a different key
	w := newHook(t, rcv.URL, "kinds: [block_ip]\n", connectors.Env{})
	_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.Contains(err.Error(), "answered 401 Unauthorized") {
		t.Fatalf("err = %v, want a permanent 401", err)
	}
}

func TestRetriesKeepTheMessageID(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	rcv.Fail(503, 1)
	rcv.RateLimit(1, "2")
	clk := clock.NewFake(time.Now().Truncate(time.Second))
	w := newHook(t, rcv.URL, "kinds: [block_ip]\n", connectors.Env{Clock: clk})
	var waits []time.Duration
	policy := connectors.Policy{Clock: clk, Rand: func() float64 { return 0 }, Wait: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clk.Advance(d)
		return nil
	}}
	c := connectors.Resilient(w, policy, connectors.NewBreaker("soar", connectors.BreakerConfig{}, clk))
	res, err := c.Execute(context.Background(), blockReq("203.0.113.7"))
	if err != nil || !res.Changed {
		t.Fatalf("Execute = %+v, %v", res, err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (503, 429, 204)", len(reqs))
	}
	for i, r := range reqs {
		if r.SigErr != nil || r.ID != reqs[0].ID {
			t.Errorf("attempt %d: id %s sig %v; every attempt must be signed and carry the same webhook-id", i, r.ID, r.SigErr)
		}
	}
	if reqs[2].Timestamp == reqs[0].Timestamp {
		t.Error("the retry reused the first attempt's timestamp")
	}
	if !reflect.DeepEqual(waits, []time.Duration{200 * time.Millisecond, 2 * time.Second}) {
		t.Errorf("waits %v, want the backoff then the Retry-After", waits)
	}
	// A repeat after success sends nothing.
	res, err = c.Execute(context.Background(), blockReq("203.0.113.7"))
	if err != nil || res.Changed || len(rcv.Requests()) != 3 {
		t.Fatalf("repeat: %+v %v, %d requests", res, err, len(rcv.Requests()))
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	rcv.Stall(1)
	w := newHook(t, rcv.URL, "kinds: [block_ip]\ntimeout: 50ms\n", connectors.Env{})
	_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Fatalf("err = %v, want a retryable client timeout", err)
	}
}

func TestUnreachableIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	w := newHook(t, "http://"+addr+"/h?token=q1w2e3", "kinds: [block_ip]\n", connectors.Env{})
	_, err = w.Execute(context.Background(), blockReq("203.0.113.7"))
	if err == nil || !connectors.Retryable(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want a retryable refusal", err)
	}
	if strings.Contains(err.Error(), "q1w2e3") {
		t.Errorf("the error shows the URL's query: %v", err)
	}
	if rd := w.Ready(context.Background()); rd.Reachable != connectors.Failed || rd.OK() {
		t.Errorf("Ready = %+v, want unreachable", rd)
	}
}

func TestRedirectIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusFound))
	defer srv.Close()
	w := newHook(t, srv.URL, "kinds: [block_ip]\n", connectors.Env{})
	_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
	if err == nil || connectors.Retryable(err) || !strings.HasSuffix(err.Error(), "answered 302 Found; redirects are not followed, point url at the final endpoint") {
		t.Fatalf("err = %v", err)
	}
}

func TestEchoedSecretsAreMasked(t *testing.T) {
	// An endpoint that echoes the request headers in its error body.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; you sent %s and %s", r.Header.Get("Authorization"), testSecret)
	}))
	defer srv.Close()
	env, logs, _ := connectortest.NewEnv("soar")
	w := newHook(t, srv.URL, "kinds: [block_ip]\nbearer_token_env: SOAR_TOKEN\n", env)
	_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
	if err == nil || !strings.Contains(err.Error(), "you sent Bearer [redacted] and [redacted]") {
		t.Fatalf("err = %v", err)
	}
	connectortest.AssertNoSecret(t, []string{testSecret, testBearer}, err.Error(), logs.String())
}

func TestDryRun(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	w := newHook(t, rcv.URL+"/h", "kinds: [block_ip]\ndry_run: true\n", connectors.Env{})
	ctx := context.Background()
	req := blockReq("203.0.113.7")
	res, err := w.Execute(ctx, req)
	if err != nil || !res.DryRun || !res.Changed || !strings.HasPrefix(res.Detail, "dry run: would POST "+rcv.URL+"/h (webhook-id msg_") {
		t.Fatalf("Execute = %+v %v", res, err)
	}
	if v, _ := w.Verify(ctx, req); !v.InPlace || !v.DryRun {
		t.Errorf("Verify = %+v", v)
	}
	if r, _ := w.Revert(ctx, req); !r.DryRun || !r.Changed {
		t.Errorf("Revert = %+v", r)
	}
	if n := len(rcv.Requests()); n != 0 {
		t.Fatalf("dry run sent %d requests", n)
	}
}

func TestRevertDisabled(t *testing.T) {
	rcv := connectortest.NewReceiver(t, testSecret)
	w := newHook(t, rcv.URL, "kinds: [block_ip]\nrevert: false\n", connectors.Env{})
	ctx := context.Background()
	req := blockReq("203.0.113.7")
	if _, err := w.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	r, err := w.Revert(ctx, req)
	if err != nil || !r.Changed || r.Detail != "revert of block_ip 203.0.113.7/32 recorded; nothing sent (revert: false)" {
		t.Fatalf("Revert = %+v %v", r, err)
	}
	if n := len(rcv.Requests()); n != 1 {
		t.Errorf("%d requests, want only the execute", n)
	}
	if v, _ := w.Verify(ctx, req); v.InPlace {
		t.Error("verified after revert")
	}
}

func TestPreview(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	w := newHook(t, "https://soar.example.com/hooks?sig=zz", "kinds: [block_ip]\nbody: '{\"ip\": {{json .Address}}}'\n", connectors.Env{Name: "soar", Clock: clk})
	d, err := w.Preview(context.Background(), blockReq("203.0.113.7"))
	if err != nil {
		t.Fatal(err)
	}
	id := w.messageID(blockReq("203.0.113.7"), "execute")
	want := "POST https://soar.example.com/hooks (webhook-id " + id + ")\nbody: {\"ip\": \"203.0.113.7\"}"
	if d.String() != want {
		t.Errorf("Preview\n%s\nwant\n%s", d, want)
	}
}

func TestSecretErrors(t *testing.T) {
	cfg, _ := ParseConfig([]byte("url: https://x.example/\nsecret_env: WH\n"))
	for _, tt := range []struct{ value, err string }{
		{"not-prefixed", `secret_env: the signing secret must be "whsec_" followed by base64 (Standard Webhooks)`},
		{"whsec_c2hvcnQ=", `secret_env: the signing secret must be "whsec_" followed by the base64 of at least 16 random bytes`},
		{"whsec_!!!", `secret_env: the signing secret must be "whsec_" followed by the base64 of at least 16 random bytes`},
	} {
		_, err := New(cfg, connectors.Env{LookupEnv: func(string) (string, bool) { return tt.value, true }})
		if err == nil || err.Error() != tt.err {
			t.Errorf("secret %q: %v, want %q", tt.value, err, tt.err)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{"0", 0, true},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},
		{"soon", 0, false},
		{"", 0, false},
		{"-3", 0, false},
	} {
		got, ok := retryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUnsupportedKind(t *testing.T) {
	w := newHook(t, "https://x.example/", "", connectors.Env{})
	_, err := w.Execute(context.Background(), blockReq("203.0.113.7"))
	if !errors.Is(err, connectors.ErrUnsupported) || connectors.Retryable(err) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := retryAfter(v, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); d < 0 || (!ok && d != 0) {
			t.Fatalf("retryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
