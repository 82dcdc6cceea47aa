// Package panos blocks addresses on Palo Alto Networks firewalls through the PAN-OS
// XML API. In mode tag (the default) a block registers the address with a tag
// (type=user-id, a uid-message register with a timeout), a Dynamic Address Group
// matching the tag feeds a deny rule, and no commit is needed; Verify reads the
// registered addresses back (type=op, show object registered-ip). In mode
// address_group a block creates a static address object, adds it to a static
// address group (type=config set), commits (partial for one administrator when
// known) and follows the commit job until it finishes; Verify reads the group back
// from the running configuration.
package panos

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/xml"
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

func init() { connectors.Register("panos", factory) }

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

// Firewall is a configured PAN-OS firewall (or vsys).
type Firewall struct {
	name     string
	cfg      Config
	api      string // <url>/api/
	endpoint string // for messages
	static   connectors.Secret
	password connectors.Secret
	clock    clock.Clock
	log      *slog.Logger
	http     doer
	sim      *connectors.Simulation

	mu  sync.Mutex        // held while a key is generated
	key connectors.Secret // generated with type=keygen, cached until refused

	// op serialises address-group changes: read, change, commit must not interleave.
	op sync.Mutex
	// commitAdmin scopes commits to one administrator's changes ("": full commit).
	commitAdmin string
	// wait pauses between commit-job polls; it returns early with ctx's error. Tests
	// replace it to move a fake clock instead of sleeping.
	wait func(ctx context.Context, d time.Duration) error

	smu    sync.Mutex
	masked []string // values masked in messages (secrets plus generated keys)
}

var _ connectors.Connector = (*Firewall)(nil)

// New returns the firewall described by cfg, reading its secrets and CA bundle
// through env.
func New(cfg Config, env connectors.Env) (*Firewall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("panos", "the firewall", vendorhttp.Endpoint{
		URL: cfg.URL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newFirewall(cfg, env, client)
}

func newFirewall(cfg Config, env connectors.Env, client doer) (*Firewall, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = "panos"
	}
	base := strings.TrimRight(cfg.URL, "/")
	f := &Firewall{name: env.Name, cfg: cfg, api: base + "/api/", endpoint: vendorhttp.RedactURL(base) + "/api/",
		clock: env.Clock, log: env.Logger.With("connector", env.Name), http: client, wait: connectors.Sleep}
	var err error
	if cfg.APIKeyEnv != "" || cfg.APIKeyFile != "" {
		if f.static, err = env.Secret("api_key", cfg.APIKeyEnv, cfg.APIKeyFile); err != nil {
			return nil, err
		}
		f.masked = append(f.masked, f.static.Reveal())
	} else {
		if f.password, err = env.Secret("password", cfg.PasswordEnv, cfg.PasswordFile); err != nil {
			return nil, err
		}
		f.masked = append(f.masked, f.password.Reveal(), url.QueryEscape(f.password.Reveal()))
	}
	if cfg.DryRun || env.DryRun {
		f.sim = connectors.NewSimulation(env.Clock)
	}
	if cfg.Mode == ModeAddressGroup {
		f.commitAdmin = cfg.CommitAdmin
		if f.commitAdmin == "" {
			f.commitAdmin = cfg.Username
		}
		if f.commitAdmin == "" {
			f.log.Warn("panos: no commit_admin with a ready API key: every commit is a full commit and activates other administrators' pending changes too; set commit_admin",
				"group", cfg.AddressGroup, "vsys", cfg.Vsys)
		}
	}
	return f, nil
}

func (f *Firewall) groupMode() bool { return f.cfg.Mode == ModeAddressGroup }

// Name implements connectors.Connector.
func (f *Firewall) Name() string { return f.name }

// Capabilities: block_ip and unblock_ip.
func (f *Firewall) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// address renders a target the way PAN-OS registers it: a bare address for a single
// host, network/prefix for an IPv4 network (PAN-OS 10.0 and later).
func address(p netip.Prefix) (string, error) {
	if p.IsSingleIP() {
		return p.Addr().String(), nil
	}
	if p.Addr().Is6() {
		return "", connectors.Permanent(fmt.Errorf("panos: %s: PAN-OS registers IPv6 hosts (/128) only, not IPv6 networks", p))
	}
	return p.String(), nil
}

func (f *Firewall) check(req connectors.Request) (string, error) {
	if err := connectors.CheckRequest(f, req); err != nil {
		return "", err
	}
	if f.groupMode() {
		name, _ := f.objectFor(req.Target.Prefix)
		return name, nil
	}
	return address(req.Target.Prefix)
}

func timeoutSeconds(ttl time.Duration) (int, error) {
	if ttl <= 0 {
		return 0, nil
	}
	s := int((ttl + time.Second - 1) / time.Second)
	if s > MaxTimeout {
		return 0, connectors.Permanent(fmt.Errorf("panos: ttl %s is longer than the 30 days (%d s) PAN-OS allows for a tag timeout", connectors.FormatDuration(ttl), MaxTimeout))
	}
	return s, nil
}

// Execute registers (block_ip) or unregisters (unblock_ip) the tag on the address.
// An address that already carries the tag is left alone (Changed=false), so a repeat
// makes no change on the firewall.
func (f *Firewall) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	addr, err := f.check(req)
	if err != nil {
		return connectors.Result{}, err
	}
	if f.sim != nil {
		d, err := f.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return f.sim.Execute(req, d), nil
	}
	if f.groupMode() {
		return f.groupChange(ctx, req, req.Kind == connectors.BlockIP)
	}
	if req.Kind == connectors.BlockIP {
		return f.register(ctx, req, addr)
	}
	return f.unregister(ctx, addr)
}

