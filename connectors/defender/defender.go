// Package defender isolates hosts through Microsoft Defender for Endpoint: an Entra ID
// client-credentials token (cached, refreshed before it expires, renewed on 401),
// machine lookup by DNS name or last IP address, the machines/{id}/isolate and
// unisolate machine actions (Full or Selective), and verification by reading the
// machine's latest isolation action back from /api/machineactions.
package defender

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
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

func init() { connectors.Register("defender", factory) }

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

// Machine action types and statuses read from /api/machineactions.
const (
	TypeIsolate   = "Isolate"
	TypeUnisolate = "Unisolate"

	StatusPending    = "Pending"
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// Application permissions the connector needs.
const (
	RoleIsolate = "Machine.Isolate"
	RoleRead    = "Machine.Read.All"
	RoleRW      = "Machine.ReadWrite.All"
)

// Defender is a configured Defender for Endpoint API client.
type Defender struct {
	name     string
	cfg      Config
	api      string
	apiHost  string
	tokenURL string
	secret   connectors.Secret
	clock    clock.Clock
	log      *slog.Logger
	http     doer
	sim      *connectors.Simulation
	sleep    func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	token vendorhttp.TokenCache
}

var _ connectors.Connector = (*Defender)(nil)

// New returns a Defender connector for cfg, reading the client secret through env.
func New(cfg Config, env connectors.Env) (*Defender, error) {
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
	return newDefender(cfg, env, client)
}

func newDefender(cfg Config, env connectors.Env, client doer) (*Defender, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "defender"
	}
	secret, err := env.Secret("client_secret", cfg.ClientSecretEnv, cfg.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	api := strings.TrimRight(cfg.APIURL, "/")
	u, _ := url.Parse(api)
	d := &Defender{
		name: env.Name, cfg: cfg, api: api, apiHost: u.Host, secret: secret, clock: env.Clock,
		tokenURL: strings.TrimRight(cfg.LoginURL, "/") + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token",
		log:      env.Logger.With("connector", env.Name), http: client, sleep: connectors.Sleep,
	}
	d.token.Margin = refreshMargin
	if cfg.InsecureSkipVerify {
		d.log.Warn("defender: insecure_skip_verify is set: TLS certificates of the API and the login endpoint are not checked; use ca_file instead", "api", d.apiHost)
	}
	if cfg.DryRun || env.DryRun {
		d.sim = connectors.NewSimulation(env.Clock)
	}
	return d, nil
}

// Name implements connectors.Connector.
func (d *Defender) Name() string { return d.name }

// Capabilities returns isolate_host and release_host.
func (d *Defender) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.IsolateHost, connectors.ReleaseHost}
}

// isolating reports whether the request (or its revert) isolates.
func isolating(k connectors.ActionKind, revert bool) bool {
	return (k == connectors.IsolateHost) != revert
}

// Execute isolates (isolate_host) or releases (release_host) the target machine. A
// machine already in, or on its way to, the requested state is left alone
// (Changed=false).
func (d *Defender) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(d, req); err != nil {
		return connectors.Result{}, err
	}
	if d.sim != nil {
		diff, err := d.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return d.sim.Execute(req, diff), nil
	}
	return d.apply(ctx, req, isolating(req.Kind, false))
}

// Revert undoes Execute: releases the machine of an isolate_host request, isolates it
// again for a release_host request. Reverting what is not in place is a no-op.
func (d *Defender) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(d, req); err != nil {
		return connectors.Result{}, err
	}
	iso := isolating(req.Kind, true)
	if d.sim != nil {
		return d.sim.Revert(req, connectors.Diff{Changes: []string{fmt.Sprintf("%s machine %s (revert)", opName(iso), req.Target)}}), nil
	}
	return d.apply(ctx, req, iso)
}

func opName(iso bool) string {
	if iso {
		return "isolate"
	}
	return "unisolate"
}

// State is a machine's isolation as its machine actions tell it.
type State struct {
	Isolated bool          // the latest effective action is an Isolate
	Pending  bool          // that action is Pending or InProgress
	Latest   MachineAction // that action (zero when the machine was never isolated)
	Failed   MachineAction // a later action that failed or was cancelled, if any
}

