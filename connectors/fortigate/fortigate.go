// Package fortigate blocks addresses on Fortinet FortiGate firewalls through the
// FortiOS REST API. In ban mode a block puts the address on the quarantine (banned
// users) list with the action's TTL as its expiry (POST
// monitor/user/banned/add_users), an unblock clears it (clear_users), and Verify
// reads the list back (GET monitor/user/banned). In address_group mode a block
// creates an address object and adds it to an address group a deny policy uses
// (cmdb/firewall/address, addrgrp members). Authentication is a REST API
// administrator's token (Authorization: Bearer), scoped to one VDOM.
package fortigate

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
	"time"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("fortigate", factory) }

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

// FortiGate is a configured FortiGate (one VDOM).
type FortiGate struct {
	name     string
	cfg      Config
	base     string // <url>/api/v2/
	endpoint string // for messages
	token    connectors.Secret
	clock    clock.Clock
	log      *slog.Logger
	http     doer
	sim      *connectors.Simulation
}

var _ connectors.Connector = (*FortiGate)(nil)

// New returns the FortiGate described by cfg, reading its token and CA bundle
// through env.
func New(cfg Config, env connectors.Env) (*FortiGate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("fortigate", "the FortiGate", vendorhttp.Endpoint{
		URL: cfg.URL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newFortiGate(cfg, env, client)
}

func newFortiGate(cfg Config, env connectors.Env, client doer) (*FortiGate, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "fortigate"
	}
	base := strings.TrimRight(cfg.URL, "/")
	g := &FortiGate{name: env.Name, cfg: cfg, base: base + "/api/v2/", endpoint: vendorhttp.RedactURL(base),
		clock: env.Clock, log: env.Logger.With("connector", env.Name), http: client}
	var err error
	if g.token, err = env.Secret("token", cfg.TokenEnv, cfg.TokenFile); err != nil {
		return nil, err
	}
	if cfg.DryRun || env.DryRun {
		g.sim = connectors.NewSimulation(env.Clock)
	}
	return g, nil
}

// Name implements connectors.Connector.
func (g *FortiGate) Name() string { return g.name }

// Capabilities: block_ip and unblock_ip.
func (g *FortiGate) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

func (g *FortiGate) check(req connectors.Request) (netip.Addr, error) {
	if err := connectors.CheckRequest(g, req); err != nil {
		return netip.Addr{}, err
	}
	p := req.Target.Prefix
	if g.cfg.Mode == ModeAddressGroup {
		if g.groupFor(p) == "" {
			return netip.Addr{}, connectors.Permanent(fmt.Errorf("fortigate %s: %s: no group6 is configured for IPv6 targets", g.name, p))
		}
		return p.Addr(), nil
	}
	if !p.IsSingleIP() {
		return netip.Addr{}, connectors.Permanent(fmt.Errorf("fortigate %s: %s: the quarantine list holds single addresses (/32 or /128), not networks; use mode: address_group for networks", g.name, p))
	}
	return p.Addr(), nil
}

func expirySeconds(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0 // FortiOS: 0 bans indefinitely
	}
	return int64((ttl + time.Second - 1) / time.Second)
}

// Execute bans (block_ip) or clears (unblock_ip) the address, or in address_group
// mode adds its object to the group or takes it out. A state that already holds is
// left alone (Changed=false): a repeat makes no change on the FortiGate.
func (g *FortiGate) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	addr, err := g.check(req)
	if err != nil {
		return connectors.Result{}, err
	}
	if g.sim != nil {
		d, err := g.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return g.sim.Execute(req, d), nil
	}
	if g.cfg.Mode == ModeAddressGroup {
		if req.Kind == connectors.BlockIP {
			return g.join(ctx, req)
		}
		return g.leave(ctx, req.Target.Prefix)
	}
	if req.Kind == connectors.BlockIP {
		return g.ban(ctx, req, addr)
	}
	return g.clear(ctx, addr)
}

