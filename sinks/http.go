package sinks

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/warroom/warroom/internal/secret"
)

// TLS holds a sink's TLS client settings. Embed it inline.
type TLS struct {
	// CAFile is a PEM bundle of the certificate authorities to trust instead of the
	// system's.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns off certificate checks. It must be set explicitly and
	// logs a warning at start: anyone on the path can then read and change events.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate rejects contradictory settings.
func (t TLS) Validate() error {
	if t.CAFile != "" && t.InsecureSkipVerify {
		return errors.New("ca_file and insecure_skip_verify are both set; with a ca_file the certificate can be checked, so drop insecure_skip_verify")
	}
	return nil
}

// IsZero reports whether nothing is set.
func (t TLS) IsZero() bool { return t == TLS{} }

// Config builds the client TLS configuration (TLS 1.2 or later). serverName is the
// name to check the certificate against (empty: the dialled host).
func (t TLS) Config(env Env, serverName string) (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if t.CAFile != "" {
		pem, err := env.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: cannot read %s: %w", t.CAFile, unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.InsecureSkipVerify {
		c.InsecureSkipVerify = true
		env.Logger.Warn("insecure_skip_verify is on: the receiver's certificate is not checked, so anyone on the path can read and change events; set ca_file instead", "sink", env.Name)
	}
	return c, nil
}

// unwrapPath drops the path from a file error whose message already names it.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CheckURL parses a sink's base URL: http or https, a host, no credentials, query or
// fragment (credentials come from token_env/token_file). A trailing slash is dropped.
// Errors never repeat the URL when it could hold a credential.
func CheckURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("url is not a valid URL: want https://host[:port][/path]")
	}
	switch {
	case u.User != nil:
		return nil, errors.New("url must not hold credentials: put the secret in token_env or token_file")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("url must not have a query string: credentials go in token_env or token_file")
	case u.Fragment != "":
		return nil, errors.New("url must not have a fragment (#...)")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url %s: scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("url %s: host is missing", raw)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, fmt.Errorf("url %s: port %q is not valid", raw, p)
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// NewHTTPClient returns a client for a sink: the given TLS settings, the proxy from
// the environment, no redirects followed (a redirect is answered as an error, so no
// credential goes to a host that was not configured) and an overall timeout as a
// backstop to the Send context.
func NewHTTPClient(tc *tls.Config, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// MaxResponseBytes bounds how much of a response body sinks read.
const MaxResponseBytes = 4 << 20

// ReadBody reads up to MaxResponseBytes of a response body and discards the rest, so
// the connection can be reused.
func ReadBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBytes))
	resp.Body.Close()
	return b, err
}

// StatusError classifies an HTTP answer that is not 2xx: 408, 425, 429 and 5xx are
// retryable (honouring Retry-After), 400, 413 and 422 are Rejected, redirects and other
// 4xx are Permanent. what names the receiver ("splunk HEC"); detail is a short reason
// taken from the body. Secrets are cut out of the message.
func StatusError(what string, resp *http.Response, detail string, now time.Time, secrets ...Secret) error {
	msg := fmt.Sprintf("%s answered %s", what, resp.Status)
	if resp.Status == "" {
		msg = fmt.Sprintf("%s answered %d", what, resp.StatusCode)
	}
	if detail = Snippet(detail, 300, secrets...); detail != "" {
		msg += ": " + detail
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		err := errors.New(msg)
		if ra, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			return RetryAfter(err, ra)
		}
		return err
	case code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge || code == http.StatusUnprocessableEntity:
		return Rejected(errors.New(msg))
	case code >= 300 && code < 400:
		loc := "elsewhere"
		if l, err := resp.Location(); err == nil {
			loc = l.Scheme + "://" + l.Host + l.Path
		}
		return Permanent(fmt.Errorf("%s; it redirects to %s: set url to the final address", msg, loc))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Permanent(fmt.Errorf("%s: check the token and its permissions", msg))
	case code == http.StatusNotFound:
		return Permanent(fmt.Errorf("%s: check url", msg))
	default:
		return Permanent(errors.New(msg))
	}
}

// Snippet shortens s to at most n bytes for an error message, replaces control
// characters with spaces and cuts out every secret (and its base64 and basic-auth
// forms are the caller's to list).
func Snippet(s string, n int, secrets ...Secret) string {
	for _, sec := range secrets {
		if v := sec.Reveal(); len(v) >= 4 {
			s = strings.ReplaceAll(s, v, secret.Redacted)
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