func (s State) holds(iso bool) bool { return s.Isolated == iso }

func (s State) String() string {
	var b strings.Builder
	switch {
	case s.Latest.ID == "":
		b.WriteString("never isolated")
	case s.Pending:
		fmt.Fprintf(&b, "%s %s is %s", s.Latest.Type, s.Latest.ID, s.Latest.Status)
	case s.Isolated:
		fmt.Fprintf(&b, "isolated (%s %s %s)", s.Latest.Type, s.Latest.ID, s.Latest.Status)
	default:
		fmt.Fprintf(&b, "not isolated (%s %s %s)", s.Latest.Type, s.Latest.ID, s.Latest.Status)
	}
	if s.Failed.ID != "" {
		fmt.Fprintf(&b, "; a later %s %s ended %s", s.Failed.Type, s.Failed.ID, s.Failed.Status)
	}
	return b.String()
}

// MachineAction is what the connector reads of a machine action.
type MachineAction struct {
	ID               string `json:"id"`
	Type             string `json:"type"`
	Scope            string `json:"scope"`
	Status           string `json:"status"`
	MachineID        string `json:"machineId"`
	CreationDateTime string `json:"creationDateTimeUtc"`
	RequestorComment string `json:"requestorComment"`
}

// Machine is what the connector reads of a machine.
type Machine struct {
	ID              string `json:"id"`
	ComputerDNSName string `json:"computerDnsName"`
	LastIPAddress   string `json:"lastIpAddress"`
	HealthStatus    string `json:"healthStatus"`
}

func (d *Defender) apply(ctx context.Context, req connectors.Request, iso bool) (connectors.Result, error) {
	m, err := d.lookup(ctx, req.Target)
	if err != nil {
		return connectors.Result{}, err
	}
	st, err := d.state(ctx, m.ID)
	if err != nil {
		return connectors.Result{}, err
	}
	if st.holds(iso) {
		return connectors.Result{Reference: st.Latest.ID, Detail: fmt.Sprintf("machine %s (%s) is already %s; nothing sent", m.ComputerDNSName, m.ID, st)}, nil
	}
	body := map[string]string{"Comment": comment(d.name, req, iso)}
	if iso {
		body["IsolationType"] = d.cfg.IsolationType
	}
	raw, _ := json.Marshal(body)
	var act MachineAction
	_, err = d.call(ctx, http.MethodPost, "/api/machines/"+url.PathEscape(m.ID)+"/"+opName(iso), "", raw, &act)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.code == "ActiveRequestAlreadyExists" {
			// Defender refuses a second action while one is in progress: report the
			// pending one if it asks for the same.
			if st2, serr := d.state(ctx, m.ID); serr == nil && st2.holds(iso) {
				return connectors.Result{Reference: st2.Latest.ID, Detail: fmt.Sprintf("machine %s (%s) is already %s", m.ComputerDNSName, m.ID, st2)}, nil
			}
		}
		return connectors.Result{}, err
	}
	d.log.Info("defender: machine action accepted", "action", opName(iso), "machine", m.ID, "host", m.ComputerDNSName, "machine_action", act.ID, "request", req.ActionID)
	detail := fmt.Sprintf("Defender accepted %s of machine %s (%s): machine action %s %s", opName(iso), m.ComputerDNSName, m.ID, act.ID, act.Status)
	if iso {
		detail += ", " + d.cfg.IsolationType + " isolation"
	}
	return connectors.Result{Changed: true, Reference: act.ID, Detail: detail}, nil
}

// comment is the Comment Defender records with the machine action.
func comment(name string, req connectors.Request, iso bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "warroom %s: %s %s", name, opName(iso), req.Target)
	if inc := req.Params["incident"]; inc != "" {
		fmt.Fprintf(&b, " for incident %s", inc)
	}
	if req.ActionID != "" {
		fmt.Fprintf(&b, " (action %s)", req.ActionID)
	}
	s := b.String()
	if len(s) > 1000 {
		s = s[:1000]
	}
	return s
}

