package elastic

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
	apiKey   = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	password = "s3cr3t-elastic-password"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

func testEnv() sinks.Env {
	return sinks.Env{
		Name:     "elastic-test",
		Clock:    clock.NewFake(t0),
		Hostname: "warroom-1",
		LookupEnv: func(k string) (string, bool) {
			switch k {
			case "WARROOM_ELASTIC_API_KEY":
				return apiKey, true
			case "WARROOM_ELASTIC_PASSWORD":
				return password, true
			}
			return "", false
		},
	}
}

func newSink(t *testing.T, url string, mod func(*Config)) *Sink {
	t.Helper()
	c := DefaultConfig()
	c.URL = url
	c.TokenEnv = "WARROOM_ELASTIC_API_KEY"
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
			Type:     sinks.IncidentStatus,
			Incident: "INC-0042",
			Actor:    "bob",
			Fields:   map[string]string{"status": "acknowledged", "n": fmt.Sprint(i)},
		}
	}
	return out
}

func docIDs(docs []sinktest.ElasticDoc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func eventIDs(evs []sinks.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestSendMatchesBulkWireFormat(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: apiKey})
	s := newSink(t, es.URL(), nil)
	evs := events(3)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := es.Requests()[0]
	if r.Method != "POST" || r.Path != "/_bulk" {
		t.Errorf("request %s %s, want POST /_bulk", r.Method, r.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "ApiKey "+apiKey {
		t.Errorf("Authorization = %q, want the ApiKey scheme", got)
	}
	body := string(r.Body)
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 3 action/source pairs:\n%s", len(lines), body)
	}
	if want := `{"create":{"_index":"warroom-events","_id":"ev-0000"}}`; lines[0] != want {
		t.Errorf("action line = %s, want %s", lines[0], want)
	}
	if want := `{"@timestamp":"2025-03-01T12:00:00.123456789Z","id":"ev-0000","time":"2025-03-01T12:00:00.123456789Z","type":"incident.status","incident":"INC-0042","actor":"bob","fields":{"n":"0","status":"acknowledged"}}`; lines[1] != want {
		t.Errorf("source line = %s\nwant %s", lines[1], want)
	}
	if got := docIDs(es.Docs()); fmt.Sprint(got) != fmt.Sprint(eventIDs(evs)) {
		t.Errorf("stored %v, want %v", got, eventIDs(evs))
	}
}

func TestBasicAuthAndPipeline(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{Username: "warroom", Password: password})
	s := newSink(t, es.URL(), func(c *Config) {
		c.Auth, c.Username, c.TokenEnv, c.Pipeline = AuthBasic, "warroom", "WARROOM_ELASTIC_PASSWORD", "enrich-1"
	})
	if err := s.Send(context.Background(), events(1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := es.Requests()[0]
	if r.Path != "/_bulk?pipeline=enrich-1" {
		t.Errorf("path = %s", r.Path)
	}
	if got := r.Header.Get("Authorization"); got != sinktest.BasicAuth("warroom", password) {
		t.Errorf("Authorization = %q", got)
	}
}

func TestResendIsIdempotent(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: apiKey})
	s := newSink(t, es.URL(), nil)
	evs := events(3)
	for i := 0; i < 2; i++ {
		if err := s.Send(context.Background(), evs); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if n := len(es.Docs()); n != 3 {
		t.Fatalf("%d documents after sending 3 events twice, want 3", n)
	}
}

func TestPerItemFailures(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: apiKey})
	s := newSink(t, es.URL(), nil)
	es.FailItem("ev-0001", 429)
	es.FailItem("ev-0002", 400)
	es.FailItem("ev-0003", 503)
	err := s.Send(context.Background(), events(5))
	var be *sinks.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Send = %v, want a *sinks.BatchError", err)
	}
	if fmt.Sprint(be.Retry) != "[1 3]" {
		t.Errorf("Retry = %v, want [1 3]", be.Retry)
	}
	if len(be.Dropped) != 1 || be.Dropped[0].Index != 2 || !sinks.IsRejected(be.Dropped[0].Err) ||
		!strings.Contains(be.Dropped[0].Err.Error(), "400 document_parsing_exception") {
		t.Errorf("Dropped = %+v, want item 2 refused with its reason", be.Dropped)
	}
	if !sinks.Retryable(be.Err) || !strings.Contains(be.Err.Error(), "429 es_rejected_execution_exception") {
		t.Errorf("Err = %v", be.Err)
	}
}