// Revert undoes Execute: a block's tag is unregistered; an unblock registers it again
// for req.TTL.
func (f *Firewall) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	addr, err := f.check(req)
	if err != nil {
		return connectors.Result{}, err
	}
	if f.sim != nil {
		if f.groupMode() {
			return f.sim.Revert(req, connectors.Diff{Changes: f.describeGroup(req.Target.Prefix, req.Kind != connectors.BlockIP)}), nil
		}
		return f.sim.Revert(req, connectors.Diff{Changes: []string{f.describe(req, addr, true)}}), nil
	}
	if f.groupMode() {
		return f.groupChange(ctx, req, req.Kind != connectors.BlockIP)
	}
	if req.Kind == connectors.BlockIP {
		return f.unregister(ctx, addr)
	}
	return f.register(ctx, req, addr)
}

func (f *Firewall) reference() string { return f.cfg.Vsys + " tag " + f.cfg.Tag }

func (f *Firewall) register(ctx context.Context, req connectors.Request, addr string) (connectors.Result, error) {
	secs, err := timeoutSeconds(req.TTL)
	if err != nil {
		return connectors.Result{}, err
	}
	res := connectors.Result{Reference: f.reference()}
	present, err := f.tagged(ctx, addr)
	if err != nil {
		return connectors.Result{}, err
	}
	if present {
		res.Detail = fmt.Sprintf("%s already carries tag %s in %s", addr, f.cfg.Tag, f.cfg.Vsys)
		return res, nil
	}
	entry := uidEntry{IP: addr, Members: []uidMember{{Name: f.cfg.Tag}}}
	if secs > 0 {
		entry.Members[0].Timeout = strconv.Itoa(secs)
	}
	if f.cfg.Persistent != nil && !*f.cfg.Persistent {
		entry.Persistent = "0"
	}
	changed, err := f.uid(ctx, uidPayload{Register: &uidEntries{Entries: []uidEntry{entry}}})
	if err != nil {
		return connectors.Result{}, err
	}
	res.Changed = changed
	if !changed {
		res.Detail = fmt.Sprintf("%s already carries tag %s in %s", addr, f.cfg.Tag, f.cfg.Vsys)
		return res, nil
	}
	res.Detail = fmt.Sprintf("registered tag %s on %s in %s", f.cfg.Tag, addr, f.cfg.Vsys)
	if secs > 0 {
		res.Detail += ", timeout " + connectors.FormatDuration(time.Duration(secs)*time.Second)
		res.ExpiresAt = f.clock.Now().Add(time.Duration(secs) * time.Second)
	}
	f.log.Info("panos: registered", "address", addr, "tag", f.cfg.Tag, "vsys", f.cfg.Vsys, "timeout_s", secs, "action", req.ActionID)
	return res, nil
}

