package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPosterSendsOneWellFormedRequestPerPost checks the request bytes a real net/http
// server receives, and that keep-alive answers are read off one connection.
func TestPosterSendsOneWellFormedRequestPerPost(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		switch {
		case err != nil:
			t.Errorf("reading the body: %v", err)
		case r.Method != http.MethodPost || r.URL.RequestURI() != "/api/v1/ingest/generic%20x?a=1":
			t.Errorf("request line: %s %s", r.Method, r.URL.RequestURI())
		case r.Proto != "HTTP/1.1" || r.Host != strings.TrimPrefix(srvURL(r), "http://"):
			t.Errorf("proto %s, host %q", r.Proto, r.Host)
		case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer t0k":
			t.Errorf("headers: %v", r.Header)
		case r.ContentLength != int64(len(body)):
			t.Errorf("Content-Length %d for %d bytes", r.ContentLength, len(body))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write(append([]byte("echo:"), body...))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	p, err := newPoster(srv.URL+"/api/v1/ingest/generic%20x?a=1",
		[]string{"Content-Type: application/json", "Authorization: Bearer t0k"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var resp bytes.Buffer
	big := bytes.Repeat([]byte("x"), 300<<10) // above the single-write size: written as two buffers
	for i, body := range [][]byte{[]byte(`{"a":1}`), []byte(`[]`), big} {
		code, err := p.post(context.Background(), body, &resp)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("post %d: %d, %v", i, code, err)
		}
		if !bytes.Equal(resp.Bytes(), append([]byte("echo:"), body...)) {
			t.Fatalf("post %d: answer %.40q", i, resp.Bytes())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three keep-alive posts, want 1", n)
	}
}

// srvURL is the address the request was sent to, as a client's Host header names it.
func srvURL(r *http.Request) string {
	return "http://" + r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
}

// rawServer answers each connection's requests with the next of answers, one answer
// per request, and reports every connection it accepts.
func rawServer(t *testing.T, answers ...string) (url string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	acc := make(chan struct{}, 64)
	next := make(chan string, len(answers))
	for _, a := range answers {
		next <- a
	}
	close(next)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			acc <- struct{}{}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					a, ok := <-next
					if !ok {
						return
					}
					if _, err := io.WriteString(c, a); err != nil {
						return
					}
					la := strings.ToLower(a)
					if strings.Contains(la, "connection: close") || !strings.Contains(la, "content-length") && !strings.Contains(la, "chunked") && !strings.Contains(la, " 204 ") {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/in", acc
}

func TestPosterReadsEveryAnswerFraming(t *testing.T) {
	url, accepted := rawServer(t,
		"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
	)
	p, err := newPoster(url, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	want := []struct {
		code  int
		body  string
		conns int // connections accepted before this post
	}{
		{202, "hello", 1}, {200, "ok", 1}, {200, "abc0123456789", 1}, {204, "", 1},
		{500, "oops", 1}, {200, "until the end", 2}, {401, "", 3},
	}
	conns := 0
	var resp bytes.Buffer
	for i, w := range want {
		code, err := p.post(context.Background(), []byte("{}"), &resp)
		if err != nil || code != w.code || resp.String() != w.body {
			t.Fatalf("answer %d: %d %q, %v; want %d %q", i, code, resp.String(), err, w.code, w.body)
		}
		for conns < w.conns {
			<-accepted
			conns++
		}
	}
	select {
	case <-accepted:
		t.Fatal("more connections than the answers that close them")
	default:
	}
}

func TestPosterRefusesMalformedAnswersAndReconnects(t *testing.T) {
	for _, tc := range []struct{ name, answer, want string }{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "malformed status line"},
		{"short status", "HTTP/1.1 20\r\n\r\n", "malformed status line"},
		{"letters for a code", "HTTP/1.1 2x2 Accepted\r\n\r\n", "malformed status line"},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", "malformed header line"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "bad Content-Length"},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"},
		{"chunk without line end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", "no line end after its data"},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc", "unexpected EOF"},
		{"headers too long", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 8000)+"\r\n", 9) + "\r\n", "answer headers too long"},
		{"line too long", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", 20<<10) + "\r\n\r\n", "answer line too long"},
		{"protocol switch", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "switched protocols"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, accepted := rawServer(t, tc.answer, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")
			p, err := newPoster(url, nil, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			var resp bytes.Buffer
			if code, err := p.post(context.Background(), []byte("{}"), &resp); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %d, %v; want an error with %q", code, err, tc.want)
			}
			<-accepted
			// The broken connection is dropped: the next post opens a new one.
			if code, err := p.post(context.Background(), []byte("{}"), &resp); err != nil || code != 202 || resp.String() != "ok" {
				t.Fatalf("after the error: %d %q, %v", code, resp.String(), err)
			}
			<-accepted
		})
	}
}

func TestPosterAbortEndsAPostInProgress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		http.ReadRequest(bufio.NewReader(c)) // then never answer
		got <- c
	}()
	p, err := newPoster("http://"+ln.Addr().String()+"/in", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	done := make(chan error, 1)
	go func() {
		_, err := p.post(context.Background(), []byte("{}"), new(bytes.Buffer))
		done <- err
	}()
	c := <-got // the request has arrived: the post is waiting for its answer
	defer c.Close()
	p.abort()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("aborted post: %v, want it cut off by the past deadline", err)
	}
	// While aborted no new connection is opened.
	if _, err := p.post(context.Background(), []byte("{}"), new(bytes.Buffer)); !errors.Is(err, context.Canceled) {
		t.Fatalf("post while aborted: %v", err)
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestPosterDialErrorNamesTheAddress(t *testing.T) {
	addr := deadAddr(t)
	p, err := newPoster("http://"+addr+"/in", nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.post(context.Background(), nil, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("dial error %v does not name %s", err, addr)
	}
}

// FuzzReadAnswer feeds arbitrary bytes to the answer reader: it must never panic, and
// what it accepts must be a status code of three digits with a body no longer than
// the input.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nto the end",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var resp bytes.Buffer
		code, _, err := readAnswer(bufio.NewReaderSize(bytes.NewReader(in), 16<<10), &resp)
		if err != nil {
			return
		}
		if code < 100 || code > 999 {
			t.Fatalf("accepted status %d", code)
		}
		if resp.Len() > len(in) {
			t.Fatalf("body of %d bytes from %d bytes of input", resp.Len(), len(in))
		}
	})
}
