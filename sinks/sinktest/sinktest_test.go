package sinktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

func post(t *testing.T, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHECRejectsWithHECErrors(t *testing.T) {
	h := NewHEC(t, "tok", "netsec")
	ok := map[string]string{"Authorization": "Splunk tok", "Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	good := `{"time":1.5,"host":"h","source":"s","sourcetype":"st","event":{"id":"1"}}`
	for _, tc := range []struct {
		name, path string
		hdr        map[string]string
		body       string
		status     int
		reply      string
	}{
		{"success", HECPath, ok, good + "\n" + good, 200, `{"text":"Success","code":0}`},
		{"wrong path", "/services/collector/raw", ok, good, 404, `{"text":"The requested URL was not found on this server.","code":404}`},
		{"no token", HECPath, with("Authorization", ""), good, 401, `{"text":"Token is required","code":2}`},
		{"bearer scheme", HECPath, with("Authorization", "Bearer tok"), good, 401, `{"text":"Invalid authorization","code":3}`},
		{"wrong token", HECPath, with("Authorization", "Splunk nope"), good, 403, `{"text":"Invalid token","code":4}`},
		{"text body", HECPath, with("Content-Type", "text/plain"), good, 400, `{"text":"Invalid data format","code":6}`},
		{"empty", HECPath, ok, "  \n", 400, `{"text":"No data","code":5}`},
		{"broken second event", HECPath, ok, good + `{"event":`, 400, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`},
		{"no event field", HECPath, ok, `{"time":1}`, 400, `{"text":"Event field is required","code":12,"invalid-event-number":0}`},
		{"blank event", HECPath, ok, `{"event":""}`, 400, `{"text":"Event field cannot be blank","code":13,"invalid-event-number":0}`},
		{"unknown key", HECPath, ok, `{"event":"x","tme":1}`, 400, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`},
		{"time as string", HECPath, ok, `{"event":"x","time":"1"}`, 400, `{"text":"Invalid data format","code":6,"invalid-event-number":0}`},
		{"other index", HECPath, ok, `{"event":"x","index":"main"}`, 400, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`},
		{"query token", HECPath + "?token=tok", ok, good, 400, `{"text":"Query string authorization is not enabled","code":16}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, h.URL()+tc.path, tc.hdr, tc.body)
			if status != tc.status || body != tc.reply {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.reply)
			}
		})
	}
	// Success kept 2 events, the broken batch kept its first, valid one.
	if n := len(h.Events()); n != 3 {
		t.Fatalf("kept %d events, want 3", n)
	}
	req, _ := http.NewRequest(http.MethodGet, h.URL()+HECPath, nil)
	if status, body := do(t, req); status != 405 || !strings.Contains(body, `"code":405`) {
		t.Fatalf("GET: %d %s", status, body)
	}
}

