package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/sinks"
	"github.com/warroom/warroom/sinks/sinktest"
)

// The Standard Webhooks specification's test vector.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

const secret = "whsec_c2VjcmV0LWtleS1mb3Itd2Fycm9vbS13ZWJob29rLXRlc3RzIQ=="

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func testEnv(c clock.Clock) sinks.Env {
	return sinks.Env{
		Name:     "webhook-test",
		Clock:    c,
		Hostname: "warroom-1",
		LookupEnv: func(k string) (string, bool) {
			switch k {
			case "WARROOM_WEBHOOK_SECRET":
				return secret, true
			case "WARROOM_WEBHOOK_PLAIN":
				return "c2VjcmV0LWtleS1mb3Itd2Fycm9vbS13ZWJob29rLXRlc3RzIQ==", true
			case "WARROOM_WEBHOOK_SHORT":
				return "whsec_c2hvcnQ=", true
			}
			return "", false
		},
	}
}

func newSink(t *testing.T, url string, c clock.Clock) *Sink {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL, cfg.TokenEnv = url, "WARROOM_WEBHOOK_SECRET"
	s, err := New(cfg, testEnv(c))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func events(n int) []sinks.Event {
	out := make([]sinks.Event, n)
	for i := range out {
		out[i] = sinks.Event{
			ID: fmt.Sprintf("ev-%04d", i), Time: t0, Type: sinks.ActionReverted, Incident: "INC-0007", Actor: "warroom",
			Fields: map[string]string{"reason": "ttl expired <24h>"},
		}
	}
	return out
}

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	key, err := ParseSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, vectorID, vectorTimestamp, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign = %s, want %s", got, vectorSignature)
	}
}

func TestSendIsSignedAndVerifies(t *testing.T) {
	fc := clock.NewFake(t0)
	rx := sinktest.NewWebhook(t, secret, fc)
	s := newSink(t, rx.URL()+sinktest.WebhookPath, fc)
	evs := events(2)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ds := rx.Deliveries()
	if len(ds) != 1 || len(ds[0].Events) != 2 {
		t.Fatalf("deliveries = %+v, want one with 2 events", ds)
	}
	if ds[0].Timestamp != t0.Unix() || ds[0].ID != MessageID(evs) || !strings.HasPrefix(ds[0].ID, "msg_") {
		t.Errorf("delivery id %s timestamp %d", ds[0].ID, ds[0].Timestamp)
	}
	var back sinks.Event
	if err := json.Unmarshal(ds[0].Events[1], &back); err != nil || back.ID != "ev-0001" || back.Fields["reason"] != "ttl expired <24h>" {
		t.Errorf("event came back as %+v (%v)", back, err)
	}
	r := rx.Requests()[0]
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}
	if want := `{"events":[{"id":"ev-0000","time":"2025-03-01T12:00:00.123456789Z","type":"action.reverted","incident":"INC-0007","actor":"warroom","fields":{"reason":"ttl expired <24h>"}},`; !strings.HasPrefix(string(r.Body), want) {
		t.Errorf("body = %s", r.Body)
	}
}

func TestResendKeepsTheIDAndSignsTheNewTimestamp(t *testing.T) {
	fc := clock.NewFake(t0)
	rx := sinktest.NewWebhook(t, secret, fc)
	s := newSink(t, rx.URL()+sinktest.WebhookPath, fc)
	rx.Inject(sinktest.Fault{Status: 503, RetryAfter: "30"})
	evs := events(1)
	err := s.Send(context.Background(), evs)
	if d, ok := sinks.RetryDelay(err); !ok || d != 30*time.Second {
		t.Fatalf("Send = %v, want retryable after 30s", err)
	}
	fc.Advance(30 * time.Second)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("resend: %v", err)
	}
	reqs := rx.Requests()
	if reqs[0].Header.Get("webhook-id") != reqs[1].Header.Get("webhook-id") {
		t.Errorf("webhook-id changed between attempts")
	}
	if reqs[1].Header.Get("webhook-timestamp") != fmt.Sprint(t0.Add(30*time.Second).Unix()) {
		t.Errorf("resend timestamp = %s", reqs[1].Header.Get("webhook-timestamp"))
	}
}

func TestWrongSecretHalts(t *testing.T) {
	fc := clock.NewFake(t0)
	rx := sinktest.NewWebhook(t, vectorSecret, fc)
	err := newSink(t, rx.URL()+sinktest.WebhookPath, fc).Send(context.Background(), events(1))
	if !sinks.IsPermanent(err) || sinks.IsRejected(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Send = %v, want the sink halted on 401", err)
	}
	if len(rx.Deliveries()) != 0 {
		t.Fatal("a delivery with a wrong signature was accepted")
	}
}

func TestStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status              int
		retryable, rejected bool
	}{
		{500, true, false}, {502, true, false}, {429, true, false}, {408, true, false},
		{400, false, true}, {413, false, true}, {422, false, true},
		{401, false, false}, {403, false, false}, {404, false, false}, {410, false, false},
	} {
		fc := clock.NewFake(t0)
		rx := sinktest.NewWebhook(t, secret, fc)
		rx.Inject(sinktest.Fault{Status: tc.status})
		err := newSink(t, rx.URL()+sinktest.WebhookPath, fc).Send(context.Background(), events(1))
		if err == nil || sinks.Retryable(err) != tc.retryable || sinks.IsRejected(err) != tc.rejected {
			t.Errorf("%d: error %v: retryable %v rejected %v, want %v %v", tc.status, err, sinks.Retryable(err), sinks.IsRejected(err), tc.retryable, tc.rejected)
		}
	}
}

func TestOutageDelaysButLosesNothing(t *testing.T) {
	fc := clock.NewFake(t0)
	rx := sinktest.NewWebhook(t, secret, fc)
	s := newSink(t, rx.URL()+sinktest.WebhookPath, fc)
	timer := sinktest.NewTimer(fc)
	rx.Stop()
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 2 {
			rx.Start()
			rx.Outage(2)
		}
	})
	q := sinktest.NewMemQueue()
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, Clock: fc, After: timer.After, Delivery: sinks.Delivery{BatchSize: 4}})
	evs := events(10)
	for i := range evs {
		evs[i].ID = fmt.Sprintf("ev-%04d", i)
	}
	ctx := context.Background()
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var got []string
	for _, dl := range rx.Deliveries() {
		for _, e := range dl.Events {
			var ev sinks.Event
			json.Unmarshal(e, &ev)
			got = append(got, ev.ID)
		}
	}
	var want []string
	for _, e := range evs {
		want = append(want, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if len(timer.Waits()) != 4 {
		t.Errorf("waits %v, want 4 (2 refused, 2 busy)", timer.Waits())
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	fc := clock.NewFake(t0)
	logger, logs := sinktest.NewLogger()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, "debug: secret is %s, key %s", secret, strings.TrimPrefix(secret, "whsec_"))
	}))
	defer echo.Close()
	var texts []string
	for _, url := range []string{echo.URL, "http://127.0.0.1:1/hook"} {
		s := newSink(t, url, fc)
		texts = append(texts, fmt.Sprintf("%v %+v %#v", s, s, s))
		err := s.Send(context.Background(), events(1))
		if err == nil {
			t.Fatal("Send succeeded")
		}
		texts = append(texts, err.Error())
		ctx, cancel := context.WithCancel(context.Background())
		timer := sinktest.NewTimer(nil)
		timer.OnWait(func(int, time.Duration) { cancel() })
		d, _ := sinks.NewDispatcher(sinks.Options{Queue: sinktest.NewMemQueue(), Sinks: []sinks.Sink{s}, Logger: logger, After: timer.After})
		d.Publish(ctx, events(1)...)
		d.Flush(ctx)
		cancel()
	}
	for _, v := range []string{"WARROOM_WEBHOOK_PLAIN", "WARROOM_WEBHOOK_SHORT"} {
		cfg := DefaultConfig()
		cfg.URL, cfg.TokenEnv = "https://soar.example.net/hook", v
		_, err := New(cfg, testEnv(fc))
		texts = append(texts, err.Error())
	}
	texts = append(texts, logs.String())
	sinktest.NoSecret(t, secret, texts...)
	sinktest.NoSecret(t, strings.TrimPrefix(secret, "whsec_"), texts...)
	sinktest.NoSecret(t, "c2hvcnQ=", texts...)
	if !strings.Contains(strings.Join(texts, "\n"), "[redacted]") {
		t.Errorf("the echoed secret was not replaced by [redacted]")
	}
}

func TestInvalidConfigs(t *testing.T) {
	sinktest.InvalidConfigs(t, "testdata/invalid", func(n *yaml.Node) error {
		_, err := factory(n, testEnv(clock.NewFake(t0)))
		return err
	})
}

func TestSampleBuilds(t *testing.T) {
	cfg, err := sinks.ParseConfig([]byte(Sample))
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	ss, err := cfg.Build(testEnv(clock.NewFake(t0)))
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if s := ss[0].(*Sink); s.Name() != "webhook" || s.endpoint != "https://soar.example.net/hooks/warroom" {
		t.Fatalf("sample sink = %s %s", s.Name(), s.endpoint)
	}
}

// FuzzParseSecret: an accepted secret always has 24 to 64 key bytes and signs.
func FuzzParseSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseSecret(s)
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 8 {
				t.Fatalf("error repeats the secret: %v", err)
			}
			return
		}
		if len(key) < 24 || len(key) > 64 {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		if !strings.HasPrefix(Sign(key, "msg_1", 1, nil), "v1,") {
			t.Fatal("bad signature format")
		}
	})
}