func (f *Firewall) unregister(ctx context.Context, addr string) (connectors.Result, error) {
	res := connectors.Result{Reference: f.reference()}
	present, err := f.tagged(ctx, addr)
	if err != nil {
		return connectors.Result{}, err
	}
	if !present {
		res.Detail = fmt.Sprintf("%s does not carry tag %s in %s", addr, f.cfg.Tag, f.cfg.Vsys)
		return res, nil
	}
	changed, err := f.uid(ctx, uidPayload{Unregister: &uidEntries{Entries: []uidEntry{{IP: addr, Members: []uidMember{{Name: f.cfg.Tag}}}}}})
	if err != nil {
		return connectors.Result{}, err
	}
	res.Changed = changed
	if changed {
		res.Detail = fmt.Sprintf("unregistered tag %s from %s in %s", f.cfg.Tag, addr, f.cfg.Vsys)
		f.log.Info("panos: unregistered", "address", addr, "tag", f.cfg.Tag, "vsys", f.cfg.Vsys)
	} else {
		res.Detail = fmt.Sprintf("%s left tag %s in %s before it was unregistered (expired)", addr, f.cfg.Tag, f.cfg.Vsys)
	}
	return res, nil
}

// Verify reads the address's registered tags back from the firewall.
func (f *Firewall) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	addr, err := f.check(req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if f.sim != nil {
		return f.sim.Verify(req), nil
	}
	if f.groupMode() {
		return f.verifyGroup(ctx, req)
	}
	present, err := f.tagged(ctx, addr)
	if err != nil {
		return connectors.Verification{}, err
	}
	v := connectors.Verification{Observed: true, CheckedAt: f.clock.Now(), InPlace: present == (req.Kind == connectors.BlockIP)}
	if present {
		v.Detail = fmt.Sprintf("%s carries tag %s in %s", addr, f.cfg.Tag, f.cfg.Vsys)
	} else {
		v.Detail = fmt.Sprintf("%s does not carry tag %s in %s", addr, f.cfg.Tag, f.cfg.Vsys)
	}
	return v, nil
}

// Preview describes the change, e.g. "register tag warroom-block on 203.0.113.7 in
// vsys1, timeout 24h".
func (f *Firewall) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	addr, err := f.check(req)
	if err != nil {
		return connectors.Diff{}, err
	}
	if f.groupMode() {
		return connectors.Diff{Changes: f.describeGroup(req.Target.Prefix, req.Kind == connectors.BlockIP)}, nil
	}
	if req.Kind == connectors.BlockIP {
		if _, err := timeoutSeconds(req.TTL); err != nil {
			return connectors.Diff{}, err
		}
	}
	return connectors.Diff{Changes: []string{f.describe(req, addr, false)}}, nil
}

func (f *Firewall) describe(req connectors.Request, addr string, revert bool) string {
	add := (req.Kind == connectors.BlockIP) != revert
	if !add {
		return fmt.Sprintf("unregister tag %s from %s in %s (%s)", f.cfg.Tag, addr, f.cfg.Vsys, f.endpoint)
	}
	s := fmt.Sprintf("register tag %s on %s in %s (%s)", f.cfg.Tag, addr, f.cfg.Vsys, f.endpoint)
	if secs, err := timeoutSeconds(req.TTL); err == nil && secs > 0 {
		s += ", timeout " + connectors.FormatDuration(time.Duration(secs)*time.Second)
	}
	return s
}

