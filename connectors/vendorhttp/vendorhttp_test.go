package vendorhttp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
)

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"5":                             5 * time.Second,
		" 7 ":                           7 * time.Second,
		"Sat, 01 Mar 2025 12:00:30 GMT": 30 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT": 0,
		"99999999999":                   MaxRetryAfter,
	}
	for in, want := range cases {
		if got, ok := RetryAfter(in, now); !ok || got != want {
			t.Errorf("RetryAfter(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "soon", "-1", "1.5"} {
		if d, ok := RetryAfter(in, now); ok || d != 0 {
			t.Errorf("RetryAfter(%q) = %v %v, want rejected", in, d, ok)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("99999999999999999999")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := RetryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v", v, d, ok)
		}
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && d > MaxRetryAfter {
			t.Fatalf("RetryAfter(%q) = %v, above the cap", v, d)
		}
	})
}

func serverCA(t *testing.T, srv *httptest.Server) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestNewClientTrustsCAFileOnly(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	ca := serverCA(t, srv)
	read := func(name string) ([]byte, error) {
		if name == "ca.pem" {
			return ca, nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	c, err := NewClient(ClientConfig{CAFile: "ca.pem", ReadFile: read, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("a server signed by ca_file: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Without the CA the same server fails the certificate check, and that is
	// recognised as a certificate error.
	c, err = NewClient(ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(srv.URL)
	if err == nil || !CertificateError(err) {
		t.Fatalf("untrusted server: err %v, certificate error %v", err, CertificateError(err))
	}
	if CertificateError(errors.New("connection refused")) {
		t.Error("a plain error taken for a certificate error")
	}
}

func TestNewClientCAFileErrors(t *testing.T) {
	read := func(name string) ([]byte, error) {
		if name == "junk.pem" {
			return []byte("not a certificate"), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	for file, want := range map[string]string{
		"missing.pem": "ca_file: cannot read missing.pem: file does not exist",
		"junk.pem":    "ca_file: junk.pem holds no PEM certificate",
	} {
		for _, sys := range []bool{false, true} {
			_, err := NewClient(ClientConfig{CAFile: file, ReadFile: read, SystemRoots: sys})
			if err == nil || err.Error() != want {
				t.Errorf("ca_file %s (system roots %v): err %v, want %q", file, sys, err, want)
			}
		}
	}
}

func TestNewClientFollowsNoRedirectAndWarnsWhenInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			t.Errorf("redirect followed to %s", r.URL.Path)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c, err := NewClient(ClientConfig{InsecureSkipVerify: true, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), InsecureWarning: "vendor: insecure_skip_verify is set", InsecureAttrs: []any{"url", "https://fw"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="vendor: insecure_skip_verify is set" url=https://fw`) {
		t.Errorf("no warning logged: %q", logs.String())
	}
	resp, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the redirect answered as it is", resp.StatusCode)
	}
	logs.Reset()
	if _, err := NewClient(ClientConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil)), InsecureWarning: "x"}); err != nil || logs.Len() != 0 {
		t.Errorf("verified client: err %v, logged %q", err, logs.String())
	}
}

func TestSnippetMasksSecretsAndBounds(t *testing.T) {
	if got := Snippet([]byte("bad\x00token  s3cret\nhere"), "s3cret", ""); got != ": bad token [redacted] here" {
		t.Errorf("Snippet = %q", got)
	}
	if got := Snippet(nil, "x"); got != "" {
		t.Errorf("empty Snippet = %q", got)
	}
	long := Snippet(bytes.Repeat([]byte("a"), 1000))
	if long != ": "+strings.Repeat("a", 200)+"…" {
		t.Errorf("long Snippet has %d bytes", len(long))
	}
	if got := SnippetText("  k3y in message ", "k3y"); got != ": [redacted] in message" {
		t.Errorf("SnippetText = %q", got)
	}
	if got := Truncate(Mask(Printable("a\tb"), "b"), 3); got != "a […" {
		t.Errorf("Truncate(Mask(Printable)) = %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://admin:pw@fw.example:8443/api?key=s3cret#frag": "https://fw.example:8443/api",
		"https://fw.example": "https://fw.example",
		"://bad?key=s3cret":  "://bad",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTransportCause(t *testing.T) {
	refused := errors.New("connection refused")
	uerr := &url.Error{Op: "Post", URL: "https://fw/api", Err: refused}
	if cause, cert := TransportCause(context.Background(), uerr); cause != refused || cert {
		t.Errorf("refused: cause %v, certificate %v", cause, cert)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if cause, cert := TransportCause(ctx, uerr); cause != context.Canceled || cert {
		t.Errorf("cancelled: cause %v, certificate %v", cause, cert)
	}
	certErr := &url.Error{Op: "Get", URL: "https://fw", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "fw"}}
	if cause, cert := TransportCause(context.Background(), certErr); !cert || cause != certErr.Err {
		t.Errorf("hostname mismatch: cause %v, certificate %v", cause, cert)
	}
}

func TestRetryableClassifiesStatuses(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {"7"}}
	base := errors.New("fw answered")
	for _, tc := range []struct {
		status    int
		header    http.Header
		temporary bool
		after     time.Duration
	}{
		{429, h, true, 7 * time.Second},
		{503, h, true, 7 * time.Second},
		{429, nil, true, 0},
		{502, h, true, 0}, // Retry-After counts on 429 and 503 only
		{500, nil, true, 0},
		{408, nil, true, 0},
		{401, h, false, 0},
		{403, nil, false, 0},
		{404, nil, false, 0},
	} {
		if got := TemporaryStatus(tc.status); got != tc.temporary {
			t.Errorf("TemporaryStatus(%d) = %v", tc.status, got)
		}
		err := Retryable(base, tc.status, tc.header, now)
		if !errors.Is(err, base) {
			t.Errorf("%d: the error lost its cause: %v", tc.status, err)
		}
		if connectors.Retryable(err) != tc.temporary {
			t.Errorf("%d: temporary %v, want %v", tc.status, connectors.Retryable(err), tc.temporary)
		}
		after, ok := connectors.RetryAfter(err)
		if (tc.after > 0) != ok || after != tc.after {
			t.Errorf("%d: retry after %v %v, want %v", tc.status, after, ok, tc.after)
		}
	}
}

func TestCheckAPIURL(t *testing.T) {
	const hint = "use client_secret_env or client_secret_file"
	for in, want := range map[string]string{
		"https://api.example.com":          "",
		"http://127.0.0.1:8080":            "",
		"http://localhost:8080/":           "",
		"http://[::1]:8080":                "",
		"api.example.com":                  `"api.example.com" must be an absolute https:// URL`,
		"ftp://api.example.com?k=s3cret":   `"ftp://api.example.com" must be an absolute https:// URL`,
		"https://id:s3cret@api.example":    "must not carry credentials; " + hint,
		"https://api.example.com?k=s3cret": `"https://api.example.com" must not have a query or fragment`,
		"http://api.example.com":           `"http://api.example.com": plain http is only allowed for loopback addresses; use https`,
	} {
		err := CheckAPIURL(in, hint)
		if (want == "" && err != nil) || (want != "" && (err == nil || err.Error() != want)) {
			t.Errorf("CheckAPIURL(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestConnectorClientWarnsOnceWithoutSecrets(t *testing.T) {
	var logs bytes.Buffer
	env := connectors.Env{Name: "edge-fw", Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	_, err := ConnectorClient("panos", "the firewall", Endpoint{URL: "https://fw.example/api/?key=test-secret",
		InsecureSkipVerify: true, Timeout: time.Second}, env)
	if err != nil {
		t.Fatal(err)
	}
	want := `level=WARN msg="panos: insecure_skip_verify is set: the firewall's certificate is not checked, so anyone on the path can read the credentials; set ca_file instead" connector=edge-fw url=https://fw.example/api/`
	if got := strings.TrimSpace(logs.String()); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 0 || strings.Contains(got, "test-secret") {
		t.Errorf("log %q, want one line ending %q", got, want)
	}
	logs.Reset()
	if _, err := ConnectorClient("panos", "the firewall", Endpoint{URL: "https://fw.example", Timeout: time.Second}, env); err != nil || logs.Len() != 0 {
		t.Errorf("checked certificates: err %v, log %q", err, logs.String())
	}
	_, err = ConnectorClient("panos", "the firewall", Endpoint{URL: "https://fw.example", CAFile: "/nonexistent/ca.pem"},
		connectors.Env{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist }})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Errorf("missing ca_file: %v", err)
	}
}
