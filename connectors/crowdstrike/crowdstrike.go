// Package crowdstrike isolates hosts through CrowdStrike Falcon network containment:
// an OAuth2 client-credentials token (cached, refreshed before it expires, renewed on
// 401), host lookup by hostname or local IP to a device id, the
// devices-actions/v2 contain and lift_containment actions, and verification by
// reading the device's containment status back.
package crowdstrike

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("crowdstrike", factory) }

func factory(raw []byte, env connectors.Env) (connectors.Connector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return New(cfg, env)
}

// doer is the one method of *http.Client the connector calls.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ doer = (*http.Client)(nil)

// Containment statuses of a Falcon device.
const (
	StatusNormal         = "normal"
	StatusContainPending = "containment_pending"
	StatusContained      = "contained"
	StatusLiftPending    = "lift_containment_pending"
)

// Falcon is a configured Falcon API client.
type Falcon struct {
	name   string
	cfg    Config
	api    string
	host   string // the API host, for messages
	secret connectors.Secret
	clock  clock.Clock
	log    *slog.Logger
	http   doer
	sim    *connectors.Simulation
	sleep  func(ctx context.Context, d time.Duration) error
	masks  []connectors.Secret // values masked out of vendor messages

	mu    sync.Mutex
	token vendorhttp.TokenCache
}

var _ connectors.Connector = (*Falcon)(nil)

// New returns a Falcon connector for cfg, reading the client secret through env.
func New(cfg Config, env connectors.Env) (*Falcon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	// The insecure_skip_verify warning is logged where the connector is assembled.
	client, err := vendorhttp.NewClient(vendorhttp.ClientConfig{CAFile: cfg.CAFile, ReadFile: env.ReadFile,
		SystemRoots: true, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	return newFalcon(cfg, env, client)
}

func newFalcon(cfg Config, env connectors.Env, client doer) (*Falcon, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "crowdstrike"
	}
	secret, err := env.Secret("client_secret", cfg.ClientSecretEnv, cfg.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.API())
	f := &Falcon{
		name: env.Name, cfg: cfg, api: cfg.API(), host: u.Host, secret: secret, clock: env.Clock,
		log: env.Logger.With("connector", env.Name), http: client, sleep: connectors.Sleep,
		masks: []connectors.Secret{secret},
	}
	f.token.Margin = refreshMargin
	if cfg.InsecureSkipVerify {
		f.log.Warn("crowdstrike: insecure_skip_verify is set: the API's TLS certificate is not checked; use ca_file instead", "api", f.host)
	}
	if cfg.DryRun || env.DryRun {
		f.sim = connectors.NewSimulation(env.Clock)
	}
	return f, nil
}

// Name implements connectors.Connector.
func (f *Falcon) Name() string { return f.name }

// Capabilities returns isolate_host and release_host.
func (f *Falcon) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.IsolateHost, connectors.ReleaseHost}
}

// action is what a request asks of the device: the Falcon action to send, the status
// that means it is done, and the one that means it is on its way.
type action struct {
	name    string // contain or lift_containment
	done    string
	pending string
	verb    string // for humans
}

var (
	contain = action{name: "contain", done: StatusContained, pending: StatusContainPending, verb: "containment"}
	lift    = action{name: "lift_containment", done: StatusNormal, pending: StatusLiftPending, verb: "lifting of containment"}
)

func actionFor(k connectors.ActionKind, revert bool) action {
	isolate := k == connectors.IsolateHost
	if revert {
		isolate = !isolate
	}
	if isolate {
		return contain
	}
	return lift
}

// Execute contains (isolate_host) or releases (release_host) the target host. A host
// already in, or on its way to, the requested state is left alone (Changed=false).
func (f *Falcon) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	if f.sim != nil {
		d, err := f.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return f.sim.Execute(req, d), nil
	}
	return f.apply(ctx, req, actionFor(req.Kind, false))
}

