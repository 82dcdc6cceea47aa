// Package sinktest holds strict fakes of the receivers warroom's sinks talk to — a
// Splunk HTTP Event Collector, an Elasticsearch _bulk endpoint, a Standard Webhooks
// receiver and an RFC 5424 syslog receiver over UDP, TCP and TLS — plus an in-memory
// sinks.Queue, a conformance suite for Queue implementations and a test timer.
//
// The fakes check the wire format exactly (paths, methods, headers, framing, payload
// shape), answer anything else with the vendor's own error shape, keep what they
// accepted, and can inject faults: outages (connection refused or 503), dropped
// connections, throttling, and requests that are processed but whose answer is lost.
package sinktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Fault is one injected failure, consumed by the next request.
type Fault struct {
	// Status answers with this HTTP status and the vendor's error body for it.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header with Status.
	RetryAfter string
	// Drop closes the connection without an answer, before processing the request.
	Drop bool
	// AcceptThenDrop processes the request (keeping its events) and then closes the
	// connection without an answer: the sender cannot know it was delivered.
	AcceptThenDrop bool
}

// Request is one request as the fake received it.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// server is the HTTP plumbing shared by the HTTP fakes: a listener that can be taken
// down (connection refused) and brought back on the same address, fault injection and
// request recording.
type server struct {
	t       testing.TB
	handler func(w http.ResponseWriter, r *http.Request, body []byte) // vendor logic
	failure func(w http.ResponseWriter, f Fault)                      // vendor error body for a status

	mu       sync.Mutex
	addr     string
	ln       net.Listener
	srv      *http.Server
	faults   []Fault
	outage   int // while > 0, answer 503 and count down
	requests []Request
	changed  chan struct{} // closed and replaced on every change, for waiters
}

func newServer(t testing.TB) *server {
	s := &server{t: t, changed: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sinktest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(func() {
		s.mu.Lock()
		srv := s.srv
		s.srv, s.ln = nil, nil
		s.mu.Unlock()
		if srv != nil {
			srv.Close()
		}
	})
	return s
}

func (s *server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.ln, s.srv = ln, srv
	go srv.Serve(ln)
}

// URL is the base URL (http://127.0.0.1:port).
func (s *server) URL() string { return "http://" + s.addr }

// Stop closes the listener and every connection: clients get "connection refused"
// until Start.
func (s *server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (s *server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("sinktest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Inject queues faults for the next requests, one per request, in order.
func (s *server) Inject(f ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, f...)
	s.mu.Unlock()
}

// Outage answers the next n requests with 503 and the vendor's "busy" body.
func (s *server) Outage(n int) {
	s.mu.Lock()
	s.outage = n
	s.mu.Unlock()
}

// Requests returns every request received, faults included.
func (s *server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *server) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor blocks until cond (called under the lock) holds or ctx ends.
func (s *server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sinktest: condition not met: %w", ctx.Err())
		}
	}
}

func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		hijackClose(w)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: bytes.Clone(body)})
	var f Fault
	switch {
	case len(s.faults) > 0:
		f = s.faults[0]
		s.faults = s.faults[1:]
	case s.outage > 0:
		s.outage--
		f = Fault{Status: http.StatusServiceUnavailable}
	}
	s.signal()
	s.mu.Unlock()

	switch {
	case f.Drop:
		hijackClose(w)
		return
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		s.failure(w, f)
		return
	case f.AcceptThenDrop:
		s.handler(discardWriter{header: http.Header{}}, r, body)
		hijackClose(w)
		return
	}
	s.handler(w, r, body)
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