// Verify reads the machine's latest isolation action back. While it is pending it
// polls for up to settle_timeout; an action still pending then is reported as not in
// place.
func (d *Defender) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(d, req); err != nil {
		return connectors.Verification{}, err
	}
	if d.sim != nil {
		return d.sim.Verify(req), nil
	}
	iso := isolating(req.Kind, false)
	m, err := d.lookup(ctx, req.Target)
	if err != nil {
		return connectors.Verification{}, err
	}
	st, err := d.state(ctx, m.ID)
	if err != nil {
		return connectors.Verification{}, err
	}
	deadline := d.clock.Now().Add(d.cfg.SettleTimeout)
	for st.Pending && d.clock.Now().Before(deadline) {
		if err := d.sleep(ctx, d.cfg.PollInterval); err != nil {
			return connectors.Verification{}, connectors.Temporary(fmt.Errorf("defender %s: waiting for machine action %s: %w", d.name, st.Latest.ID, err))
		}
		if st, err = d.state(ctx, m.ID); err != nil {
			return connectors.Verification{}, err
		}
	}
	v := connectors.Verification{Observed: true, CheckedAt: d.clock.Now(), InPlace: st.holds(iso) && !st.Pending}
	switch {
	case st.Pending && st.holds(iso):
		v.Detail = fmt.Sprintf("Defender reports machine %s (%s): %s after %s; the device has not confirmed yet", m.ComputerDNSName, m.ID, st, connectors.FormatDuration(d.cfg.SettleTimeout))
	default:
		v.Detail = fmt.Sprintf("Defender reports machine %s (%s) %s", m.ComputerDNSName, m.ID, st)
	}
	return v, nil
}

// Preview describes the action without calling the API.
func (d *Defender) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(d, req); err != nil {
		return connectors.Diff{}, err
	}
	iso := isolating(req.Kind, false)
	by := "computerDnsName"
	if _, ip := targetIP(req.Target); ip {
		by = "lastIpAddress"
	}
	line := fmt.Sprintf("%s machine %s on Defender for Endpoint (%s): look it up by %s, POST machines/{id}/%s unless its latest action already asks for it",
		opName(iso), req.Target, d.apiHost, by, opName(iso))
	if iso {
		line += ", IsolationType " + d.cfg.IsolationType
	}
	return connectors.Diff{Changes: []string{line}}, nil
}

// Ready gets a token (authenticated), checks the token's application roles hold
// Machine.Isolate and lists one machine (reachable, permitted to read machines).
func (d *Defender) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{}
	suffix := ""
	if d.sim != nil {
		suffix = "; dry run"
	}
	_, err := d.call(ctx, http.MethodGet, "/api/machines", "$top=1", nil, nil)
	var ae *apiError
	switch {
	case err == nil:
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Passed
	case errors.As(err, &ae) && ae.auth:
		r.Reachable, r.Authenticated, r.Message = connectors.Passed, connectors.Failed, err.Error()+suffix
		return r
	case errors.As(err, &ae) && ae.status == http.StatusForbidden:
		r.Reachable, r.Authenticated, r.Permitted, r.Message = connectors.Passed, connectors.Passed, connectors.Failed, err.Error()+suffix
		return r
	case errors.As(err, &ae):
		r.Reachable, r.Message = connectors.Passed, err.Error()+suffix
		return r
	default:
		r.Reachable, r.Message = connectors.Failed, err.Error()+suffix
		return r
	}
	tok := d.token.Current()
	roles, ok := TokenRoles(tok.Reveal())
	switch {
	case !ok:
		r.Permitted = connectors.Passed
		r.Message = fmt.Sprintf("%s lists machines; the token's roles are unreadable, so Machine.Isolate is checked when an action runs%s", d.apiHost, suffix)
	case !hasRole(roles, RoleIsolate):
		r.Permitted = connectors.Failed
		r.Message = fmt.Sprintf("the app registration lacks the %s application permission (token roles: %s); grant it with admin consent%s",
			RoleIsolate, strings.Join(roles, ", "), suffix)
	default:
		r.Permitted = connectors.Passed
		r.Message = fmt.Sprintf("%s lists machines; the token holds %s%s", d.apiHost, RoleIsolate, suffix)
	}
	return r
}

