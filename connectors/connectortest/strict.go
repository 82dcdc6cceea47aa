package connectortest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// RecordTB stands in for a test's testing.TB when a strict fake is sent requests a
// documented client would not send: it records the fake's Errorf calls instead of
// failing the test, so the test can check the fake flagged them.
type RecordTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

// Errorf records the failure the fake reports.
func (r *RecordTB) Errorf(format string, a ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

// Take returns the failures recorded since the last call and forgets them.
func (r *RecordTB) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.errs
	r.errs = nil
	return e
}

// TrustingClient returns an HTTP client that trusts only the certificate in caFile
// (a fake's CAFile).
func TrustingClient(tb testing.TB, caFile string) *http.Client {
	tb.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatal("the fake's CA file holds no certificate")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Probe sends hand-made requests to a strict fake and checks its answers, and
// whether the fake flagged each request as the client's fault.
type Probe struct {
	t      *testing.T
	rec    *RecordTB
	client *http.Client
	base   string
}

// NewProbe returns a Probe for the fake at base whose failures rec records; client
// must trust the fake (TrustingClient).
func NewProbe(t *testing.T, rec *RecordTB, client *http.Client, base string) *Probe {
	return &Probe{t: t, rec: rec, client: client, base: base}
}

// Do sends one request with the given headers and returns the answer and its body.
func (p *Probe) Do(method, path, body string, h map[string]string) (*http.Response, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// Check asserts an answer has status and contains the given text, and that the fake
// flagged the request (or did not).
func (p *Probe) Check(name string, resp *http.Response, body string, status int, contains string, flagged bool) {
	p.t.Helper()
	if resp.StatusCode != status || !strings.Contains(body, contains) {
		p.t.Errorf("%s: %d %s; want %d with %q", name, resp.StatusCode, body, status, contains)
	}
	if errs := p.rec.Take(); (len(errs) > 0) != flagged {
		p.t.Errorf("%s: the fake reported %q; want flagged=%v", name, errs, flagged)
	}
}

// Call is one request of a Probe table and what the fake must answer.
type Call struct {
	Name, Method, Path, Body string
	Header                   map[string]string
	Status                   int
	Contains                 string // in the answer
	Flagged                  bool   // the fake must report the request as the client's fault
}

// Run sends each call in turn and checks its answer.
func (p *Probe) Run(calls []Call) {
	p.t.Helper()
	for _, c := range calls {
		resp, body := p.Do(c.Method, c.Path, c.Body, c.Header)
		p.Check(c.Name, resp, body, c.Status, c.Contains, c.Flagged)
	}
}
