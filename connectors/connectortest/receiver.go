package connectortest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Received is one request the Receiver got.
type Received struct {
	Method    string
	Path      string
	Header    http.Header
	Body      []byte
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	SigErr    error  // nil when the signature verified
	Status    int    // what the receiver answered
}

// Fault is an injected failure for one request.
type Fault struct {
	Status     int    // status to answer (503, 429, 400...)
	RetryAfter string // Retry-After header value, if any
	Stall      bool   // hold the request until the client gives up or Release is called
}

// Receiver is a recording webhook endpoint on 127.0.0.1. It verifies each request's
// Standard Webhooks signature (401 when it fails), records it, and answers with the
// next queued Fault, or 204 when none is queued.
type Receiver struct {
	URL string

	srv       *httptest.Server
	secret    string
	now       func() time.Time
	tolerance time.Duration

	mu       sync.Mutex
	reqs     []Received
	faults   []Fault
	arrived  chan Received
	released chan struct{}
	relOnce  sync.Once
}

// NewReceiver starts a receiver checking signatures made with secret ("whsec_...").
// It is closed when the test ends.
func NewReceiver(tb testing.TB, secret string) *Receiver {
	tb.Helper()
	r := &Receiver{secret: secret, now: time.Now, tolerance: DefaultTolerance,
		arrived: make(chan Received, 1024), released: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL
	tb.Cleanup(func() {
		r.Release()
		r.srv.Close()
	})
	return r
}

// SetClock replaces the clock used to check webhook-timestamp.
func (r *Receiver) SetClock(now func() time.Time) {
	r.mu.Lock()
	r.now = now
	r.mu.Unlock()
}

// Inject queues faults, answered in order to the next requests.
func (r *Receiver) Inject(f ...Fault) {
	r.mu.Lock()
	r.faults = append(r.faults, f...)
	r.mu.Unlock()
}

// Fail queues n answers with status.
func (r *Receiver) Fail(status, n int) {
	for range n {
		r.Inject(Fault{Status: status})
	}
}

// RateLimit queues n 429 answers carrying Retry-After: retryAfter.
func (r *Receiver) RateLimit(n int, retryAfter string) {
	for range n {
		r.Inject(Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter})
	}
}

// Stall queues n requests that hang until the client cancels or Release is called.
func (r *Receiver) Stall(n int) {
	for range n {
		r.Inject(Fault{Stall: true})
	}
}

// Release lets every stalled request (now and later) finish with 503.
func (r *Receiver) Release() { r.relOnce.Do(func() { close(r.released) }) }

// Requests returns what arrived so far, in order.
func (r *Receiver) Requests() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.reqs...)
}

// Arrived delivers each request as it is recorded (buffered), so tests can wait for
// one without sleeping.
func (r *Receiver) Arrived() <-chan Received { return r.arrived }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	now, secret, tol := r.now(), r.secret, r.tolerance
	var f *Fault
	if len(r.faults) > 0 {
		f = &r.faults[0]
		r.faults = r.faults[1:]
	}
	r.mu.Unlock()

	rec := Received{
		Method: req.Method, Path: req.URL.RequestURI(), Header: req.Header.Clone(), Body: body,
		ID: req.Header.Get(HeaderID), Timestamp: req.Header.Get(HeaderTimestamp),
	}
	rec.SigErr = VerifySignature(secret, req.Header, body, now, tol)
	switch {
	case rec.SigErr != nil:
		rec.Status = http.StatusUnauthorized
	case f == nil:
		rec.Status = http.StatusNoContent
	case f.Stall:
		rec.Status = http.StatusServiceUnavailable
	default:
		rec.Status = f.Status
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	select {
	case r.arrived <- rec:
	default:
	}

	if f != nil && f.Stall && rec.SigErr == nil {
		select {
		case <-req.Context().Done():
			return
		case <-r.released:
		}
	}
	if f != nil && f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if rec.Status >= 400 {
		http.Error(w, http.StatusText(rec.Status)+" ("+strconv.Itoa(rec.Status)+")", rec.Status)
		return
	}
	w.WriteHeader(rec.Status)
}