// Revert undoes Execute: a ban (or membership) is lifted; an unblock blocks the
// address again (for req.TTL in ban mode).
func (g *FortiGate) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	addr, err := g.check(req)
	if err != nil {
		return connectors.Result{}, err
	}
	if g.sim != nil {
		return g.sim.Revert(req, connectors.Diff{Changes: []string{g.describe(req, addr, true)}}), nil
	}
	if g.cfg.Mode == ModeAddressGroup {
		if req.Kind == connectors.BlockIP {
			return g.leave(ctx, req.Target.Prefix)
		}
		return g.join(ctx, req)
	}
	if req.Kind == connectors.BlockIP {
		return g.clear(ctx, addr)
	}
	return g.ban(ctx, req, addr)
}

func (g *FortiGate) reference() string { return "vdom " + g.cfg.VDOM + " quarantine" }

func (g *FortiGate) ban(ctx context.Context, req connectors.Request, addr netip.Addr) (connectors.Result, error) {
	res := connectors.Result{Reference: g.reference()}
	present, exp, err := g.banned(ctx, addr)
	if err != nil {
		return connectors.Result{}, err
	}
	if present {
		res.ExpiresAt = exp
		res.Detail = fmt.Sprintf("%s is already quarantined in vdom %s", addr, g.cfg.VDOM)
		return res, nil
	}
	secs := expirySeconds(req.TTL)
	body := addUsers{IPAddresses: []string{addr.String()}, Expiry: &secs}
	if _, err := g.do(ctx, http.MethodPost, "monitor/user/banned/add_users", body, "add_users"); err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("quarantined %s in vdom %s", addr, g.cfg.VDOM)
	if secs > 0 {
		res.Detail += ", expiry " + connectors.FormatDuration(time.Duration(secs)*time.Second)
		res.ExpiresAt = g.clock.Now().Add(time.Duration(secs) * time.Second)
	} else {
		res.Detail += ", no expiry"
	}
	g.log.Info("fortigate: banned", "address", addr.String(), "vdom", g.cfg.VDOM, "expiry_s", secs, "action", req.ActionID)
	return res, nil
}

func (g *FortiGate) clear(ctx context.Context, addr netip.Addr) (connectors.Result, error) {
	res := connectors.Result{Reference: g.reference()}
	present, _, err := g.banned(ctx, addr)
	if err != nil {
		return connectors.Result{}, err
	}
	if !present {
		res.Detail = fmt.Sprintf("%s is not quarantined in vdom %s", addr, g.cfg.VDOM)
		return res, nil
	}
	if _, err := g.do(ctx, http.MethodPost, "monitor/user/banned/clear_users", clearUsers{IPAddresses: []string{addr.String()}}, "clear_users"); err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("cleared %s from the quarantine in vdom %s", addr, g.cfg.VDOM)
	g.log.Info("fortigate: cleared", "address", addr.String(), "vdom", g.cfg.VDOM)
	return res, nil
}

// Verify reads the quarantine list (or the group's members) back from the
// FortiGate.
func (g *FortiGate) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	addr, err := g.check(req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if g.sim != nil {
		return g.sim.Verify(req), nil
	}
	if g.cfg.Mode == ModeAddressGroup {
		return g.verifyGroup(ctx, req)
	}
	present, exp, err := g.banned(ctx, addr)
	if err != nil {
		return connectors.Verification{}, err
	}
	now := g.clock.Now()
	v := connectors.Verification{Observed: true, CheckedAt: now, InPlace: present == (req.Kind == connectors.BlockIP), ExpiresAt: exp}
	switch {
	case present && !exp.IsZero():
		v.Detail = fmt.Sprintf("%s is quarantined in vdom %s until %s", addr, g.cfg.VDOM, exp.UTC().Format(time.RFC3339))
	case present:
		v.Detail = fmt.Sprintf("%s is quarantined in vdom %s, no expiry", addr, g.cfg.VDOM)
	default:
		v.Detail = fmt.Sprintf("%s is not quarantined in vdom %s", addr, g.cfg.VDOM)
	}
	return v, nil
}

// Preview describes the change, e.g. "quarantine 203.0.113.7 in vdom root, expiry
// 24h".
func (g *FortiGate) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	addr, err := g.check(req)
	if err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{g.describe(req, addr, false)}}, nil
}

