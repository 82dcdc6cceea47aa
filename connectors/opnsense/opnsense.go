// Package opnsense blocks addresses on OPNsense firewalls through the REST API: a
// block adds the address to a firewall alias (pf table) used in a block rule
// (POST /api/firewall/alias_util/add/<alias>), an unblock deletes it
// (alias_util/delete/<alias>), and Verify lists the alias's current content
// (GET alias_util/list/<alias>). Authentication is an API key and secret sent as
// HTTP basic authentication.
package opnsense

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
	"strings"

	"github.com/warroom/warroom/connectors"
	"github.com/warroom/warroom/connectors/vendorhttp"
	"github.com/warroom/warroom/internal/clock"
)

// Sample is an example configuration, documented key by key.
//
//go:embed sample.yaml
var Sample []byte

func init() { connectors.Register("opnsense", factory) }

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

// Firewall is a configured OPNsense firewall and alias.
type Firewall struct {
	name     string
	cfg      Config
	base     string // <url>/api/firewall/alias_util/
	endpoint string // for messages
	key      connectors.Secret
	secret   connectors.Secret
	clock    clock.Clock
	log      *slog.Logger
	http     doer
	sim      *connectors.Simulation
}

var _ connectors.Connector = (*Firewall)(nil)

// New returns the firewall described by cfg, reading its credentials and CA bundle
// through env.
func New(cfg Config, env connectors.Env) (*Firewall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("opnsense", "the firewall", vendorhttp.Endpoint{
		URL: cfg.URL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newFirewall(cfg, env, client)
}

func newFirewall(cfg Config, env connectors.Env, client doer) (*Firewall, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "opnsense"
	}
	base := strings.TrimRight(cfg.URL, "/")
	f := &Firewall{name: env.Name, cfg: cfg, base: base + "/api/firewall/alias_util/", endpoint: vendorhttp.RedactURL(base),
		clock: env.Clock, log: env.Logger.With("connector", env.Name), http: client}
	var err error
	if f.key, err = env.Secret("key", cfg.KeyEnv, cfg.KeyFile); err != nil {
		return nil, err
	}
	if f.secret, err = env.Secret("secret", cfg.SecretEnv, cfg.SecretFile); err != nil {
		return nil, err
	}
	if cfg.DryRun || env.DryRun {
		f.sim = connectors.NewSimulation(env.Clock)
	}
	return f, nil
}

// Name implements connectors.Connector.
func (f *Firewall) Name() string { return f.name }

// Capabilities: block_ip and unblock_ip.
func (f *Firewall) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// address renders a prefix the way pf lists table entries: a bare address for a
// single host, network/bits otherwise.
func address(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Execute adds (block_ip) or deletes (unblock_ip) the address in the alias. An
// address already present is left alone (Changed=false).
func (f *Firewall) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
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
	if req.Kind == connectors.BlockIP {
		return f.add(ctx, req)
	}
	return f.remove(ctx, req.Target.Prefix)
}

// Revert undoes Execute: a block's address is deleted; an unblock adds it again.
func (f *Firewall) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Result{}, err
	}
	if f.sim != nil {
		return f.sim.Revert(req, connectors.Diff{Changes: []string{f.describe(req, true)}}), nil
	}
	if req.Kind == connectors.BlockIP {
		return f.remove(ctx, req.Target.Prefix)
	}
	return f.add(ctx, req)
}

func (f *Firewall) reference() string { return "alias " + f.cfg.Alias }

func (f *Firewall) add(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	p := req.Target.Prefix
	res := connectors.Result{Reference: f.reference()}
	present, err := f.contains(ctx, p)
	if err != nil {
		return connectors.Result{}, err
	}
	if present {
		res.Detail = fmt.Sprintf("%s is already in alias %s", address(p), f.cfg.Alias)
		return res, nil
	}
	if err := f.change(ctx, "add", p); err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("added %s to alias %s", address(p), f.cfg.Alias)
	f.log.Info("opnsense: added", "address", address(p), "alias", f.cfg.Alias, "action", req.ActionID)
	return res, nil
}

