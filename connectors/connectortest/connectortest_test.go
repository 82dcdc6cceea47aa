package connectortest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func signed(t *testing.T, url, id string, ts time.Time, body string) *http.Request {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	mac := hmac.New(sha256.New, key)
	tss := strconv.FormatInt(ts.Unix(), 10)
	mac.Write([]byte(id + "." + tss + "." + body))
	req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, tss)
	req.Header.Set(HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1614265330, 0)
	good := signed(t, "http://127.0.0.1/", "msg_p5jXN8AQM9LWM0D4loKWxJek", now, `{"test": 2432232314}`)
	if got := good.Header.Get(HeaderSignature); got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("the specification's example signs to %s", got)
	}
	body := []byte(`{"test": 2432232314}`)
	tests := []struct {
		name   string
		mutate func(h http.Header) ([]byte, string)
		err    string
	}{
		{"valid", func(http.Header) ([]byte, string) { return body, secret }, ""},
		{"several signatures", func(h http.Header) ([]byte, string) {
			h.Set(HeaderSignature, "v1a,xyz v1,AAAA "+h.Get(HeaderSignature))
			return body, secret
		}, ""},
		{"changed body", func(http.Header) ([]byte, string) { return []byte(`{"test": 1}`), secret }, "no v1 signature matches"},
		{"changed id", func(h http.Header) ([]byte, string) { h.Set(HeaderID, "msg_other"); return body, secret }, "no v1 signature matches"},
		{"other key", func(http.Header) ([]byte, string) {
			return body, "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 24 bytes!"))
		}, "no v1 signature matches"},
		{"stale", func(h http.Header) ([]byte, string) {
			h.Set(HeaderTimestamp, strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10))
			return body, secret
		}, "webhook-timestamp 1614264730 is 10m0s away from now, beyond the 5m0s tolerance"},
		{"bad timestamp", func(h http.Header) ([]byte, string) { h.Set(HeaderTimestamp, "soon"); return body, secret }, `webhook-timestamp "soon" is not an integer number of seconds`},
		{"missing header", func(h http.Header) ([]byte, string) { h.Del(HeaderSignature); return body, secret }, `missing header: webhook-id="msg_p5jXN8AQM9LWM0D4loKWxJek" webhook-timestamp="1614265330" webhook-signature present=false`},
		{"v2 only", func(h http.Header) ([]byte, string) { h.Set(HeaderSignature, "v2,abc"); return body, secret }, "no v1 signature matches"},
		{"bad secret", func(http.Header) ([]byte, string) { return body, "secret" }, `signing secret does not start with "whsec_"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good.Header.Clone()
			b, sec := tt.mutate(h)
			err := VerifySignature(sec, h, b, now, DefaultTolerance)
			if (tt.err == "" && err != nil) || (tt.err != "" && (err == nil || err.Error() != tt.err)) {
				t.Fatalf("VerifySignature = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestReceiverFaults(t *testing.T) {
	r := NewReceiver(t, secret)
	r.Fail(503, 1)
	r.RateLimit(1, "3")
	r.Inject(Fault{Status: 400})
	client := &http.Client{Timeout: 5 * time.Second}
	want := []struct {
		status     int
		retryAfter string
	}{{503, ""}, {429, "3"}, {400, ""}, {204, ""}}
	for i, w := range want {
		resp, err := client.Do(signed(t, r.URL+"/hook", "msg_"+strconv.Itoa(i), time.Now(), `{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != w.status || resp.Header.Get("Retry-After") != w.retryAfter {
			t.Errorf("request %d: %d Retry-After %q, want %d %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), w.status, w.retryAfter)
		}
		got := <-r.Arrived()
		if got.ID != "msg_"+strconv.Itoa(i) || got.SigErr != nil || got.Status != w.status || got.Path != "/hook" {
			t.Errorf("recorded %+v", got)
		}
	}
	// A bad signature is answered 401 and recorded with the reason.
	bad := signed(t, r.URL, "msg_bad", time.Now(), `{}`)
	bad.Header.Set(HeaderSignature, "v1,AAAA")
	resp, err := client.Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-r.Arrived(); resp.StatusCode != 401 || got.SigErr == nil {
		t.Errorf("bad signature: %d, %+v", resp.StatusCode, got)
	}
	if n := len(r.Requests()); n != 5 {
		t.Errorf("%d requests recorded, want 5", n)
	}
}

func TestReceiverStall(t *testing.T) {
	r := NewReceiver(t, secret)
	r.Stall(2)
	// The client gives up: its deadline ends the stalled request.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := http.DefaultClient.Do(signed(t, r.URL, "msg_1", time.Now(), `{}`).WithContext(ctx))
	if err == nil {
		t.Fatal("a stalled request completed")
	}
	// Release lets a stalled request finish with 503.
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(signed(t, r.URL, "msg_2", time.Now(), `{}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-r.Arrived()
	<-r.Arrived() // the second request is in the handler, stalled
	r.Release()
	if got := <-done; got != 503 {
		t.Fatalf("released request answered %d, want 503", got)
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		_ = VerifySignature(secret, h, body, time.Unix(1614265330, 0), DefaultTolerance)
	})
}