// Revert undoes Execute: lifts the containment of an isolate_host request, contains
// the host again for a release_host request. Reverting what is not in place is a
// no-op.
func (f *Falcon) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	a := actionFor(req.Kind, true)
	if f.sim != nil {
		return f.sim.Revert(req, connectors.Diff{Changes: []string{fmt.Sprintf("%s of host %s (revert)", a.name, req.Target)}}), nil
	}
	return f.apply(ctx, req, a)
}

func (f *Falcon) apply(ctx context.Context, req connectors.Request, a action) (connectors.Result, error) {
	dev, err := f.lookup(ctx, req.Target)
	if err != nil {
		return connectors.Result{}, err
	}
	if dev.Status == a.done || dev.Status == a.pending {
		return connectors.Result{Reference: dev.ID, Detail: fmt.Sprintf("host %s (device %s) is already %s; nothing sent", dev.Hostname, dev.ID, dev.Status)}, nil
	}
	body, _ := json.Marshal(map[string][]string{"ids": {dev.ID}})
	q := url.Values{"action_name": {a.name}}
	_, err = f.call(ctx, http.MethodPost, "/devices/entities/devices-actions/v2", q, body, nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusConflict {
			// The device changed state in between: read it again and report what holds.
			if dev2, lerr := f.device(ctx, dev.ID); lerr == nil && (dev2.Status == a.done || dev2.Status == a.pending) {
				return connectors.Result{Reference: dev.ID, Detail: fmt.Sprintf("host %s (device %s) is already %s", dev.Hostname, dev.ID, dev2.Status)}, nil
			}
		}
		return connectors.Result{}, err
	}
	f.log.Info("crowdstrike: action accepted", "action", a.name, "device", dev.ID, "host", dev.Hostname, "request", req.ActionID)
	return connectors.Result{Changed: true, Reference: dev.ID,
		Detail: fmt.Sprintf("Falcon accepted %s of host %s (device %s, was %s)", a.name, dev.Hostname, dev.ID, dev.Status)}, nil
}

// Verify reads the device's containment status back. While a change is pending it
// polls for up to settle_timeout; a change still pending then is reported as not in
// place.
func (f *Falcon) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Verification{}, err
	}
	if f.sim != nil {
		return f.sim.Verify(req), nil
	}
	a := actionFor(req.Kind, false)
	dev, err := f.lookup(ctx, req.Target)
	if err != nil {
		return connectors.Verification{}, err
	}
	deadline := f.clock.Now().Add(f.cfg.SettleTimeout)
	for dev.Status == StatusContainPending || dev.Status == StatusLiftPending {
		if !f.clock.Now().Before(deadline) {
			break
		}
		if err := f.sleep(ctx, f.cfg.PollInterval); err != nil {
			return connectors.Verification{}, connectors.Temporary(fmt.Errorf("crowdstrike %s: waiting for host %s to settle: %w", f.name, dev.Hostname, err))
		}
		if dev, err = f.device(ctx, dev.ID); err != nil {
			return connectors.Verification{}, err
		}
	}
	v := connectors.Verification{Observed: true, CheckedAt: f.clock.Now(), InPlace: dev.Status == a.done}
	switch {
	case v.InPlace:
		v.Detail = fmt.Sprintf("Falcon reports host %s (device %s) %s", dev.Hostname, dev.ID, dev.Status)
	case dev.Status == a.pending:
		v.Detail = fmt.Sprintf("Falcon reports host %s (device %s) still %s after %s; the sensor has not confirmed yet", dev.Hostname, dev.ID, dev.Status, connectors.FormatDuration(f.cfg.SettleTimeout))
	default:
		v.Detail = fmt.Sprintf("Falcon reports host %s (device %s) %s, not %s", dev.Hostname, dev.ID, dev.Status, a.done)
	}
	return v, nil
}

