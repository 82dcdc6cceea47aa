package splunk

import (
	"context"
	"encoding/json"
	"errors"
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

const (
	token  = "5f2b6c3e-9d1a-4c1e-8f00-0badc0ffee42"
	envVar = "WARROOM_SPLUNK_HEC_TOKEN"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func testEnv() sinks.Env {
	return sinks.Env{
		Name:     "splunk-test",
		Clock:    clock.NewFake(t0),
		Hostname: "warroom-1",
		LookupEnv: func(k string) (string, bool) {
			if k == envVar {
				return token, true
			}
			return "", false
		},
	}
}

func newSink(t *testing.T, url string, mod func(*Config)) *Sink {
	t.Helper()
	c := DefaultConfig()
	c.URL = url
	c.TokenEnv = envVar
	if mod != nil {
		mod(&c)
	}
	s, err := New(c, testEnv())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func events(n int) []sinks.Event {
	out := make([]sinks.Event, n)
	for i := range out {
		out[i] = sinks.Event{
			ID:       fmt.Sprintf("ev-%04d", i),
			Time:     t0.Add(time.Duration(i) * time.Millisecond),
			Type:     sinks.ActionSucceeded,
			Incident: "INC-0042",
			Actor:    "alice",
			Fields:   map[string]string{"action": fmt.Sprint(i), "target": "203.0.113.7/32", "note": `quote " bracket ] backslash \ <html>`},
		}
	}
	return out
}

func TestSendMatchesHECWireFormat(t *testing.T) {
	hec := sinktest.NewHEC(t, token, "netsec")
	s := newSink(t, hec.URL(), func(c *Config) { c.Index = "netsec" })
	evs := events(3)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := hec.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/services/collector/event" {
		t.Errorf("request %s %s, want POST /services/collector/event", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Splunk "+token {
		t.Errorf("Authorization = %q, want the Splunk scheme with the token", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if r.Header.Get("X-Splunk-Request-Channel") != "" {
		t.Errorf("channel header sent without a channel configured")
	}
	lines := strings.Split(strings.TrimSuffix(string(r.Body), "\n"), "\n")
	if len(lines) != 3 || !strings.HasSuffix(string(r.Body), "\n") {
		t.Fatalf("body is not three newline-terminated event objects:\n%s", r.Body)
	}
	got := hec.Events()
	if len(got) != 3 {
		t.Fatalf("HEC kept %d events, want 3", len(got))
	}
	for i, he := range got {
		if want := fmt.Sprintf("%d.%03d", evs[i].Time.Unix(), evs[i].Time.Nanosecond()/1e6); string(he.Time) != want {
			t.Errorf("event %d time = %s, want %s (epoch seconds with milliseconds)", i, he.Time, want)
		}
		if he.Host != "warroom-1" || he.Source != "warroom" || he.Sourcetype != "warroom:event" || he.Index != "netsec" {
			t.Errorf("event %d metadata = %v", i, he)
		}
		var back sinks.Event
		if err := json.Unmarshal(he.Event, &back); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if back.ID != evs[i].ID || !back.Time.Equal(evs[i].Time) || back.Type != evs[i].Type || back.Fields["note"] != evs[i].Fields["note"] {
			t.Errorf("event %d came back as %+v, want %+v", i, back, evs[i])
		}
	}
	// The first line is exactly HEC's object with the key order warroom sends.
	if !strings.HasPrefix(lines[0], `{"time":1740830400.123,"host":"warroom-1","source":"warroom","sourcetype":"warroom:event","index":"netsec","event":{"id":"ev-0000",`) {
		t.Errorf("first object = %s", lines[0])
	}
}

func TestIndexAndChannelAreOptional(t *testing.T) {
	hec := sinktest.NewHEC(t, token)
	s := newSink(t, hec.URL(), func(c *Config) { c.Channel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba" })
	if err := s.Send(context.Background(), events(1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if hec.Events()[0].HasIndex {
		t.Errorf("index sent although none is configured")
	}
	if got := hec.Requests()[0].Header.Get("X-Splunk-Request-Channel"); got != "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba" {
		t.Errorf("channel header = %q", got)
	}
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		name       string
		fault      sinktest.Fault
		token      string // token the fake accepts, when not the sink's
		index      string
		retryable  bool
		rejected   bool
		retryAfter time.Duration
		contains   string
	}{
		{name: "busy 503 is retryable", fault: sinktest.Fault{Status: 503}, retryable: true, contains: "Server is busy (code 9)"},
		{name: "busy honours Retry-After", fault: sinktest.Fault{Status: 503, RetryAfter: "7"}, retryable: true, retryAfter: 7 * time.Second},
		{name: "429 is retryable", fault: sinktest.Fault{Status: 429, RetryAfter: "3"}, retryable: true, retryAfter: 3 * time.Second},
		{name: "internal error is retryable", fault: sinktest.Fault{Status: 500}, retryable: true, contains: "code 8"},
		{name: "dropped connection is retryable", fault: sinktest.Fault{Drop: true}, retryable: true},
		{name: "invalid data format is rejected", fault: sinktest.Fault{Status: 400}, rejected: true, contains: "Invalid data format (code 6)"},
		{name: "invalid token halts", token: "another-token", contains: "Invalid token (code 4): check the token"},
		{name: "incorrect index halts", index: "secret-index", contains: "Incorrect index (code 7)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			accept := token
			if tc.token != "" {
				accept = tc.token
			}
			hec := sinktest.NewHEC(t, accept, "netsec")
			idx := "netsec"
			if tc.index != "" {
				idx = tc.index
			}
			s := newSink(t, hec.URL(), func(c *Config) { c.Index = idx })
			hec.Inject(tc.fault)
			err := s.Send(context.Background(), events(2))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := sinks.Retryable(err); got != tc.retryable {
				t.Errorf("Retryable = %v, want %v (%v)", got, tc.retryable, err)
			}
			if got := sinks.IsRejected(err); got != tc.rejected {
				t.Errorf("IsRejected = %v, want %v (%v)", got, tc.rejected, err)
			}
			if !tc.retryable && !sinks.IsPermanent(err) {
				t.Errorf("IsPermanent = false for %v", err)
			}
			if tc.retryAfter > 0 {
				if d, ok := sinks.RetryDelay(err); !ok || d != tc.retryAfter {
					t.Errorf("RetryDelay = %v, %v; want %v", d, ok, tc.retryAfter)
				}
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestInvalidEventNumberDropsOnlyThatEvent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`)
	}))
	defer srv.Close()
	s := newSink(t, srv.URL, nil)
	err := s.Send(context.Background(), events(3))
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Send = %v, want a *sinks.BatchError", err)
	}
	if len(be.Dropped) != 1 || be.Dropped[0].Index != 1 || !sinks.IsRejected(be.Dropped[0].Err) {
		t.Errorf("Dropped = %+v, want event 1 rejected", be.Dropped)
	}
	if fmt.Sprint(be.Retry) != "[0 2]" {
		t.Errorf("Retry = %v, want [0 2]", be.Retry)
	}
}

func TestSuccessNeedsHECsReply(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>proxy login</html>")
	}))
	defer srv.Close()
	err := newSink(t, srv.URL, nil).Send(context.Background(), events(1))
	if err == nil || !sinks.Retryable(err) || !strings.Contains(err.Error(), "without its success reply") {
		t.Fatalf("Send = %v, want a retryable error about the missing success reply", err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/services/collector/event?x=1", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	err := newSink(t, srv.URL, nil).Send(context.Background(), events(1))
	if !sinks.IsPermanent(err) || !strings.Contains(err.Error(), "set url to the final address") {
		t.Fatalf("Send = %v, want a permanent redirect error", err)
	}
	if hits != 0 {
		t.Fatalf("the redirect was followed: the token went to another host")
	}
}

func TestTLSWithCAFile(t *testing.T) {
	ca := sinktest.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"text":"Success","code":0}`)
	}))
	srv.TLS = ca.ServerConfig(t, false)
	srv.StartTLS()
	defer srv.Close()
	env := testEnv()
	env.ReadFile = nil
	c := DefaultConfig()
	c.URL, c.TokenEnv, c.CAFile = srv.URL, envVar, ca.CAFile
	s, err := New(c, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Send(context.Background(), events(1)); err != nil {
		t.Fatalf("Send over TLS with ca_file: %v", err)
	}
	c.CAFile = ""
	s, _ = New(c, env)
	if err := s.Send(context.Background(), events(1)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send without the CA = %v, want a certificate error", err)
	}
}

// An outage — connection refused, then 503s, then an answer lost after the events
// were kept — delays events but loses none, keeps their order, and duplicates only
// the batch whose answer was lost.
func TestOutageDelaysButLosesNothing(t *testing.T) {
	hec := sinktest.NewHEC(t, token)
	s := newSink(t, hec.URL(), nil)
	q := sinktest.NewMemQueue()
	fc := clock.NewFake(t0)
	timer := sinktest.NewTimer(fc)
	d, err := sinks.NewDispatcher(sinks.Options{
		Queue: q, Sinks: []sinks.Sink{s}, Clock: fc, After: timer.After,
		Delivery: sinks.Delivery{BatchSize: 40, InitialBackoff: time.Second, MaxBackoff: 8 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	hec.Stop() // connection refused for four tries,
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 4 {
			hec.Start()
			hec.Inject(
				sinktest.Fault{Status: 503},                   // then busy,
				sinktest.Fault{Status: 503, RetryAfter: "20"}, // busy with Retry-After,
				sinktest.Fault{AcceptThenDrop: true},          // and an answer lost.
			)
		}
	})
	evs := events(100)
	ctx := context.Background()
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := hec.Events()
	var ids []string
	for _, he := range got {
		var e sinks.Event
		if err := json.Unmarshal(he.Event, &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// The first batch (40 events) was kept but its answer lost: it arrives twice.
	want := make([]string, 0, 140)
	for i := 0; i < 40; i++ {
		want = append(want, evs[i].ID)
	}
	for _, e := range evs {
		want = append(want, e.ID)
	}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("received %d events:\n%v\nwant %d:\n%v", len(ids), ids, len(want), want)
	}
	if n, _ := q.Len(ctx, s.Name()); n != 0 {
		t.Fatalf("%d events still queued", n)
	}
	waits := timer.Waits()
	wantWaits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 20 * time.Second, 8 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(wantWaits) {
		t.Errorf("backoff waits = %v, want %v", waits, wantWaits)
	}
	st := d.Stats()[0]
	if st.Delivered != 100 || st.Dropped != 0 || st.Failures != 7 {
		t.Errorf("stats = %+v, want 100 delivered, 0 dropped, 7 failures", st)
	}
}

func TestInvalidTokenHaltsAndKeepsEvents(t *testing.T) {
	hec := sinktest.NewHEC(t, "the-right-token")
	s := newSink(t, hec.URL(), nil)
	q := sinktest.NewMemQueue()
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, After: sinktest.NewTimer(nil).After})
	ctx := context.Background()
	if err := d.Publish(ctx, events(5)...); err != nil {
		t.Fatal(err)
	}
	err := d.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "halted") || !strings.Contains(err.Error(), "Invalid token") {
		t.Fatalf("Flush = %v, want the sink halted on the invalid token", err)
	}
	if n, _ := q.Len(ctx, s.Name()); n != 5 {
		t.Fatalf("%d events queued after the halt, want all 5 kept", n)
	}
	if st := d.Stats()[0]; !st.Halted || st.Dropped != 0 {
		t.Fatalf("stats = %+v, want halted with nothing dropped", st)
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	logger, logs := sinktest.NewLogger()
	var texts []string
	// A receiver that echoes the request headers in its error body.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"text":"bad auth %s","code":3}`, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	echo500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		fmt.Fprintf(w, "upstream said: %s", r.Header.Get("Authorization"))
	}))
	defer echo500.Close()
	hec := sinktest.NewHEC(t, "another-token")
	for _, url := range []string{echo.URL, echo500.URL, hec.URL(), "http://127.0.0.1:1"} {
		s := newSink(t, url, nil)
		texts = append(texts, fmt.Sprintf("%v %+v %#v %s", s, s, s, s.token))
		err := s.Send(context.Background(), events(2))
		if err == nil {
			t.Fatalf("Send to %s succeeded", url)
		}
		texts = append(texts, err.Error())
		// A dispatcher round logs the failure; the first backoff ends the flush.
		ctx, cancel := context.WithCancel(context.Background())
		timer := sinktest.NewTimer(nil)
		timer.OnWait(func(int, time.Duration) { cancel() })
		d, _ := sinks.NewDispatcher(sinks.Options{Queue: sinktest.NewMemQueue(), Sinks: []sinks.Sink{s}, Logger: logger, After: timer.After})
		if err := d.Publish(ctx, events(2)...); err != nil {
			t.Fatal(err)
		}
		if err := d.Flush(ctx); err != nil {
			texts = append(texts, err.Error())
		}
		cancel()
	}
	// Configuration errors name variables and files, never the value.
	c := DefaultConfig()
	c.URL = "https://splunk.example.net:8088"
	c.TokenEnv = token // the token pasted where the variable name belongs
	_, err := New(c, testEnv())
	texts = append(texts, err.Error())
	c.URL = "https://x:" + token + "@splunk.example.net:8088"
	c.TokenEnv = envVar
	_, err = New(c, testEnv())
	texts = append(texts, err.Error())
	texts = append(texts, logs.String())
	sinktest.NoSecret(t, token, texts...)
	if !strings.Contains(strings.Join(texts, "\n"), "[redacted]") {
		t.Errorf("the echoed token was not replaced by [redacted]")
	}
}

func TestInvalidConfigs(t *testing.T) {
	sinktest.InvalidConfigs(t, "testdata/invalid", func(n *yaml.Node) error {
		_, err := factory(n, testEnv())
		return err
	})
}

func TestSampleBuilds(t *testing.T) {
	cfg, err := sinks.ParseConfig([]byte(Sample))
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	ss, err := cfg.Build(testEnv())
	if err != nil {
		t.Fatalf("sample.yaml: %v", err)
	}
	if len(ss) != 1 || ss[0].Name() != "splunk" {
		t.Fatalf("sample built %v", ss)
	}
	s := ss[0].(*Sink)
	if s.endpoint != "https://splunk.example.net:8088/services/collector/event" || s.cfg.Index != "netsec" || s.cfg.Host != "warroom-1" {
		t.Fatalf("sample sink = endpoint %s, config %+v", s.endpoint, s.cfg)
	}
}

func TestParseReply(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`{"text":"Success","code":0}`, "Success 0 <nil>", false},
		{`{"text":"Invalid data format","code":6,"invalid-event-number":2}`, "Invalid data format 6 2", false},
		{`{"text":"Invalid data format","code":6,"invalid-event-number":"3"}`, "Invalid data format 6 3", false},
		{`{"text":"x"}`, "", true},
		{`{"code":0}{"code":0}`, "", true},
		{`<html>`, "", true},
		{`{"code":"0"}`, "", true},
	}
	for _, tc := range cases {
		r, err := ParseReply([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseReply(%s) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		n := "<nil>"
		if r.InvalidEventNumber != nil {
			n = fmt.Sprint(*r.InvalidEventNumber)
		}
		if got := fmt.Sprintf("%s %d %s", r.Text, r.Code, n); got != tc.want {
			t.Errorf("ParseReply(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzParseReply: any input either fails or gives a reply taken from one JSON object.
func FuzzParseReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil {
			return
		}
		var m map[string]any
		if jerr := json.NewDecoder(strings.NewReader(string(b))).Decode(&m); jerr != nil {
			t.Fatalf("ParseReply accepted %q, which is not a JSON object: %v", b, jerr)
		}
		// encoding/json matches member names case-insensitively, the last one winning.
		var code any
		for k, v := range m {
			if strings.EqualFold(k, "code") {
				code = v
			}
		}
		if c, ok := code.(float64); !ok || (int(c) != r.Code && strings.Count(strings.ToLower(string(b)), `"code"`) < 2) {
			t.Fatalf("ParseReply(%q).Code = %d, the object says %v", b, r.Code, code)
		}
	})
}

// BenchmarkSendBatch100 measures one HEC request of 100 events to the local fake.
func BenchmarkSendBatch100(b *testing.B) {
	hec := sinktest.NewHEC(b, token)
	c := DefaultConfig()
	c.URL, c.TokenEnv = hec.URL(), envVar
	s, err := New(c, testEnv())
	if err != nil {
		b.Fatal(err)
	}
	evs := events(100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Send(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