func (g *FortiGate) describe(req connectors.Request, addr netip.Addr, revert bool) string {
	if g.cfg.Mode == ModeAddressGroup {
		return g.describeGroup(req, revert)
	}
	if (req.Kind == connectors.BlockIP) == revert {
		return fmt.Sprintf("clear %s from the quarantine in vdom %s (%s)", addr, g.cfg.VDOM, g.endpoint)
	}
	s := fmt.Sprintf("quarantine %s in vdom %s (%s)", addr, g.cfg.VDOM, g.endpoint)
	if secs := expirySeconds(req.TTL); secs > 0 {
		s += ", expiry " + connectors.FormatDuration(time.Duration(secs)*time.Second)
	} else {
		s += ", no expiry"
	}
	return s
}

// Ready reads the quarantine list (address_group mode: the groups): the token must
// be accepted (401 otherwise), the administrator profile must grant access in the
// VDOM (403 otherwise) and the groups must exist. Whether the profile may also change
// them is only known when an action runs.
func (g *FortiGate) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{}
	if g.sim != nil {
		r.Message = "dry run: the FortiGate is not contacted"
		return r
	}
	var body []byte
	var err error
	if g.cfg.Mode == ModeAddressGroup {
		var groups []string
		for _, grp := range []struct{ table, name string }{{"addrgrp", g.cfg.Group}, {"addrgrp6", g.cfg.Group6}} {
			if grp.name == "" {
				continue
			}
			if _, err = g.members(ctx, grp.table, grp.name); err != nil {
				break
			}
			groups = append(groups, grp.table+" "+grp.name)
		}
		if err == nil {
			r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Passed
			r.Message = fmt.Sprintf("%s answers; %s readable in vdom %s; changing them is checked when an action runs", g.endpoint, strings.Join(groups, " and "), g.cfg.VDOM)
			return r
		}
	} else {
		body, err = g.do(ctx, http.MethodGet, "monitor/user/banned", nil, "list banned")
	}
	var se *statusError
	var te *transportError
	switch {
	case err == nil:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Passed
		n := 0
		if list, err := parseBanned(body); err == nil {
			n = len(list)
		}
		r.Message = fmt.Sprintf("%s answers; the quarantine in vdom %s is readable (%d entries); changing it is checked when an action runs", g.endpoint, g.cfg.VDOM, n)
	case errors.As(err, &se) && se.status == http.StatusNotFound:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error() + "; create the address group (with a placeholder member) first"
	case errors.As(err, &te):
		r.Reachable = connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &se) && se.status == http.StatusUnauthorized:
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &se) && se.status == http.StatusForbidden:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error() + "; check the administrator profile (User & Device), its trusted hosts and the vdom"
	default:
		r.Reachable = connectors.Passed
		r.Message = err.Error()
		if !connectors.Retryable(err) {
			r.Authenticated, r.Permitted = connectors.Passed, connectors.Failed
		}
	}
	return r
}

// banned looks addr up in the quarantine list and returns its expiry (zero: none).
func (g *FortiGate) banned(ctx context.Context, addr netip.Addr) (bool, time.Time, error) {
	body, err := g.do(ctx, http.MethodGet, "monitor/user/banned", nil, "list banned")
	if err != nil {
		return false, time.Time{}, err
	}
	list, err := parseBanned(body)
	if err != nil {
		return false, time.Time{}, connectors.Permanent(fmt.Errorf("fortigate %s: reading the quarantine list from %s: %w", g.name, g.endpoint, err))
	}
	now := g.clock.Now()
	for _, b := range list {
		a, err := netip.ParseAddr(b.IPAddress)
		if err != nil || a.Unmap() != addr.Unmap() {
			continue
		}
		var exp time.Time
		if b.Expires > 0 {
			exp = time.Unix(b.Expires, 0)
			if !exp.After(now) {
				continue // lapsed; FortiOS drops it on its next sweep
			}
		}
		return true, exp, nil
	}
	return false, time.Time{}, nil
}

// banEntry is one entry of GET monitor/user/banned.
type banEntry struct {
	IPAddress string `json:"ip_address"`
	IPv6      bool   `json:"ipv6"`
	Created   int64  `json:"created"`
	Expires   int64  `json:"expires"`
	Source    string `json:"source"`
}