func TestDispatcherResendsOnlyFailedItemsAndDropsRefusedOnes(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: apiKey})
	s := newSink(t, es.URL(), nil)
	logger, logs := sinktest.NewLogger()
	q := sinktest.NewMemQueue()
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, Logger: logger, After: sinktest.NewTimer(nil).After})
	es.FailItem("ev-0001", 429, 429)
	es.FailItem("ev-0003", 400)
	evs := events(5)
	ctx := context.Background()
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got, want := docIDs(es.Docs()), []string{"ev-0000", "ev-0002", "ev-0004", "ev-0001"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	for id, want := range map[string]int{"ev-0000": 1, "ev-0001": 3, "ev-0002": 1, "ev-0003": 1, "ev-0004": 1} {
		if got := es.Attempts(id); got != want {
			t.Errorf("%s sent %d times, want %d", id, got, want)
		}
	}
	st := d.Stats()[0]
	if st.Delivered != 4 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want 4 delivered and 1 dropped", st)
	}
	if !strings.Contains(logs.String(), "event=ev-0003") || !strings.Contains(logs.String(), "dropped") {
		t.Errorf("the dropped event is not logged:\n%s", logs)
	}
	if n, _ := q.Len(ctx, s.Name()); n != 0 {
		t.Errorf("%d events still queued", n)
	}
}

// An outage — connection refused, 503s, 429 with Retry-After, an answer lost after
// the documents were stored — delays events but loses none, and the resend of the lost
// batch creates no duplicate document.
func TestOutageDelaysButLosesNothingNorDuplicates(t *testing.T) {
	es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: apiKey})
	fc := clock.NewFake(t0.Truncate(time.Second)) // HTTP dates have whole seconds
	c := DefaultConfig()
	c.URL, c.TokenEnv = es.URL(), "WARROOM_ELASTIC_API_KEY"
	env := testEnv()
	env.Clock = fc
	s, err := New(c, env)
	if err != nil {
		t.Fatal(err)
	}
	q := sinktest.NewMemQueue()
	timer := sinktest.NewTimer(fc)
	d, _ := sinks.NewDispatcher(sinks.Options{Queue: q, Sinks: []sinks.Sink{s}, Clock: fc, After: timer.After,
		Delivery: sinks.Delivery{BatchSize: 25, InitialBackoff: time.Second, MaxBackoff: 4 * time.Second}})
	es.Stop()
	timer.OnWait(func(n int, _ time.Duration) {
		if n == 3 {
			es.Start()
			es.Outage(2)
			es.Inject(sinktest.Fault{Status: 429, RetryAfter: fc.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)},
				sinktest.Fault{AcceptThenDrop: true})
		}
	})
	evs := events(60)
	ctx := context.Background()
	if err := d.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := docIDs(es.Docs()); fmt.Sprint(got) != fmt.Sprint(eventIDs(evs)) {
		t.Fatalf("stored %d documents %v\nwant each of the %d events once, in order", len(got), got, len(evs))
	}
	if got := es.Attempts("ev-0000"); got != 2 {
		t.Errorf("ev-0000 sent %d times, want 2 (its first answer was lost)", got)
	}
	// refused x3, 429 (Retry-After date 30s ahead of the clock), lost answer, 503 x2.
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 30 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if got := timer.Waits(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if n, _ := q.Len(ctx, s.Name()); n != 0 {
		t.Errorf("%d events still queued", n)
	}
}

func TestWholeRequestErrors(t *testing.T) {
	cases := []struct {
		name      string
		fault     sinktest.Fault
		key       string
		retryable bool
		rejected  bool
		contains  string
	}{
		{name: "wrong key halts", key: "other-key", contains: "401 Unauthorized: security_exception: unable to authenticate"},
		{name: "503 is retryable", fault: sinktest.Fault{Status: 503}, retryable: true, contains: "cluster_block_exception"},
		{name: "429 is retryable", fault: sinktest.Fault{Status: 429, RetryAfter: "5"}, retryable: true},
		{name: "413 is rejected", fault: sinktest.Fault{Status: 413}, rejected: true},
		{name: "400 is rejected", fault: sinktest.Fault{Status: 400}, rejected: true},
		{name: "403 halts", fault: sinktest.Fault{Status: 403}, contains: "check the token"},
		{name: "dropped connection is retryable", fault: sinktest.Fault{Drop: true}, retryable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := apiKey
			if tc.key != "" {
				key = tc.key
			}
			es := sinktest.NewElastic(t, sinktest.ElasticAuth{APIKey: key})
			es.Inject(tc.fault)
			err := newSink(t, es.URL(), nil).Send(context.Background(), events(2))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if sinks.Retryable(err) != tc.retryable || sinks.IsRejected(err) != tc.rejected {
				t.Errorf("Retryable %v, IsRejected %v for %v; want %v, %v", sinks.Retryable(err), sinks.IsRejected(err), err, tc.retryable, tc.rejected)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
			if len(es.Docs()) != 0 {
				t.Errorf("documents stored despite the failure")
			}
		})
	}
}