// Ready generates the API key if needed and reads the tag's registrations (one
// entry), which needs the operational-request permission Verify uses. Whether the
// role may send User-ID messages is only known when an action runs.
func (f *Firewall) Ready(ctx context.Context) connectors.Readiness {
	r := connectors.Readiness{}
	if f.sim != nil {
		r.Message = "dry run: the firewall is not contacted"
		return r
	}
	var msg string
	var err error
	if f.groupMode() {
		msg, err = f.readyGroup(ctx)
	} else {
		cmd, _ := xml.Marshal(opShow{Filter: regFilter{Tag: &tagFilter{Entry: nameAttr{Name: f.cfg.Tag}}, Limit: 1, Start: 1}})
		_, err = f.call(ctx, url.Values{"type": {"op"}, "cmd": {string(cmd)}, "vsys": {f.cfg.Vsys}}, "show registered-ip")
		msg = fmt.Sprintf("%s answers; tag %s readable in %s; User-ID registration is checked when an action runs", f.endpoint, f.cfg.Tag, f.cfg.Vsys)
	}
	var ae *authError
	var te *transportError
	switch {
	case err == nil:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Passed
		r.Message = msg
	case errors.As(err, &te):
		r.Reachable = connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &ae) && (ae.keygen || !f.static.IsZero()):
		r.Reachable, r.Authenticated = connectors.Passed, connectors.Failed
		r.Message = err.Error()
	case errors.As(err, &ae):
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error() + "; the key was generated, so the admin role lacks XML API operational requests"
		if f.groupMode() {
			r.Message = err.Error() + "; the key was generated, so the admin role lacks XML API configuration access"
		}
	default:
		r.Reachable, r.Authenticated, r.Permitted = connectors.Passed, connectors.Passed, connectors.Failed
		r.Message = err.Error()
	}
	return r
}

// tagged reports whether addr carries the tag, reading the registrations for addr.
func (f *Firewall) tagged(ctx context.Context, addr string) (bool, error) {
	cmd, err := xml.Marshal(opShow{Filter: regFilter{IP: addr}})
	if err != nil {
		return false, connectors.Permanent(fmt.Errorf("panos %s: encoding the query: %w", f.name, err))
	}
	body, err := f.call(ctx, url.Values{"type": {"op"}, "cmd": {string(cmd)}, "vsys": {f.cfg.Vsys}}, "show registered-ip")
	if err != nil {
		return false, err
	}
	var rr registeredResponse
	if err := parseAnswer(body, &rr); err != nil {
		return false, connectors.Permanent(fmt.Errorf("panos %s: reading the registered addresses from %s: %w", f.name, f.endpoint, err))
	}
	want, err := netip.ParsePrefix(canonical(addr))
	if err != nil {
		return false, connectors.Permanent(fmt.Errorf("panos %s: %w", f.name, err))
	}
	for _, e := range rr.Entries {
		got, err := netip.ParsePrefix(canonical(e.IP))
		if err != nil || connectors.CanonicalPrefix(got) != connectors.CanonicalPrefix(want) {
			continue
		}
		for _, t := range e.Tags {
			if t == f.cfg.Tag {
				return true, nil
			}
		}
	}
	return false, nil
}

func canonical(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s
}

// uid sends one uid-message. It reports changed=false when PAN-OS answers that the
// registration already existed or was already gone.
func (f *Firewall) uid(ctx context.Context, p uidPayload) (bool, error) {
	msg, err := xml.Marshal(uidMessage{Version: "2.0", Type: "update", Payload: p})
	if err != nil {
		return false, connectors.Permanent(fmt.Errorf("panos %s: encoding the uid-message: %w", f.name, err))
	}
	_, err = f.call(ctx, url.Values{"type": {"user-id"}, "cmd": {string(msg)}, "vsys": {f.cfg.Vsys}}, "user-id")
	var ve *vendorError
	if errors.As(err, &ve) && (strings.Contains(ve.msg, "already exists, ignore") || strings.Contains(ve.msg, "does not exist, ignore")) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// authError is PAN-OS refusing the key (or, for keygen, the user and password).
type authError struct {
	keygen bool
	err    error
}

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// transportError is a request that got no answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// vendorError is a status="error" answer.
type vendorError struct {
	code string
	msg  string
	err  error
}

func (e *vendorError) Error() string { return e.err.Error() }
func (e *vendorError) Unwrap() error { return e.err }

// call sends an API request with the key, generating a fresh key once when the
// firewall no longer accepts a cached one.
func (f *Firewall) call(ctx context.Context, params url.Values, what string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		key, fresh, err := f.apiKey(ctx)
		if err != nil {
			return nil, err
		}
		body, err := f.post(ctx, params, key, what)
		var ae *authError
		if errors.As(err, &ae) && f.static.IsZero() && !fresh && attempt == 0 {
			f.dropKey(key)
			f.log.Info("panos: the firewall refused the cached API key; generating a new one", "user", f.cfg.Username)
			continue
		}
		return body, err
	}
}