func (f *Firewall) remove(ctx context.Context, p netip.Prefix) (connectors.Result, error) {
	res := connectors.Result{Reference: f.reference()}
	present, err := f.contains(ctx, p)
	if err != nil {
		return connectors.Result{}, err
	}
	if !present {
		res.Detail = fmt.Sprintf("%s is not in alias %s", address(p), f.cfg.Alias)
		return res, nil
	}
	if err := f.change(ctx, "delete", p); err != nil {
		return connectors.Result{}, err
	}
	res.Changed = true
	res.Detail = fmt.Sprintf("deleted %s from alias %s", address(p), f.cfg.Alias)
	f.log.Info("opnsense: deleted", "address", address(p), "alias", f.cfg.Alias)
	return res, nil
}

// Verify lists the alias's content on the firewall.
func (f *Firewall) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Verification{}, err
	}
	if f.sim != nil {
		return f.sim.Verify(req), nil
	}
	p := req.Target.Prefix
	present, err := f.contains(ctx, p)
	if err != nil {
		return connectors.Verification{}, err
	}
	v := connectors.Verification{Observed: true, CheckedAt: f.clock.Now(), InPlace: present == (req.Kind == connectors.BlockIP)}
	if present {
		v.Detail = fmt.Sprintf("%s is in alias %s", address(p), f.cfg.Alias)
	} else {
		v.Detail = fmt.Sprintf("%s is not in alias %s", address(p), f.cfg.Alias)
	}
	return v, nil
}

// Preview describes the change, e.g. "add 203.0.113.7 to alias warroom_block".
func (f *Firewall) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: []string{f.describe(req, false)}}, nil
}

func (f *Firewall) describe(req connectors.Request, revert bool) string {
	addr := address(req.Target.Prefix)
	if (req.Kind == connectors.BlockIP) == revert {
		return fmt.Sprintf("delete %s from alias %s (%s)", addr, f.cfg.Alias, f.endpoint)
	}
	s := fmt.Sprintf("add %s to alias %s (%s)", addr, f.cfg.Alias, f.endpoint)
	if req.TTL > 0 {
		s += "; OPNsense has no expiry, warroom deletes it after " + connectors.FormatDuration(req.TTL)
	}
	return s
}

// Ready lists the firewall's aliases: the key must be accepted (401 otherwise), its
// privileges must allow the alias utilities (403 otherwise) and the configured alias
// must exist. Whether adding to it works is only known when an action runs.
func (f *Firewall) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{}
	if f.sim != nil {
		r.Message = "dry run: the firewall is not contacted"
		return r
	}
	body, err := f.do(ctx, http.MethodGet, "aliases", nil, "list aliases")
	var se *statusError
	var te *transportError
	switch {
	case err == nil:
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Passed
		var names []string
		if jerr := json.Unmarshal(body, &names); jerr != nil {
			r.Permitted = connectors.Failed
			r.Message = fmt.Sprintf("%s answered the alias list with something else than a list of names: %v", f.endpoint, jerr)
			return r
		}
		for _, n := range names {
			if n == f.cfg.Alias {
				r.Permitted = connectors.Passed
				r.Message = fmt.Sprintf("%s answers; alias %s exists; adding to it is checked when an action runs", f.endpoint, f.cfg.Alias)
				return r
			}
		}
		r.Permitted = connectors.Failed
		r.Message = fmt.Sprintf("%s has no alias %s; create it as type External (advanced) and use it in a block rule", f.endpoint, f.cfg.Alias)
	case errors.As(err, &te):
		r.Reachable = connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &se) && se.status == http.StatusUnauthorized:
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &se) && se.status == http.StatusForbidden:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error()
	default:
		r.Reachable = connectors.Passed
		r.Message = err.Error()
		if !connectors.Retryable(err) {
			r.Authenticated, r.Permitted = connectors.Passed, connectors.Failed
		}
	}
	return r
}