func TestMalformedBulkResponseIsRetryable(t *testing.T) {
	for name, body := range map[string]string{
		"too few items":  `{"took":1,"errors":false,"items":[{"create":{"_id":"ev-0000","status":201}}]}`,
		"wrong id":       `{"took":1,"errors":false,"items":[{"create":{"_id":"ev-0001","status":201}},{"create":{"_id":"ev-0000","status":201}}]}`,
		"not json":       `<html>`,
		"no errors flag": `{"items":[]}`,
		"index action":   `{"took":1,"errors":false,"items":[{"index":{"_id":"ev-0000","status":201}},{"index":{"_id":"ev-0001","status":201}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
			defer srv.Close()
			err := newSink(t, srv.URL, nil).Send(context.Background(), events(2))
			if err == nil || !sinks.Retryable(err) {
				t.Fatalf("Send = %v, want a retryable error", err)
			}
		})
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	logger, logs := sinktest.NewLogger()
	var texts []string
	echo := func(status int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"bad header %s"},"status":%d}`, r.Header.Get("Authorization"), status)
		}))
	}
	itemEcho := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"errors":true,"items":[{"create":{"_id":"ev-0000","status":400,"error":{"type":"x","reason":"%s"}}}]}`, r.Header.Get("Authorization"))
	}))
	defer itemEcho.Close()
	for _, basic := range []bool{false, true} {
		for _, url := range []string{echo(401).URL, echo(503).URL, itemEcho.URL, "http://127.0.0.1:1"} {
			s := newSink(t, url, func(c *Config) {
				if basic {
					c.Auth, c.Username, c.TokenEnv = AuthBasic, "warroom", "WARROOM_ELASTIC_PASSWORD"
				}
			})
			texts = append(texts, fmt.Sprintf("%v %+v %#v", s, s, s))
			err := s.Send(context.Background(), events(1))
			if err == nil {
				t.Fatalf("Send to %s succeeded", url)
			}
			texts = append(texts, err.Error())
			ctx, cancel := context.WithCancel(context.Background())
			timer := sinktest.NewTimer(nil)
			timer.OnWait(func(int, time.Duration) { cancel() })
			d, _ := sinks.NewDispatcher(sinks.Options{Queue: sinktest.NewMemQueue(), Sinks: []sinks.Sink{s}, Logger: logger, After: timer.After})
			d.Publish(ctx, events(1)...)
			if err := d.Flush(ctx); err != nil {
				texts = append(texts, err.Error())
			}
			cancel()
		}
	}
	texts = append(texts, logs.String())
	sinktest.NoSecret(t, apiKey, texts...)
	sinktest.NoSecret(t, password, texts...)
	sinktest.NoSecret(t, "warroom:"+password, texts...)
	if !strings.Contains(strings.Join(texts, "\n"), "[redacted]") {
		t.Errorf("the echoed credential was not replaced by [redacted]")
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
	s := ss[0].(*Sink)
	if s.Name() != "elastic" || s.endpoint != "https://elastic.example.net:9200/_bulk" || s.cfg.Index != "warroom-events" {
		t.Fatalf("sample sink = %s %s %+v", s.Name(), s.endpoint, s.cfg)
	}
}

// FuzzParseBulkResponse: whatever the body, parsing either fails or returns one item
// per event with an HTTP status.
func FuzzParseBulkResponse(f *testing.F) {
	evs := events(2)
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := ParseBulkResponse(b, evs)
		if err != nil {
			return
		}
		if len(items) != len(evs) {
			t.Fatalf("%d items for %d events", len(items), len(evs))
		}
		for _, it := range items {
			if it.Status < 100 || it.Status > 599 {
				t.Fatalf("item status %d", it.Status)
			}
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			t.Fatalf("accepted a body that is not JSON: %q", b)
		}
	})
}