func hasRole(roles []string, want string) bool {
	for _, r := range roles {
		if r == want {
			return true
		}
	}
	return false
}

// TokenRoles reads the "roles" claim of a JWT access token without verifying it (the
// token came from the identity provider over TLS; the API verifies it). ok is false
// for a token that is not a readable JWT.
func TokenRoles(token string) (roles []string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return nil, false
	}
	return claims.Roles, true
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

// odata renders a $filter query with spaces as %20.
func odata(filter string) string {
	return "$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
}

// lookup finds the one machine the target names: by lastIpAddress for an address, by
// computerDnsName otherwise (a bare name also matches name.<domain>). When several
// match, the only one with healthStatus Active wins; otherwise it is a permanent
// error: isolating the wrong machine is worse than isolating none.
func (d *Defender) lookup(ctx context.Context, t connectors.Target) (Machine, error) {
	var filters []string
	if a, ok := targetIP(t); ok {
		filters = []string{fmt.Sprintf("lastIpAddress eq '%s'", a.Unmap())}
	} else if t.IsIP() {
		return Machine{}, connectors.Permanent(fmt.Errorf("defender %s: target %s is a network, not a host; give a host name or one address", d.name, t))
	} else {
		h := strings.ToLower(strings.TrimSuffix(t.Host, "."))
		if strings.ContainsAny(h, `'\`) {
			return Machine{}, connectors.Permanent(fmt.Errorf("defender %s: host name %q contains a quote or backslash", d.name, h))
		}
		filters = []string{fmt.Sprintf("computerDnsName eq '%s'", h)}
		if !strings.Contains(h, ".") {
			filters = append(filters, fmt.Sprintf("startswith(computerDnsName,'%s.')", h))
		}
	}
	var found []Machine
	for _, f := range filters {
		var out struct {
			Value []Machine `json:"value"`
		}
		if _, err := d.call(ctx, http.MethodGet, "/api/machines", odata(f), nil, &out); err != nil {
			return Machine{}, err
		}
		if found = out.Value; len(found) > 0 {
			break
		}
	}
	if len(found) > 1 {
		var active []Machine
		for _, m := range found {
			if m.HealthStatus == "Active" {
				active = append(active, m)
			}
		}
		if len(active) == 1 {
			found = active
		}
	}
	switch len(found) {
	case 0:
		return Machine{}, connectors.Permanent(fmt.Errorf("defender %s: no machine matches %s", d.name, strings.Join(filters, " or ")))
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, m := range found {
		ids[i] = m.ID + " " + m.ComputerDNSName
	}
	return Machine{}, connectors.Permanent(fmt.Errorf("defender %s: %d machines match %s (%s); refusing to guess, isolate by a more specific name",
		d.name, len(found), filters[0], strings.Join(ids, ", ")))
}

// state reads the machine's isolation from its machine actions: the latest Isolate or
// Unisolate action that did not fail decides it.
func (d *Defender) state(ctx context.Context, machineID string) (State, error) {
	var out struct {
		Value []MachineAction `json:"value"`
	}
	if _, err := d.call(ctx, http.MethodGet, "/api/machineactions", odata(fmt.Sprintf("machineId eq '%s'", machineID)), nil, &out); err != nil {
		return State{}, err
	}
	return StateOf(out.Value), nil
}

// StateOf derives a machine's isolation from its machine actions (any order).
func StateOf(actions []MachineAction) State {
	var iso []MachineAction
	for _, a := range actions {
		if a.Type == TypeIsolate || a.Type == TypeUnisolate {
			iso = append(iso, a)
		}
	}
	sort.SliceStable(iso, func(i, j int) bool { return actionTime(iso[i]).Before(actionTime(iso[j])) })
	var st State
	for _, a := range iso {
		switch a.Status {
		case StatusPending, StatusInProgress, StatusSucceeded:
			st.Latest, st.Failed = a, MachineAction{}
			st.Isolated = a.Type == TypeIsolate
			st.Pending = a.Status != StatusSucceeded
		default: // Failed, TimeOut, Cancelled: nothing changed
			st.Failed = a
		}
	}
	return st
}

func actionTime(a MachineAction) time.Time {
	t, err := time.Parse(time.RFC3339Nano, a.CreationDateTime)
	if err != nil {
		// Defender writes UTC without a zone designator at times.
		t, _ = time.Parse("2006-01-02T15:04:05.9999999", a.CreationDateTime)
	}
	return t
}

// apiError is a non-2xx answer. auth marks refused credentials; code is Defender's
// error code.
type apiError struct {
	status int
	auth   bool
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// call sends one API request with a bearer token, logs in again once on a 401 and
// decodes a 2xx body into out (when not nil). Errors are classified.
func (d *Defender) call(ctx context.Context, method, path, rawQuery string, body []byte, out any) (int, error) {
	for attempt := 0; ; attempt++ {
		tok, err := d.accessToken(ctx, attempt > 0)
		if err != nil {
			return 0, err
		}
		u := d.api + path
		if rawQuery != "" {
			u += "?" + rawQuery
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return 0, connectors.Permanent(fmt.Errorf("defender %s: building %s %s: %w", d.name, method, path, err))
		}
		hreq.Header.Set("Accept", "application/json")
		hreq.Header.Set("User-Agent", "warroom-defender/1")
		if body != nil {
			hreq.Header.Set("Content-Type", "application/json")
		}
		hreq.Header.Set("Authorization", "Bearer "+tok.Reveal())
		status, hdr, data, err := d.do(ctx, hreq, method+" "+path, d.apiHost)
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			d.log.Debug("defender: token refused, logging in again", "path", path)
			d.dropToken(tok)
			continue
		}
		if status >= 200 && status < 300 {
			if out != nil {
				if err := json.Unmarshal(data, out); err != nil {
					return status, connectors.Permanent(fmt.Errorf("defender %s: %s %s: undecodable answer: %w", d.name, method, path, err))
				}
			}
			return status, nil
		}
		return status, d.classify(method+" "+path, status, hdr, data)
	}
}

// do runs one HTTP exchange and reads the body (up to 1 MiB).
func (d *Defender) do(ctx context.Context, hreq *http.Request, what, host string) (int, http.Header, []byte, error) {
	resp, err := d.http.Do(hreq)
	if err != nil {
		return 0, nil, nil, d.transportError(ctx, what, host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, d.transportError(ctx, what, host, err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func (d *Defender) transportError(ctx context.Context, what, host string, err error) error {
	err, cert := vendorhttp.TransportCause(ctx, err)
	if cert {
		return connectors.Permanent(fmt.Errorf("defender %s: %s: the TLS certificate of %s is not trusted (%w); set ca_file to the issuing CA", d.name, what, host, err))
	}
	return connectors.Temporary(fmt.Errorf("defender %s: %s on %s: %w", d.name, what, host, err))
}

// classify turns a non-2xx API answer into a classified error carrying Defender's
// {"error": {"code", "message"}}.
func (d *Defender) classify(what string, status int, hdr http.Header, data []byte) error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	vendor := ""
	if json.Unmarshal(data, &eb) == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		vendor = strings.Trim(eb.Error.Code+": "+eb.Error.Message, ": ")
	} else {
		vendor = string(data)
	}
	e := &apiError{status: status, code: eb.Error.Code,
		msg: fmt.Sprintf("defender %s: %s answered %d %s%s", d.name, what, status, http.StatusText(status), d.mask(vendor))}
	switch {
	case status == http.StatusUnauthorized:
		e.auth = true
		e.msg += "; the app's token was refused"
		return connectors.Permanent(e)
	case status == http.StatusForbidden:
		e.msg += "; the app registration lacks the application permission (Machine.Read.All to look machines up, Machine.Isolate to isolate)"
		return connectors.Permanent(e)
	case status == http.StatusTooManyRequests:
		return connectors.TemporaryAfter(e, RetryAfter(hdr.Get("Retry-After"), d.clock.Now()))
	case status >= 500 || status == http.StatusRequestTimeout:
		if ra := RetryAfter(hdr.Get("Retry-After"), d.clock.Now()); ra > 0 {
			return connectors.TemporaryAfter(e, ra)
		}
		return connectors.Temporary(e)
	}
	return connectors.Permanent(e)
}

// RetryAfter reads a Retry-After header (delay-seconds or an HTTP date), rounded up to
// whole seconds with a floor of one and a cap of a day; 0 when absent or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		d = time.Duration(min(n, 86400)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		if !t.After(now) {
			return time.Second
		}
		if t.Sub(now) > 24*time.Hour {
			return 24 * time.Hour
		}
		d = t.Sub(now)
	} else {
		return 0
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return min(max(d, time.Second), 24*time.Hour)
}

// mask renders a vendor message printable, short and with secrets masked.
func (d *Defender) mask(s string) string {
	d.mu.Lock()
	secrets := []string{d.secret.Reveal(), d.token.Current().Reveal()}
	d.mu.Unlock()
	s = vendorhttp.Truncate(strings.TrimSpace(vendorhttp.Mask(vendorhttp.Printable(s), secrets...)), 240)
	if s == "" {
		return ""
	}
	return ": " + s
}

// refreshMargin is how long before its expiry a token is replaced.
const refreshMargin = 5 * time.Minute

// accessToken returns the cached token, or a new one from Entra ID when there is none,
// it is about to expire, or fresh is set (the API refused the cached one).
func (d *Defender) accessToken(ctx context.Context, fresh bool) (connectors.Secret, error) {
	if tok, ok := d.token.Valid(d.clock.Now()); ok && !fresh {
		return tok, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {d.cfg.ClientID},
		"client_secret": {d.secret.Reveal()}, "scope": {d.cfg.Scope}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, d.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return connectors.Secret{}, connectors.Permanent(fmt.Errorf("defender %s: building the token request: %w", d.name, err))
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-defender/1")
	loginHost := hreq.URL.Host
	status, hdr, data, err := d.do(ctx, hreq, "POST /"+d.cfg.TenantID+"/oauth2/v2.0/token", loginHost)
	if err != nil {
		return connectors.Secret{}, err
	}
	if status != http.StatusOK {
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		vendor := string(data)
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			desc, _, _ := strings.Cut(eb.Description, "\r\n") // the first line names the AADSTS code and cause
			vendor = eb.Error + ": " + desc
		}
		e := &apiError{status: status, code: eb.Error,
			msg: fmt.Sprintf("defender %s: %s answered %d %s to the token request of app %s%s", d.name, loginHost, status, http.StatusText(status), d.cfg.ClientID, d.mask(vendor))}
		switch {
		case status == http.StatusTooManyRequests:
			return connectors.Secret{}, connectors.TemporaryAfter(e, RetryAfter(hdr.Get("Retry-After"), d.clock.Now()))
		case status >= 500:
			return connectors.Secret{}, connectors.Temporary(e)
		}
		e.auth = true
		e.msg += "; check tenant_id, client_id, the client secret and scope"
		return connectors.Secret{}, connectors.Permanent(e)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"` // a number, or a string in v1 answers
	}
	var secs int64
	if err := json.Unmarshal(data, &tr); err == nil {
		secs, _ = strconv.ParseInt(strings.Trim(string(tr.ExpiresIn), `"`), 10, 64)
	}
	if tr.AccessToken == "" || secs <= 0 {
		return connectors.Secret{}, connectors.Permanent(fmt.Errorf("defender %s: the token answer of %s has no access_token and expires_in", d.name, loginHost))
	}
	tok := connectors.NewSecret(tr.AccessToken)
	d.token.Store(tok, time.Duration(secs)*time.Second, d.clock.Now())
	d.log.Debug("defender: token issued", "expires_in", secs)
	return tok, nil
}

// dropToken forgets tok if it is still the cached token.
func (d *Defender) dropToken(tok connectors.Secret) { d.token.Drop(tok) }