func TestFaultsOutageAndLostAnswers(t *testing.T) {
	h := NewHEC(t, "tok")
	hdr := map[string]string{"Authorization": "Splunk tok", "Content-Type": "application/json"}
	body := `{"event":"x"}`
	h.Inject(Fault{Status: 503, RetryAfter: "4"}, Fault{Drop: true}, Fault{AcceptThenDrop: true})
	h.Outage(1)
	req, _ := http.NewRequest(http.MethodPost, h.URL()+HECPath, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "4" {
		t.Fatalf("first: %v %v", resp, err)
	}
	resp.Body.Close()
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, h.URL()+HECPath, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("request %d got an answer, want the connection dropped", i+2)
		}
	}
	if n := len(h.Events()); n != 1 {
		t.Fatalf("%d events kept, want the one whose answer was lost", n)
	}
	if status, reply := post(t, h.URL()+HECPath, hdr, body); status != 503 || reply != `{"text":"Server is busy","code":9}` {
		t.Fatalf("outage: %d %s", status, reply)
	}
	h.Stop()
	http.DefaultClient.CloseIdleConnections()
	if _, err := http.Post(h.URL()+HECPath, "application/json", strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("stopped: %v, want connection refused", err)
	}
	h.Start()
	if status, _ := post(t, h.URL()+HECPath, hdr, body); status != 200 {
		t.Fatalf("after Start: %d", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := len(h.Requests()); n != 5 {
		t.Fatalf("%d requests recorded, want 5 (none while stopped)", n)
	}
}

func TestElasticRejectsWithElasticErrors(t *testing.T) {
	es := NewElastic(t, ElasticAuth{APIKey: "k"})
	ok := map[string]string{"Authorization": "ApiKey k", "Content-Type": "application/x-ndjson"}
	pair := `{"create":{"_index":"ix","_id":"1"}}` + "\n" + `{"a":1}` + "\n"
	for _, tc := range []struct {
		name, path string
		hdr        map[string]string
		body       string
		status     int
		contains   string
	}{
		{"created", "/_bulk", ok, pair, 200, `"errors":false`},
		{"again is a conflict", "/_bulk", ok, pair, 200, `"error":{"index":"ix","reason":"[1]: version conflict, document already exists (current version [1])","shard":"0","type":"version_conflict_engine_exception"},"status":409`},
		{"no trailing newline", "/_bulk", ok, strings.TrimSuffix(pair, "\n"), 400, `"reason":"The bulk request must be terminated by a newline [\\n]"`},
		{"json content type", "/_bulk", map[string]string{"Authorization": "ApiKey k", "Content-Type": "application/json"}, pair, 406, `{"error":"Content-Type header [application/json] is not supported","status":406}`},
		{"no auth", "/_bulk", map[string]string{"Content-Type": "application/x-ndjson"}, pair, 401, `"reason":"missing authentication credentials for REST request [/_bulk]"`},
		{"wrong key", "/_bulk", map[string]string{"Authorization": "ApiKey x", "Content-Type": "application/x-ndjson"}, pair, 401, `security_exception`},
		{"index action", "/_bulk", ok, `{"index":{"_index":"ix","_id":"2"}}` + "\n{}\n", 400, `expected field [create]`},
		{"no id", "/_bulk", ok, `{"create":{"_index":"ix"}}` + "\n{}\n", 400, `has no _id`},
		{"unknown parameter", "/_bulk", ok, `{"create":{"_index":"ix","_id":"3","routing":"x"}}` + "\n{}\n", 400, `contains an unknown parameter [routing]`},
		{"missing source", "/_bulk", ok, `{"create":{"_index":"ix","_id":"4"}}` + "\n", 400, `has no source line`},
		{"bad index", "/_bulk", ok, `{"create":{"_index":"IX","_id":"5"}}` + "\n{}\n", 400, `invalid_index_name_exception`},
		{"index from path", "/ix2/_bulk", ok, `{"create":{"_id":"6"}}` + "\n{}\n", 200, `"_index":"ix2"`},
		{"source not an object", "/_bulk", ok, `{"create":{"_index":"ix","_id":"7"}}` + "\n[1]\n", 200, `"status":400`},
		{"wrong path", "/_search", ok, pair, 400, `no handler found for uri [/_search] and method [POST]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, es.URL()+tc.path, tc.hdr, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("got %d %s\nwant %d containing %s", status, body, tc.status, tc.contains)
			}
			if status >= 400 && status != 406 && !strings.Contains(body, `"status":`) {
				t.Fatalf("error without Elasticsearch's status member: %s", body)
			}
		})
	}
	if got := len(es.Docs()); got != 2 {
		t.Fatalf("%d documents, want 2", got)
	}
	req, _ := http.NewRequest(http.MethodGet, es.URL()+"/_bulk", nil)
	if status, body := do(t, req); status != 405 || !strings.Contains(body, "allowed: [POST, PUT]") {
		t.Fatalf("GET: %d %s", status, body)
	}
}

func TestElasticItemFaults(t *testing.T) {
	es := NewElastic(t, ElasticAuth{Username: "u", Password: "p"})
	hdr := map[string]string{"Authorization": BasicAuth("u", "p"), "Content-Type": "application/x-ndjson"}
	body := ""
	for i := 0; i < 3; i++ {
		body += fmt.Sprintf(`{"create":{"_index":"ix","_id":"%d"}}`+"\n{}\n", i)
	}
	es.FailItem("1", 429, 503)
	for attempt, want := range []string{"201 429 201", "409 503 409", "409 201 409"} {
		status, reply := post(t, es.URL()+"/_bulk", hdr, body)
		var r struct {
			Errors bool
			Items  []map[string]struct{ Status int }
		}
		if status != 200 || json.Unmarshal([]byte(reply), &r) != nil {
			t.Fatalf("attempt %d: %d %s", attempt, status, reply)
		}
		var got []string
		for _, it := range r.Items {
			got = append(got, fmt.Sprint(it["create"].Status))
		}
		if strings.Join(got, " ") != want || !r.Errors {
			t.Fatalf("attempt %d: statuses %v errors %v, want %s", attempt, got, r.Errors, want)
		}
	}
	if es.Attempts("1") != 3 || len(es.Docs()) != 3 {
		t.Fatalf("attempts %d docs %d", es.Attempts("1"), len(es.Docs()))
	}
}

func TestWebhookVerifies(t *testing.T) {
	fc := clock.NewFake(time.Unix(1614265330, 0))
	h := NewWebhook(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", fc)
	body := `{"events":[{"id":"1"}]}`
	hdr := func(id, ts, s string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": s}
	}
	// The specification's vector verifies.
	if err := VerifyStandardWebhook(h.key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`), "v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="); err != nil {
		t.Fatalf("the specification's vector does not verify: %v", err)
	}
	good := "v1," + mac(h.key, "msg_1.1614265330."+body)
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		body   string
		status int
	}{
		{"signed", hdr("msg_1", "1614265330", good), body, 204},
		{"bad signature", hdr("msg_1", "1614265330", "v1,AAAA"), body, 401},
		{"altered body", hdr("msg_1", "1614265330", good), `{"events":[{"id":"2"}]}`, 401},
		{"stale", hdr("msg_1", "1614264000", "v1,"+mac(h.key, "msg_1.1614264000."+body)), body, 400},
		{"no id", hdr("", "1614265330", good), body, 400},
		{"not events", hdr("msg_2", "1614265330", "v1,"+mac(h.key, `msg_2.1614265330.{"x":1}`)), `{"x":1}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, reply := post(t, h.URL()+WebhookPath, tc.hdr, tc.body); status != tc.status {
				t.Fatalf("got %d %s, want %d", status, reply, tc.status)
			}
		})
	}
	if n := len(h.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

func mac(key []byte, content string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestParseMessage(t *testing.T) {
	valid := map[string]func(Message) bool{
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event`: func(m Message) bool {
			v, _ := m.Param("exampleSDID@32473", "eventSource")
			return m.Facility == 20 && m.Severity == 5 && m.MsgID == "ID47" && m.ProcID == "" && v == "Application" && m.Msg == "An application event"
		},
		`<0>1 - - - - - -`: func(m Message) bool { return m.Timestamp.IsZero() && m.Hostname == "" && len(m.SD) == 0 },
		`<191>1 2003-08-24T05:14:15.000003-07:00 h a 8710 - [a@1 x="q\"b\\s\]"][meta sequenceId="1"]` + " \xEF\xBB\xBFh\u00e9": func(m Message) bool {
			v, _ := m.Param("a@1", "x")
			return v == `q"b\s]` && m.BOM && m.Msg == "hé" && m.Timestamp.Equal(time.Date(2003, 8, 24, 12, 14, 15, 3000, time.UTC))
		},
	}
	for in, check := range valid {
		m, err := ParseMessage([]byte(in))
		if err != nil || !check(m) {
			t.Errorf("ParseMessage(%q) = %+v, %v", in, m, err)
		}
	}
	for _, in := range []string{
		``, `165>1 - - - - - -`, `<192>1 - - - - - -`, `<01>1 - - - - - -`, `<1>2 - - - - - -`,
		`<1>1 2003-10-11 22:14:15Z h a p m -`, `<1>1 2003-10-11T22:14:15.1234567Z h a p m -`, `<1>1 2003-10-11T22:14:15 h a p m -`,
		`<1>1 - h a p m`, `<1>1 - h a p m [x]`, `<1>1 - h a p m [x@0]`, `<1>1 - h a p m [a@1 k="v"`,
		`<1>1 - h a p m [a@1 k="v]"]`, `<1>1 - h a p m [a@1 k="\v"]`, `<1>1 - h a p m [a@1][a@1]`,
		`<1>1 - h a p m [a@1 k=v]`, `<1>1 - h a p m -x`, "<1>1 - h\xff a p m -", `<1>1 - h a p ` + strings.Repeat("m", 33) + ` -`,
		"<1>1 - h a p m - \xEF\xBB\xBF\xff",
	} {
		if m, err := ParseMessage([]byte(in)); err == nil {
			t.Errorf("ParseMessage(%q) accepted: %+v", in, m)
		}
	}
}

func TestReadFrame(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("5 hello3 abc"))
	for _, want := range []string{"hello", "abc"} {
		got, err := ReadFrame(r, 100)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFrame = %q %v, want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(r, 100); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	for in, want := range map[string]string{
		"05 hello":   "MSG-LEN starts with 0",
		" 5 hello":   "frame starts with SP",
		"<13>1 - - ": "non-transparent framing is not accepted",
		"9 short":    "cut short",
		"12":         "unexpected EOF",
		"101 x":      "exceeds 100",
		"1234567890": "more than 9 digits",
	} {
		_, err := ReadFrame(bufio.NewReader(strings.NewReader(in)), 100)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFrame(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestSyslogReceiverRejectsMalformedFrames(t *testing.T) {
	rx := NewSyslogTCP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := `<134>1 2025-03-01T12:00:00Z h a 1 m - ok`
	send := func(b string) {
		c, err := net.Dial("tcp", rx.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(b))
		c.Close()
	}
	send(fmt.Sprintf("%d %s%d %s", len(msg), msg, len(msg), msg))
	if err := rx.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	send(msg + "\n") // non-transparent framing
	send("3 <1>")    // a frame that is not a message
	if err := rx.WaitErrors(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := len(rx.Messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	u := NewSyslogUDP(t)
	c, _ := net.Dial("udp", u.Addr)
	c.Write([]byte(msg))
	c.Write([]byte("junk"))
	c.Close()
	if err := u.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := u.WaitErrors(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		if m.Facility > 23 || m.Severity > 7 || len(m.MsgID) > 32 || len(m.AppName) > 48 {
			t.Fatalf("accepted out-of-range header: %+v", m)
		}
		seen := map[string]bool{}
		for _, e := range m.SD {
			if seen[e.ID] {
				t.Fatalf("accepted a repeated SD-ID %s", e.ID)
			}
			seen[e.ID] = true
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		total := 0
		for {
			frame, err := ReadFrame(r, 1<<16)
			if err != nil {
				if errors.Is(err, io.EOF) && total != len(b) {
					t.Fatalf("clean EOF after %d of %d bytes", total, len(b))
				}
				return
			}
			total += len(fmt.Sprint(len(frame))) + 1 + len(frame)
		}
	})
}

func FuzzParseHECBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, n, reply := ParseHECBody(b, []string{"netsec"})
		if reply.Code == 0 && n != len(evs) {
			t.Fatalf("success with %d events but n=%d", len(evs), n)
		}
		if reply.Code != 0 && n != len(evs) {
			t.Fatalf("failure at event %d but %d events kept before it", n, len(evs))
		}
		for _, e := range evs {
			if len(e.Event) == 0 {
				t.Fatal("kept an event without an event member")
			}
		}
	})
}

func FuzzParseBulkBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		acts, berr := ParseBulkBody(b, "")
		if berr != nil {
			return
		}
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatal("accepted a body without the trailing newline")
		}
		if lines := bytes.Count(b, []byte("\n")); lines != 2*len(acts) {
			t.Fatalf("%d lines for %d actions", lines, len(acts))
		}
		for _, a := range acts {
			if a.ID == "" || a.Index == "" {
				t.Fatalf("accepted an action without index or id: %+v", a)
			}
		}
	})
}
