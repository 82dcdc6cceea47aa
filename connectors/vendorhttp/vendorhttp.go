// Package vendorhttp holds the HTTP plumbing the vendor connectors (firewalls,
// firewall managers, EDRs) share, so each connector keeps only what is its
// vendor's own (error body shapes, authentication flows, endpoints):
//
//   - NewClient: TLS 1.2 or later, an optional CA bundle from ca_file, an opt-in
//     insecure_skip_verify that is logged, a timeout, and no redirects;
//   - TransportCause, TemporaryStatus, Retryable and RetryableAfter: a request
//     without an answer, or an answer, classified as temporary (408, 429, 5xx,
//     timeouts, refused connections; 429 and 503 after their Retry-After) or
//     permanent (certificate failures, other statuses);
//   - RetryAfter: the Retry-After header (seconds or an HTTP date);
//   - Snippet, SnippetText, Printable, Mask, Truncate and RedactURL: vendor text
//     and URLs made safe for errors and logs (printable, secrets masked, bounded);
//   - TokenCache: one bearer token kept until shortly before it expires;
//   - CheckAPIURL and Sleep: an API URL's validation, and the wait between polls.
package vendorhttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/warroom/warroom/connectors"
)

// ClientConfig describes the HTTP client of one vendor connector.
type ClientConfig struct {
	// CAFile, when set, is a PEM bundle of the CAs that may sign the vendor's
	// certificate; read through ReadFile.
	CAFile string
	// ReadFile reads CAFile (connectors.Env.ReadFile).
	ReadFile func(string) ([]byte, error)
	// SystemRoots keeps the system's roots trusted next to CAFile; without it CAFile
	// alone is trusted.
	SystemRoots bool
	// InsecureSkipVerify turns certificate checks off.
	InsecureSkipVerify bool
	// Timeout bounds each request.
	Timeout time.Duration
	// Logger, when set, receives InsecureWarning (with InsecureAttrs) if
	// InsecureSkipVerify is set.
	Logger          *slog.Logger
	InsecureWarning string
	InsecureAttrs   []any
}

// TLSConfig returns the TLS configuration c describes. A ca_file that cannot be read
// or holds no certificate is an error that names the key and the file.
func TLSConfig(c ClientConfig) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // explicit opt-in, logged
	if c.CAFile != "" {
		pem, err := c.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: cannot read %s: %w", c.CAFile, unwrapPath(err))
		}
		var pool *x509.CertPool
		if c.SystemRoots {
			pool, _ = x509.SystemCertPool()
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", c.CAFile)
		}
		t.RootCAs = pool
	}
	if c.InsecureSkipVerify && c.Logger != nil {
		c.Logger.Warn(c.InsecureWarning, c.InsecureAttrs...)
	}
	return t, nil
}