// Preview describes the action without calling the API.
func (f *Falcon) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Diff{}, err
	}
	a := actionFor(req.Kind, false)
	by := "hostname"
	if _, ip := targetIP(req.Target); ip {
		by = "local_ip"
	}
	return connectors.Diff{Changes: []string{
		fmt.Sprintf("%s host %s on CrowdStrike Falcon (%s): look the device up by %s, POST devices-actions/v2?action_name=%s unless it is already %s",
			a.name, req.Target, f.host, by, a.name, a.done),
	}}, nil
}

// Ready gets a token (authenticated) and lists one device id (reachable, and
// permitted to read hosts). The Hosts: Write scope cannot be probed without acting; it
// is checked when an action runs.
func (f *Falcon) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{}
	suffix := ""
	if f.sim != nil {
		suffix = "; dry run"
	}
	_, err := f.call(ctx, http.MethodGet, "/devices/queries/devices/v1", url.Values{"limit": {"1"}}, nil, nil)
	var ae *apiError
	switch {
	case err == nil:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Passed
		r.Message = fmt.Sprintf("%s issued a token and lists hosts (Hosts: Read); Hosts: Write is checked when an action runs%s", f.host, suffix)
	case errors.As(err, &ae) && ae.auth:
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Failed
		r.Message = err.Error() + suffix
	case errors.As(err, &ae) && ae.status == http.StatusForbidden:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error() + suffix
	case errors.As(err, &ae):
		r.Reachable = connectors.Passed
		r.Message = err.Error() + suffix
	default:
		r.Reachable = connectors.Failed
		r.Message = err.Error() + suffix
	}
	return r
}

// Device is what the connector reads of a Falcon device.
type Device struct {
	ID       string `json:"device_id"`
	Hostname string `json:"hostname"`
	LocalIP  string `json:"local_ip"`
	Status   string `json:"status"`
	LastSeen string `json:"last_seen"`
}