type envelope struct {
	Status     string          `json:"status"`
	HTTPStatus int             `json:"http_status"`
	Results    json.RawMessage `json:"results"`
	Error      json.RawMessage `json:"error"`
}

// parseBanned reads the results of GET monitor/user/banned.
func parseBanned(body []byte) ([]banEntry, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("status %q", env.Status)
	}
	var list []banEntry
	if len(env.Results) == 0 || string(env.Results) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(env.Results, &list); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return list, nil
}

type addUsers struct {
	IPAddresses []string `json:"ip_addresses"`
	Expiry      *int64   `json:"expiry,omitempty"`
}

type clearUsers struct {
	IPAddresses []string `json:"ip_addresses"`
}

// statusError is a non-2xx answer.
type statusError struct {
	status int
	code   int // FortiOS's "error" number (negative), if the answer carried one
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// do sends one request to /api/v2/<path>?vdom=<vdom> and classifies the outcome:
// 401 and 403 and other 4xx are permanent; 429 and 503 honour Retry-After; other 5xx,
// 408 and transport errors are retryable.
func (g *FortiGate) do(ctx context.Context, method, path string, body any, what string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, connectors.Permanent(fmt.Errorf("fortigate %s: encoding %s: %w", g.name, what, err))
		}
		rd = bytes.NewReader(b)
	}
	u := g.base + path + "?" + url.Values{"vdom": {g.cfg.VDOM}}.Encode()
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("fortigate %s: building the %s request: %w", g.name, what, err))
	}
	hreq.Header.Set("Authorization", "Bearer "+g.token.Reveal())
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-fortigate/1")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	prefix := fmt.Sprintf("fortigate %s: %s /api/v2/%s (%s, vdom %s)", g.name, method, path, g.endpoint, g.cfg.VDOM)
	resp, err := g.http.Do(hreq)
	if err != nil {
		err, cert := vendorhttp.TransportCause(ctx, err)
		if cert {
			return nil, connectors.Permanent(&transportError{fmt.Errorf("%s: %w; set ca_file to the CA that signed the FortiGate's certificate", prefix, err)})
		}
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: %w", prefix, err)})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: reading the answer: %w", prefix, err)})
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up while the answer arrived: it may be cut short.
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: %w", prefix, cerr)})
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, connectors.Temporary(fmt.Errorf("%s answered %s with an empty body (cut short)", prefix, resp.Status))
		}
		var env envelope
		if err := json.Unmarshal(b, &env); err != nil || env.Status != "success" {
			return nil, connectors.Permanent(fmt.Errorf("%s answered %s without a FortiOS success envelope%s", prefix, resp.Status, g.snippet(b)))
		}
		return b, nil
	}
	herr := &statusError{status: resp.StatusCode, err: fmt.Errorf("%s answered %s%s", prefix, resp.Status, g.snippet(b))}
	var env envelope
	if json.Unmarshal(b, &env) == nil && len(env.Error) > 0 {
		herr.code, _ = strconv.Atoi(string(env.Error))
	}
	switch {
	case resp.StatusCode == http.StatusInternalServerError && herr.code < 0:
		// The CMDB reports configuration errors (duplicate entry, invalid value, entry
		// in use) as 500 with a negative error number: repeating cannot help.
		return nil, connectors.Permanent(herr)
	case vendorhttp.TemporaryStatus(resp.StatusCode):
		return nil, vendorhttp.Retryable(herr, resp.StatusCode, resp.Header, g.clock.Now())
	case resp.StatusCode == http.StatusUnauthorized:
		herr.err = fmt.Errorf("%w; the token was refused (revoked, or a REST API administrator's token is expected)", herr.err)
	case resp.StatusCode == http.StatusForbidden:
		herr.err = fmt.Errorf("%w; the administrator profile, trusted hosts or vdom do not allow this", herr.err)
	}
	return nil, connectors.Permanent(herr)
}

// snippet renders the start of an answer, printable, with the token masked.
func (g *FortiGate) snippet(b []byte) string { return vendorhttp.Snippet(b, g.token.Reveal()) }