// contains lists the alias and looks p up.
func (f *Firewall) contains(ctx context.Context, p netip.Prefix) (bool, error) {
	body, err := f.do(ctx, http.MethodGet, "list/"+url.PathEscape(f.cfg.Alias), nil, "list")
	if err != nil {
		return false, err
	}
	entries, err := parseList(body)
	if err != nil {
		return false, connectors.Permanent(fmt.Errorf("opnsense %s: listing alias %s at %s: %w", f.name, f.cfg.Alias, f.endpoint, err))
	}
	for _, e := range entries {
		if e == p {
			return true, nil
		}
	}
	return false, nil
}

// parseList reads the rows of alias_util/list: {"total", "rowCount", "current",
// "rows": [{"ip": "203.0.113.7"}, ...]}. Entries that are not addresses or networks
// are skipped; an answer without rows (an alias the firewall does not know) is an
// error.
func parseList(body []byte) ([]netip.Prefix, error) {
	var l struct {
		Status string `json:"status"`
		Rows   *[]struct {
			IP string `json:"ip"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, err
	}
	if l.Rows == nil {
		if l.Status != "" {
			return nil, fmt.Errorf("status %q: the alias does not exist or is not a table", l.Status)
		}
		return nil, errors.New("the answer has no rows")
	}
	out := make([]netip.Prefix, 0, len(*l.Rows))
	for _, r := range *l.Rows {
		s := strings.TrimSpace(r.IP)
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				continue
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, connectors.CanonicalPrefix(p))
	}
	return out, nil
}

// change posts {"address": ...} to alias_util/add or alias_util/delete.
func (f *Firewall) change(ctx context.Context, op string, p netip.Prefix) error {
	body, err := f.do(ctx, http.MethodPost, op+"/"+url.PathEscape(f.cfg.Alias), map[string]string{"address": address(p)}, op)
	if err != nil {
		return err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Status != "done" {
		return connectors.Permanent(fmt.Errorf("opnsense %s: %s %s in alias %s at %s: the firewall answered%s; check the alias exists and is a table (External (advanced)) alias",
			f.name, op, address(p), f.cfg.Alias, f.endpoint, f.snippet(body)))
	}
	return nil
}

// statusError is a non-2xx answer.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// do sends one request to /api/firewall/alias_util/<path> and classifies the
// outcome: 401, 403 and other 4xx are permanent; 429 and 503 honour Retry-After;
// other 5xx, 408 and transport errors are retryable.
func (f *Firewall) do(ctx context.Context, method, path string, body any, what string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, connectors.Permanent(fmt.Errorf("opnsense %s: encoding %s: %w", f.name, what, err))
		}
		rd = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, f.base+path, rd)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("opnsense %s: building the %s request: %w", f.name, what, err))
	}
	hreq.SetBasicAuth(f.key.Reveal(), f.secret.Reveal())
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-opnsense/1")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	prefix := fmt.Sprintf("opnsense %s: %s /api/firewall/alias_util/%s (%s)", f.name, method, path, f.endpoint)
	resp, err := f.http.Do(hreq)
	if err != nil {
		err, cert := vendorhttp.TransportCause(ctx, err)
		if cert {
			return nil, connectors.Permanent(&transportError{fmt.Errorf("%s: %w; set ca_file to the CA that signed the firewall's certificate", prefix, err)})
		}
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: %w", prefix, err)})
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
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
		return b, nil
	}
	herr := &statusError{status: resp.StatusCode, err: fmt.Errorf("%s answered %s%s", prefix, resp.Status, f.snippet(b))}
	switch {
	case vendorhttp.TemporaryStatus(resp.StatusCode):
		return nil, vendorhttp.Retryable(herr, resp.StatusCode, resp.Header, f.clock.Now())
	case resp.StatusCode == http.StatusUnauthorized:
		herr.err = fmt.Errorf("%w; the API key or secret was refused", herr.err)
	case resp.StatusCode == http.StatusForbidden:
		herr.err = fmt.Errorf("%w; give the key's user the \"Firewall: Alias: Edit\" privilege", herr.err)
	}
	return nil, connectors.Permanent(herr)
}

// snippet renders the start of an answer, printable, with the credentials masked.
func (f *Firewall) snippet(b []byte) string {
	return vendorhttp.Snippet(b, f.key.Reveal(), f.secret.Reveal())
}