// targetIP returns the address of a single-address target, or of a host target that
// is written as an address.
func targetIP(t connectors.Target) (netip.Addr, bool) {
	if t.IsIP() {
		if t.Prefix.IsSingleIP() {
			return t.Prefix.Addr(), true
		}
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(t.Host)
	return a, err == nil
}

// lookup finds the one device the target names. No match and several matches are
// permanent errors: isolating the wrong machine is worse than isolating none.
func (f *Falcon) lookup(ctx context.Context, t connectors.Target) (Device, error) {
	var filter string
	if a, ok := targetIP(t); ok {
		filter = fmt.Sprintf("local_ip:'%s'", a.Unmap())
	} else if t.IsIP() {
		return Device{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: target %s is a network, not a host; give a host name or one address", f.name, t))
	} else {
		h := strings.TrimSuffix(t.Host, ".")
		if strings.ContainsAny(h, `'\`) {
			return Device{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: host name %q contains a quote or backslash", f.name, h))
		}
		filter = fmt.Sprintf("hostname:'%s'", h)
	}
	var ids struct {
		Resources []string `json:"resources"`
	}
	if _, err := f.call(ctx, http.MethodGet, "/devices/queries/devices/v1", url.Values{"filter": {filter}, "limit": {"10"}}, nil, &ids); err != nil {
		return Device{}, err
	}
	switch len(ids.Resources) {
	case 0:
		return Device{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: no Falcon device matches %s", f.name, filter))
	case 1:
		return f.device(ctx, ids.Resources[0])
	}
	return Device{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: %d Falcon devices match %s (%s); refusing to guess, isolate by a more specific name",
		f.name, len(ids.Resources), filter, strings.Join(ids.Resources, ", ")))
}

// device reads one device by id.
func (f *Falcon) device(ctx context.Context, id string) (Device, error) {
	var out struct {
		Resources []Device `json:"resources"`
	}
	if _, err := f.call(ctx, http.MethodGet, "/devices/entities/devices/v2", url.Values{"ids": {id}}, nil, &out); err != nil {
		return Device{}, err
	}
	for _, d := range out.Resources {
		if d.ID == id {
			return d, nil
		}
	}
	return Device{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: device %s is not in the answer of devices/v2", f.name, id))
}

// apiError is a non-2xx answer. auth marks refused credentials.
type apiError struct {
	status int
	auth   bool
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// errorBody is Falcon's error envelope.
type errorBody struct {
	Errors []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// call sends one API request with a bearer token, logs in again once on a 401 and
// decodes a 2xx body into out (when not nil). Errors are classified.
func (f *Falcon) call(ctx context.Context, method, path string, q url.Values, body []byte, out any) (int, error) {
	for attempt := 0; ; attempt++ {
		tok, err := f.accessToken(ctx, attempt > 0)
		if err != nil {
			return 0, err
		}
		status, hdr, data, err := f.send(ctx, method, path, q, body, tok)
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			f.log.Debug("crowdstrike: token refused, logging in again", "path", path)
			f.dropToken(tok)
			continue
		}
		if status >= 200 && status < 300 {
			if out != nil {
				if err := json.Unmarshal(data, out); err != nil {
					return status, connectors.Permanent(fmt.Errorf("crowdstrike %s: %s %s: undecodable answer: %w", f.name, method, path, err))
				}
			}
			return status, nil
		}
		return status, f.classify(method+" "+path, status, hdr, data)
	}
}

func (f *Falcon) send(ctx context.Context, method, path string, q url.Values, body []byte, tok connectors.Secret) (int, http.Header, []byte, error) {
	u := f.api + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, connectors.Permanent(fmt.Errorf("crowdstrike %s: building %s %s: %w", f.name, method, path, err))
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-crowdstrike/1")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hreq.Header.Set("Authorization", "Bearer "+tok.Reveal())
	return f.do(ctx, hreq, method+" "+path)
}

// do runs one HTTP exchange and reads the body (up to 1 MiB).
func (f *Falcon) do(ctx context.Context, hreq *http.Request, what string) (int, http.Header, []byte, error) {
	resp, err := f.http.Do(hreq)
	if err != nil {
		return 0, nil, nil, f.transportError(ctx, what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, f.transportError(ctx, what, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func (f *Falcon) transportError(ctx context.Context, what string, err error) error {
	err, cert := vendorhttp.TransportCause(ctx, err)
	if cert {
		return connectors.Permanent(fmt.Errorf("crowdstrike %s: %s: the TLS certificate of %s is not trusted (%w); set ca_file to the issuing CA", f.name, what, f.host, err))
	}
	return connectors.Temporary(fmt.Errorf("crowdstrike %s: %s on %s: %w", f.name, what, f.host, err))
}

// classify turns a non-2xx answer into a classified error carrying Falcon's messages.
func (f *Falcon) classify(what string, status int, hdr http.Header, data []byte) error {
	msg := fmt.Sprintf("crowdstrike %s: %s answered %d %s%s", f.name, what, status, http.StatusText(status), f.vendorMessage(data))
	e := &apiError{status: status, msg: msg}
	switch {
	case status == http.StatusUnauthorized:
		e.auth = true
		e.msg += "; the API client's credentials were refused"
		return connectors.Permanent(e)
	case status == http.StatusForbidden:
		e.msg += "; the API client lacks the scope (Hosts: Read for lookups, Hosts: Write for containment)"
		return connectors.Permanent(e)
	case status == http.StatusTooManyRequests:
		return connectors.TemporaryAfter(e, f.retryAfter(hdr))
	case status >= 500 || status == http.StatusRequestTimeout:
		if d := f.retryAfter(hdr); d > 0 {
			return connectors.TemporaryAfter(e, d)
		}
		return connectors.Temporary(e)
	}
	return connectors.Permanent(e)
}

// retryAfter reads X-RateLimit-RetryAfter (Unix seconds, Falcon's header) or a plain
// Retry-After (seconds), rounded up to whole seconds with a floor of one.
func (f *Falcon) retryAfter(h http.Header) time.Duration {
	return RetryAfter(h.Get("X-RateLimit-RetryAfter"), h.Get("Retry-After"), f.clock.Now())
}

// RetryAfter computes the wait a throttled answer asks for: epoch is
// X-RateLimit-RetryAfter (Unix seconds), seconds a Retry-After value. Both absent or
// unreadable: 0. A present header never yields less than one second (the headers
// have one-second resolution) nor more than a day.
func RetryAfter(epoch, seconds string, now time.Time) time.Duration {
	var d time.Duration
	found := false
	if n, err := strconv.ParseInt(strings.TrimSpace(epoch), 10, 64); err == nil && n > 0 {
		found = true
		if nowUnix := now.Unix(); n > nowUnix {
			// uint64 keeps the difference exact whatever the two values are.
			if diff := uint64(n) - uint64(nowUnix); diff > 86400 {
				d = 24 * time.Hour
			} else {
				d = time.Duration(diff)*time.Second - time.Duration(now.Nanosecond())
			}
		}
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(seconds), 10, 64); err == nil && n >= 0 {
		found = true
		d = max(d, time.Duration(min(n, 86400))*time.Second)
	}
	if !found {
		return 0
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return min(max(d, time.Second), 24*time.Hour)
}

// vendorMessage renders Falcon's error messages (or the start of the body), printable
// and with secrets masked.
func (f *Falcon) vendorMessage(data []byte) string {
	var eb errorBody
	var parts []string
	if json.Unmarshal(data, &eb) == nil {
		for _, e := range eb.Errors {
			parts = append(parts, e.Message)
		}
	}
	s := strings.Join(parts, "; ")
	if s == "" {
		s = string(data)
	}
	s = vendorhttp.Truncate(strings.TrimSpace(vendorhttp.Mask(vendorhttp.Printable(s), f.allSecrets()...)), 200)
	if s == "" {
		return ""
	}
	return ": " + s
}

func (f *Falcon) allSecrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.masks)+1)
	for _, m := range append(f.masks, f.token.Current()) {
		if v := m.Reveal(); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// refreshMargin is how long before its expiry a token is replaced.
const refreshMargin = 60 * time.Second

// accessToken returns the cached token, or a new one when there is none, it is about
// to expire, or fresh is set (the API refused the cached one).
func (f *Falcon) accessToken(ctx context.Context, fresh bool) (connectors.Secret, error) {
	if tok, ok := f.token.Valid(f.clock.Now()); ok && !fresh {
		return tok, nil
	}
	form := url.Values{"client_id": {f.cfg.ClientID}, "client_secret": {f.secret.Reveal()}}
	if f.cfg.MemberCID != "" {
		form.Set("member_cid", f.cfg.MemberCID)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, f.api+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return connectors.Secret{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: building the token request: %w", f.name, err))
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-crowdstrike/1")
	status, hdr, data, err := f.do(ctx, hreq, "POST /oauth2/token")
	if err != nil {
		return connectors.Secret{}, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		err := f.classify("POST /oauth2/token", status, hdr, data)
		var ae *apiError
		if errors.As(err, &ae) && (status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusBadRequest) {
			ae.auth = true
			ae.msg = fmt.Sprintf("crowdstrike %s: %s refused the API client %s%s; check client_id and the client secret",
				f.name, f.host, f.cfg.ClientID, f.vendorMessage(data))
			return connectors.Secret{}, connectors.Permanent(ae)
		}
		return connectors.Secret{}, err
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &tr); err != nil || tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return connectors.Secret{}, connectors.Permanent(fmt.Errorf("crowdstrike %s: the token answer of %s has no access_token and expires_in", f.name, f.host))
	}
	tok := connectors.NewSecret(tr.AccessToken)
	f.token.Store(tok, time.Duration(tr.ExpiresIn)*time.Second, f.clock.Now())
	f.log.Debug("crowdstrike: token issued", "expires_in", tr.ExpiresIn)
	return tok, nil
}

// dropToken forgets tok if it is still the cached token.
func (f *Falcon) dropToken(tok connectors.Secret) { f.token.Drop(tok) }