// NewClient returns the HTTP client c describes. It follows no redirect: vendor
// APIs do not redirect, so a redirect means a misconfigured URL and its answer is
// returned as it is.
func NewClient(c ClientConfig) (*http.Client, error) {
	tc, err := TLSConfig(c)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{
		Transport: tr,
		Timeout:   c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// unwrapPath drops the *fs.PathError around err: the messages that use it name the
// path already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// TransportCause returns what a request that got no answer comes down to: the
// context's error when ctx is done (the caller gave up), otherwise err without the
// *url.Error around it. certificate reports a failed certificate check, which no
// retry can fix; every other cause (refused, reset, timed out) is worth a retry.
func TransportCause(ctx context.Context, err error) (cause error, certificate bool) {
	if cerr := ctx.Err(); cerr != nil {
		return cerr, false
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return err, CertificateError(err)
}

// MaxRetryAfter caps a Retry-After in seconds.
const MaxRetryAfter = 7 * 24 * time.Hour

// RetryAfter reads a Retry-After header value: delay-seconds (capped at
// MaxRetryAfter) or an HTTP date, measured from now (a date in the past is zero).
// ok is false for an empty or unreadable value, with a zero duration.
func RetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		const maxSeconds = int64(MaxRetryAfter / time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// TemporaryStatus reports whether an answer with status may succeed when
// repeated: 429 Too Many Requests, 408 Request Timeout and every 5xx.
func TemporaryStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// Retryable marks err, the error for an answer with a status TemporaryStatus
// accepts, as temporary; after a 429 or 503 with a readable Retry-After header it
// is temporary after that wait. Any other status makes err permanent.
func Retryable(err error, status int, h http.Header, now time.Time) error {
	after, ok := RetryAfter(h.Get("Retry-After"), now)
	return RetryableAfter(err, status, after, ok)
}

// RetryableAfter is Retryable with the Retry-After already read (hasAfter false:
// none, or unreadable).
func RetryableAfter(err error, status int, after time.Duration, hasAfter bool) error {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		if hasAfter {
			return connectors.TemporaryAfter(err, after)
		}
		return connectors.Temporary(err)
	case TemporaryStatus(status):
		return connectors.Temporary(err)
	}
	return connectors.Permanent(err)
}

// CertificateError reports whether err is a failed certificate check, which no
// retry can fix.
func CertificateError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}

// Redacted is what a masked secret reads as.
const Redacted = "[redacted]"

// Printable replaces every rune that does not print with a space.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
}

// Mask replaces every non-empty secret in s with Redacted.
func Mask(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Truncate cuts s to n bytes, marking a cut with "…".
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Snippet renders up to 300 bytes of a vendor's answer for an error message:
// printable, secrets masked, white space folded, at most 200 bytes, as ": text"
// (empty when nothing is left).
func Snippet(b []byte, secrets ...string) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return snippetText(string(b), secrets)
}

func snippetText(s string, secrets []string) string {
	s = Mask(Printable(s), secrets...)
	s = Truncate(strings.Join(strings.Fields(s), " "), 200)
	if s == "" {
		return ""
	}
	return ": " + s
}

// SnippetText is Snippet for a vendor message already extracted from the answer.
func SnippetText(s string, secrets ...string) string { return snippetText(s, secrets) }

// RedactURL drops user information, query and fragment from a URL for messages and
// logs.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#@"); i >= 0 {
			return s[:i]
		}
		return s
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

// CheckAPIURL accepts an https URL without credentials, query or fragment, or an
// http URL on a loopback address (a local proxy or a test). The error says what to
// fix; credentialsHint says where credentials go instead.
func CheckAPIURL(s, credentialsHint string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q must be an absolute https:// URL", stripQuery(s))
	}
	if u.User != nil {
		return errors.New("must not carry credentials; " + credentialsHint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", stripQuery(s))
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("%q: plain http is only allowed for loopback addresses; use https", s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// Endpoint is the part of a vendor connector's configuration its HTTPS client is
// built from.
type Endpoint struct {
	URL                string
	CAFile             string
	InsecureSkipVerify bool
	Timeout            time.Duration
}

// ConnectorClient returns the HTTP client of the connector type name ("panos") for e,
// reading ca_file through env. With insecure_skip_verify it logs one warning to env's
// logger, naming the connector, its redacted URL and peer: whose certificate goes
// unchecked ("the firewall").
func ConnectorClient(name, peer string, e Endpoint, env connectors.Env) (*http.Client, error) {
	return NewClient(ClientConfig{
		CAFile: e.CAFile, ReadFile: env.ReadFile, InsecureSkipVerify: e.InsecureSkipVerify, Timeout: e.Timeout,
		Logger: env.Logger,
		InsecureWarning: name + ": insecure_skip_verify is set: " + peer +
			"'s certificate is not checked, so anyone on the path can read the credentials; set ca_file instead",
		InsecureAttrs: []any{"connector", env.Name, "url", RedactURL(e.URL)},
	})
}