func (f *Firewall) apiKey(ctx context.Context) (key string, fresh bool, err error) {
	if !f.static.IsZero() {
		return f.static.Reveal(), false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.key.IsZero() {
		return f.key.Reveal(), false, nil
	}
	body, err := f.post(ctx, url.Values{"type": {"keygen"}, "user": {f.cfg.Username}, "password": {f.password.Reveal()}}, "", "keygen")
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			ae.keygen = true
		}
		return "", false, err
	}
	var kr struct {
		Key string `xml:"result>key"`
	}
	if err := parseAnswer(body, &kr); err != nil || strings.TrimSpace(kr.Key) == "" {
		return "", false, connectors.Permanent(fmt.Errorf("panos %s: keygen at %s answered without a key", f.name, f.endpoint))
	}
	f.key = connectors.NewSecret(strings.TrimSpace(kr.Key))
	f.smu.Lock()
	f.masked = appendSecret(f.masked, f.key.Reveal())
	f.smu.Unlock()
	return f.key.Reveal(), true, nil
}

func appendSecret(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

func (f *Firewall) dropKey(key string) {
	f.mu.Lock()
	if f.key.Reveal() == key {
		f.key = connectors.Secret{}
	}
	f.mu.Unlock()
}

// post sends one form-encoded request to /api/ and classifies the outcome. The key
// travels in the X-PAN-KEY header, never in the URL.
func (f *Firewall) post(ctx context.Context, params url.Values, key, what string) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, f.api, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("panos %s: building the %s request: %w", f.name, what, err))
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/xml")
	hreq.Header.Set("User-Agent", "warroom-panos/1")
	if key != "" {
		hreq.Header.Set("X-PAN-KEY", key)
	}
	prefix := fmt.Sprintf("panos %s: %s at %s", f.name, what, f.endpoint)
	resp, err := f.http.Do(hreq)
	if err != nil {
		err, cert := vendorhttp.TransportCause(ctx, err)
		if cert {
			return nil, connectors.Permanent(&transportError{fmt.Errorf("%s: %w; set ca_file to the CA that signed the firewall's certificate", prefix, err)})
		}
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: %w", prefix, err)})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: reading the answer: %w", prefix, err)})
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up while the answer arrived: it may be cut short.
		return nil, connectors.Temporary(&transportError{fmt.Errorf("%s: %w", prefix, cerr)})
	}
	var ar apiResponse
	xerr := parseAnswer(body, &ar)
	switch {
	case vendorhttp.TemporaryStatus(resp.StatusCode):
		herr := fmt.Errorf("%s answered %s%s", prefix, resp.Status, f.snippet(ar.message(), body))
		return nil, vendorhttp.Retryable(herr, resp.StatusCode, resp.Header, f.clock.Now())
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || (xerr == nil && ar.Status == "error" && (ar.Code == "403" || ar.Code == "22")):
		return nil, connectors.Permanent(&authError{err: fmt.Errorf("%s: authentication refused (%s)%s", prefix, resp.Status, f.snippet(ar.message(), body))})
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, connectors.Permanent(fmt.Errorf("%s answered %s; point url at the firewall itself", prefix, resp.Status))
	case xerr != nil && len(bytes.TrimSpace(body)) == 0:
		return nil, connectors.Temporary(fmt.Errorf("%s answered %s with an empty body (cut short)", prefix, resp.Status))
	case xerr != nil:
		return nil, connectors.Permanent(fmt.Errorf("%s answered %s without a PAN-OS XML response: %w", prefix, resp.Status, xerr))
	case ar.Status == "success" && resp.StatusCode < 300:
		return body, nil
	}
	return nil, f.vendorError(ar, what)
}

// vendorError classifies a status="error" answer: PAN-OS internal errors (codes
// 2-5, 11, 21) are retryable, everything else is permanent.
func (f *Firewall) vendorError(ar apiResponse, what string) error {
	msg := ar.message()
	verr := &vendorError{code: ar.Code, msg: msg, err: fmt.Errorf("panos %s: %s at %s: PAN-OS error%s%s", f.name, what, f.endpoint, codeText(ar.Code), f.snippet(msg, nil))}
	switch ar.Code {
	case "2", "3", "4", "5", "11", "21":
		return connectors.Temporary(verr)
	}
	return connectors.Permanent(verr)
}

// parseAnswer decodes an XML API answer into v.
func parseAnswer(body []byte, v any) error { return xml.Unmarshal(body, v) }

func codeText(code string) string {
	if code == "" {
		return ""
	}
	return " " + code
}

// snippet renders the firewall's message (or the start of the body), printable, with
// secrets masked.
func (f *Firewall) snippet(msg string, body []byte) string {
	f.smu.Lock()
	secrets := append([]string(nil), f.masked...)
	f.smu.Unlock()
	if msg == "" && body != nil {
		return vendorhttp.Snippet(body, secrets...)
	}
	return vendorhttp.SnippetText(msg, secrets...)
}

// Wire types of the XML API.

type uidMessage struct {
	XMLName xml.Name   `xml:"uid-message"`
	Version string     `xml:"version"`
	Type    string     `xml:"type"`
	Payload uidPayload `xml:"payload"`
}

type uidPayload struct {
	Register   *uidEntries `xml:"register,omitempty"`
	Unregister *uidEntries `xml:"unregister,omitempty"`
}

type uidEntries struct {
	Entries []uidEntry `xml:"entry"`
}

type uidEntry struct {
	IP         string      `xml:"ip,attr"`
	Persistent string      `xml:"persistent,attr,omitempty"`
	Members    []uidMember `xml:"tag>member"`
}

type uidMember struct {
	Timeout string `xml:"timeout,attr,omitempty"`
	Name    string `xml:",chardata"`
}

type opShow struct {
	XMLName xml.Name  `xml:"show"`
	Filter  regFilter `xml:"object>registered-ip"`
}

type regFilter struct {
	Tag   *tagFilter `xml:"tag,omitempty"`
	IP    string     `xml:"ip,omitempty"`
	Limit int        `xml:"limit,omitempty"`
	Start int        `xml:"start-point,omitempty"`
}

type tagFilter struct {
	Entry nameAttr `xml:"entry"`
}

type nameAttr struct {
	Name string `xml:"name,attr"`
}

type registeredResponse struct {
	Entries []struct {
		IP   string   `xml:"ip,attr"`
		Tags []string `xml:"tag>member"`
	} `xml:"result>entry"`
}

// apiResponse is the envelope of every answer: <response status="..." code="...">.
type apiResponse struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Code    string   `xml:"code,attr"`
	Msg     []inner  `xml:"msg"`
	Result  []inner  `xml:"result>msg"`
}

type inner struct {
	XML string `xml:",innerxml"`
}

// message gathers the text and message="..." attributes of the <msg> elements.
func (a apiResponse) message() string {
	var parts []string
	for _, m := range append(append([]inner(nil), a.Msg...), a.Result...) {
		d := xml.NewDecoder(bytes.NewReader([]byte("<m>" + m.XML + "</m>")))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch t := tok.(type) {
			case xml.CharData:
				if s := strings.TrimSpace(string(t)); s != "" {
					parts = append(parts, s)
				}
			case xml.StartElement:
				for _, a := range t.Attr {
					if a.Name.Local == "message" && strings.TrimSpace(a.Value) != "" {
						parts = append(parts, strings.TrimSpace(a.Value))
					}
				}
			}
		}
	}
	return strings.Join(parts, "; ")
}
