// Package ciscofmc blocks addresses on Cisco Secure Firewall (FTD) devices through
// the Secure Firewall Management Center (FMC) REST API: it caches and refreshes the
// API token, keeps a host or network object per blocked address in a configured
// network group (read the group, then PUT it back with the member added or removed),
// optionally deploys the change to listed devices and follows the deployment task
// until it is deployed, fails or times out, and reads the group back to
// verify. The connector type is cisco_fmc.
package ciscofmc

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
	"slices"
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

// TypeName is the registered connector type.
const TypeName = "cisco_fmc"

func init() { connectors.Register(TypeName, factory) }

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

// tokenLife is how long an FMC access token is valid; refreshMax is how often one
// can be refreshed before a new one must be generated.
const (
	tokenLife  = 30 * time.Minute
	refreshMax = 3
)

// deployPoll is the pause between two reads of a deployment task's status: FMC
// allows 120 requests a minute per user, and a deployment takes minutes.
const deployPoll = 5 * time.Second

// FMC is a configured Management Center and group.
type FMC struct {
	name          string
	cfg           Config
	base          string // https://host:port
	http          doer
	clock         clock.Clock
	log           *slog.Logger
	sim           *connectors.Simulation
	deleteObjects bool
	password      connectors.Secret
	// wait pauses between task-status polls; it returns early with ctx's error.
	// Tests replace it to move a fake clock instead of sleeping.
	wait func(ctx context.Context, d time.Duration) error

	op    sync.Mutex // one group change at a time: GET then PUT must not interleave
	tokMu sync.Mutex // one token request or refresh at a time

	mu      sync.Mutex
	tok     *token
	groupID string
	old     []string // earlier tokens, masked if a server echoes them
}

type token struct {
	access, refresh, domain string
	issued                  time.Time
	refreshes               int
	stale                   bool
}

var _ connectors.Connector = (*FMC)(nil)

// New returns the connector described by cfg, reading its secret through env.
func New(cfg Config, env connectors.Env) (*FMC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env = env.WithDefaults()
	client, err := vendorhttp.ConnectorClient("cisco_fmc", "the Management Center", vendorhttp.Endpoint{
		URL: cfg.URL, CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, Timeout: cfg.Timeout}, env)
	if err != nil {
		return nil, err
	}
	return newFMC(cfg, env, client)
}

func newFMC(cfg Config, env connectors.Env, client doer) (*FMC, error) {
	env = env.WithDefaults()
	if env.Name == "" {
		env.Name = TypeName
	}
	password, err := env.Secret("password", cfg.PasswordEnv, cfg.PasswordFile)
	if err != nil {
		return nil, err
	}
	c := &FMC{name: env.Name, cfg: cfg, base: strings.TrimRight(cfg.URL, "/"), http: client, clock: env.Clock,
		log: env.Logger.With("connector", env.Name), deleteObjects: cfg.DeleteObjects == nil || *cfg.DeleteObjects, password: password,
		wait: connectors.Sleep}
	if cfg.DryRun || env.DryRun {
		c.sim = connectors.NewSimulation(env.Clock)
	}
	return c, nil
}

// Name implements connectors.Connector.
func (c *FMC) Name() string { return c.name }

// Capabilities returns block_ip and unblock_ip.
func (c *FMC) Capabilities() []connectors.ActionKind {
	return []connectors.ActionKind{connectors.BlockIP, connectors.UnblockIP}
}

// objectFor returns the name and FMC type of warroom's object for p:
// warroom_203.0.113.7 (Host), warroom_198.51.100.0_24 (Network).
func (c *FMC) objectFor(p netip.Prefix) (name, typ string) {
	s := p.Addr().String()
	typ = "Host"
	if !p.IsSingleIP() {
		s += "/" + strconv.Itoa(p.Bits())
		typ = "Network"
	}
	return c.cfg.ObjectPrefix + strings.NewReplacer(":", "_", "/", "_").Replace(s), typ
}

// objectValue is what FMC stores as the object's value.
func objectValue(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// apiError is an answer FMC gave with a failure status.
type apiError struct {
	Op          string // "GET object/networkgroups/...", "generatetoken"
	Status      int
	Description string
	RetryAfter  time.Duration
	hasAfter    bool
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// authError marks a failure to get a token.
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// deployError is a deployment task that ended in failure (permanent: the devices
// refused the configuration, which a retry will not change) or that did not end
// within deploy_timeout (retryable: it may still finish).
type deployError struct {
	task, status, message string
	timedOut              bool
	after                 time.Duration
}

func (e *deployError) Error() string {
	if e.timedOut {
		return fmt.Sprintf("deployment task %s is still %q after %s (deploy_timeout); it may yet finish: check Deploy > Deployment History", e.task, e.status, connectors.FormatDuration(e.after))
	}
	s := fmt.Sprintf("deployment task %s ended %q", e.task, e.status)
	if e.message != "" {
		s += ": " + e.message
	}
	return s + "; the Management Center holds the change, fix the deployment there and deploy again"
}

// conflictError is a state warroom will not change on its own.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

func (c *FMC) classify(err error) error {
	if err == nil {
		return nil
	}
	werr := fmt.Errorf("cisco_fmc %s: %w", c.name, err)
	var ae *apiError
	var ce *conflictError
	var de *deployError
	switch {
	case errors.As(err, &de):
		if de.timedOut {
			return connectors.Temporary(werr)
		}
		return connectors.Permanent(werr)
	case errors.As(err, &ae):
		switch {
		case vendorhttp.TemporaryStatus(ae.Status):
			return vendorhttp.RetryableAfter(werr, ae.Status, ae.RetryAfter, ae.hasAfter)
		}
		return connectors.Permanent(werr)
	case errors.As(err, &ce):
		return connectors.Permanent(werr)
	case vendorhttp.CertificateError(err):
		return connectors.Permanent(fmt.Errorf("%w; set ca_file to the CA that signed the server's certificate", werr))
	}
	return connectors.Temporary(werr)
}

func (c *FMC) mask(s string) string {
	c.mu.Lock()
	vals := slices.Clone(c.old)
	if c.tok != nil {
		vals = append(vals, c.tok.access, c.tok.refresh)
	}
	c.mu.Unlock()
	vals = append(vals, c.password.Reveal())
	return vendorhttp.Mask(s, vals...)
}

func printable(s string) string {
	return vendorhttp.Truncate(strings.TrimSpace(vendorhttp.Printable(s)), 300)
}

// send makes one HTTP call and decodes a 2xx JSON answer into out. It returns the
// response headers.
func (c *FMC) send(ctx context.Context, method, path string, query url.Values, header http.Header, in, out any) (http.Header, error) {
	op := method + " " + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding the request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "warroom-cisco-fmc/1")
	if in != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, fmt.Errorf("%s %s%s: %w", method, c.base, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{Op: op, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Messages []struct {
					Description string `json:"description"`
				} `json:"messages"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &eb) == nil && len(eb.Error.Messages) > 0 {
			var ds []string
			for _, m := range eb.Error.Messages {
				ds = append(ds, m.Description)
			}
			ae.Description = strings.Join(ds, "; ")
		} else {
			ae.Description = string(raw)
		}
		ae.Description = c.mask(printable(ae.Description))
		if d, ok := vendorhttp.RetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()); ok {
			ae.RetryAfter, ae.hasAfter = d, true
		}
		return nil, ae
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, &apiError{Op: op, Status: resp.StatusCode, Description: "the answer is not the documented JSON: " + err.Error()}
		}
	}
	return resp.Header, nil
}

// currentToken returns a usable token: the cached one, a refreshed one, or a new one.
func (c *FMC) currentToken(ctx context.Context) (*token, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	c.mu.Lock()
	t := c.tok
	c.mu.Unlock()
	now := c.clock.Now()
	if t != nil && !t.stale && now.Sub(t.issued) < tokenLife-time.Minute {
		return t, nil
	}
	if t != nil && t.refreshes < refreshMax {
		h := http.Header{}
		h.Set("X-auth-access-token", t.access)
		h.Set("X-auth-refresh-token", t.refresh)
		rh, err := c.send(ctx, http.MethodPost, "/api/fmc_platform/v1/auth/refreshtoken", nil, h, nil, nil)
		var ae *apiError
		switch {
		case err == nil:
			nt := &token{access: rh.Get("X-auth-access-token"), refresh: rh.Get("X-auth-refresh-token"), domain: t.domain,
				issued: now, refreshes: t.refreshes + 1}
			if nt.refresh == "" {
				nt.refresh = t.refresh
			}
			if nt.access != "" {
				c.keep(nt)
				c.log.Debug("cisco_fmc: token refreshed", "refreshes", nt.refreshes)
				return nt, nil
			}
		case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
			// The refresh token is spent or revoked: generate a new token below.
		default:
			return nil, &authError{err: fmt.Errorf("refreshing the token: %w", err)}
		}
	}
	return c.generate(ctx)
}

func (c *FMC) keep(t *token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && len(c.old) < 32 {
		c.old = append(c.old, c.tok.access, c.tok.refresh)
	}
	c.tok = t
}

func (c *FMC) generate(ctx context.Context) (*token, error) {
	req, err := http.NewRequest(http.MethodPost, "/", nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.cfg.User, c.password.Reveal())
	h := http.Header{"Authorization": req.Header["Authorization"]}
	rh, err := c.send(ctx, http.MethodPost, "/api/fmc_platform/v1/auth/generatetoken", nil, h, nil, nil)
	if err != nil {
		return nil, &authError{err: fmt.Errorf("getting a token: %w", err)}
	}
	t := &token{access: rh.Get("X-auth-access-token"), refresh: rh.Get("X-auth-refresh-token"), domain: rh.Get("DOMAIN_UUID"), issued: c.clock.Now()}
	if t.access == "" {
		return nil, &authError{err: &apiError{Op: "POST /api/fmc_platform/v1/auth/generatetoken", Status: http.StatusNoContent, Description: "no X-auth-access-token header in the answer"}}
	}
	if c.cfg.Domain != "" {
		var domains []struct{ Name, UUID string }
		_ = json.Unmarshal([]byte(rh.Get("DOMAINS")), &domains)
		t.domain = ""
		var names []string
		for _, d := range domains {
			names = append(names, d.Name)
			if d.Name == c.cfg.Domain {
				t.domain = d.UUID
			}
		}
		if t.domain == "" {
			return nil, &authError{err: &conflictError{msg: fmt.Sprintf("domain %q is not one of the user's domains (%s); fix domain", c.cfg.Domain, strings.Join(names, ", "))}}
		}
	}
	if t.domain == "" {
		return nil, &authError{err: &apiError{Op: "POST /api/fmc_platform/v1/auth/generatetoken", Status: http.StatusNoContent, Description: "no DOMAIN_UUID header in the answer"}}
	}
	c.keep(t)
	c.log.Debug("cisco_fmc: token generated", "url", vendorhttp.RedactURL(c.cfg.URL))
	return t, nil
}

// api calls a configuration resource under the token's domain ("object/hosts"),
// renewing the token once if the server no longer accepts it.
func (c *FMC) api(ctx context.Context, method, res string, query url.Values, in, out any) error {
	for attempt := 0; ; attempt++ {
		t, err := c.currentToken(ctx)
		if err != nil {
			return err
		}
		h := http.Header{}
		h.Set("X-auth-access-token", t.access)
		_, err = c.send(ctx, method, "/api/fmc_config/v1/domain/"+t.domain+"/"+res, query, h, in, out)
		var ae *apiError
		if attempt == 0 && errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.mu.Lock()
			t.stale = true
			c.mu.Unlock()
			c.log.Info("cisco_fmc: token no longer accepted; renewing it")
			continue
		}
		return err
	}
}

type ref struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type literal struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// group is a network group as GET returns it and PUT takes it back.
type group struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Description string    `json:"description,omitempty"`
	Overridable bool      `json:"overridable"`
	Objects     []ref     `json:"objects,omitempty"`
	Literals    []literal `json:"literals,omitempty"`
}

type page struct {
	Items []struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"items"`
	Paging struct {
		Count int `json:"count"`
	} `json:"paging"`
}

const pageLimit = 1000

// lookupGroup finds the configured group's id by name, page by page.
func (c *FMC) lookupGroup(ctx context.Context) (string, error) {
	for offset := 0; ; offset += pageLimit {
		var p page
		q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "offset": {strconv.Itoa(offset)}}
		if err := c.api(ctx, http.MethodGet, "object/networkgroups", q, nil, &p); err != nil {
			return "", fmt.Errorf("looking up network group %s: %w", c.cfg.Group, err)
		}
		for _, it := range p.Items {
			if it.Name == c.cfg.Group {
				return it.ID, nil
			}
		}
		if len(p.Items) == 0 || offset+pageLimit >= p.Paging.Count {
			return "", &conflictError{msg: fmt.Sprintf("network group %s does not exist; create it (with at least one member) and use it in the block rule", c.cfg.Group)}
		}
	}
}

// getGroup reads the configured group.
func (c *FMC) getGroup(ctx context.Context) (*group, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		id := c.groupID
		c.mu.Unlock()
		if id == "" {
			var err error
			if id, err = c.lookupGroup(ctx); err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.groupID = id
			c.mu.Unlock()
		}
		var g group
		err := c.api(ctx, http.MethodGet, "object/networkgroups/"+id, nil, nil, &g)
		var ae *apiError
		if attempt == 0 && errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			c.mu.Lock()
			c.groupID = "" // deleted and recreated: look it up again
			c.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("network group %s: %w", c.cfg.Group, err)
		}
		return &g, nil
	}
}

// holds returns warroom's member for p and any literal for exactly p.
func (c *FMC) holds(g *group, p netip.Prefix) (own *ref, lit *literal) {
	name, _ := c.objectFor(p)
	for i, o := range g.Objects {
		if o.Name == name {
			own = &g.Objects[i]
		}
	}
	for i, l := range g.Literals {
		if lp, ok := parseValue(l.Value); ok && lp == p {
			lit = &g.Literals[i]
			break
		}
	}
	return own, lit
}

func parseValue(v string) (netip.Prefix, bool) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return connectors.CanonicalPrefix(p), err == nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, false
	}
	return connectors.CanonicalPrefix(netip.PrefixFrom(a, a.BitLen())), true
}

// Execute applies the request: block_ip adds the address to the group, unblock_ip
// removes it.
func (c *FMC) Execute(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	if c.sim != nil {
		d, err := c.Preview(ctx, req)
		if err != nil {
			return connectors.Result{}, err
		}
		return c.sim.Execute(req, d), nil
	}
	return c.apply(ctx, req, req.Kind == connectors.BlockIP)
}

// Revert undoes Execute(req).
func (c *FMC) Revert(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Result{}, err
	}
	add := req.Kind != connectors.BlockIP
	if c.sim != nil {
		return c.sim.Revert(req, connectors.Diff{Changes: c.changes(req.Target.Prefix, add)}), nil
	}
	return c.apply(ctx, req, add)
}

func (c *FMC) apply(ctx context.Context, req connectors.Request, add bool) (connectors.Result, error) {
	c.op.Lock()
	defer c.op.Unlock()
	res, err := c.change(ctx, req.Target.Prefix, add)
	if err != nil {
		return connectors.Result{}, c.classify(err)
	}
	c.log.Info("cisco_fmc: applied", "action", req.ActionID, "kind", string(req.Kind), "target", req.Target.String(), "changed", res.Changed)
	return res, nil
}

func (c *FMC) change(ctx context.Context, p netip.Prefix, add bool) (connectors.Result, error) {
	g, err := c.getGroup(ctx)
	if err != nil {
		return connectors.Result{}, err
	}
	name, typ := c.objectFor(p)
	own, lit := c.holds(g, p)
	switch {
	case add && own != nil:
		return connectors.Result{Reference: own.ID, Detail: fmt.Sprintf("%s is already in network group %s as %s", p, g.Name, own.Name)}, nil
	case add && lit != nil:
		return connectors.Result{Detail: fmt.Sprintf("%s is already in network group %s as a literal", p, g.Name)}, nil
	case !add && own == nil && lit != nil:
		return connectors.Result{}, &conflictError{msg: fmt.Sprintf("%s is in network group %s as a literal warroom did not add; remove it in the Management Center", p, g.Name)}
	case !add && own == nil:
		return connectors.Result{Detail: fmt.Sprintf("%s is not in network group %s; nothing to remove", p, g.Name)}, nil
	}
	var changes []string
	var reference string
	if add {
		obj, created, err := c.ensureObject(ctx, name, typ, p)
		if err != nil {
			return connectors.Result{}, err
		}
		if created {
			changes = append(changes, fmt.Sprintf("created %s %s", strings.ToLower(typ), name))
		}
		g.Objects = append(g.Objects, ref{Type: typ, ID: obj, Name: name})
		reference = obj
		changes = append(changes, fmt.Sprintf("added %s (%s) to network group %s", name, p, g.Name))
	} else {
		reference = own.ID
		removed := *own
		g.Objects = slices.DeleteFunc(g.Objects, func(r ref) bool { return r.ID == removed.ID })
		if len(g.Objects)+len(g.Literals) == 0 {
			return connectors.Result{}, &conflictError{msg: fmt.Sprintf("removing %s would leave network group %s empty, which FMC refuses; add a placeholder member (for example a TEST-NET literal) to the group", name, g.Name)}
		}
		changes = append(changes, fmt.Sprintf("removed %s (%s) from network group %s", name, p, g.Name))
		own = &removed // own pointed into the slice DeleteFunc just shifted
	}
	if err := c.api(ctx, http.MethodPut, "object/networkgroups/"+g.ID, nil, g, nil); err != nil {
		return connectors.Result{}, fmt.Errorf("updating network group %s: %w", g.Name, err)
	}
	if !add && c.deleteObjects {
		res := "object/hosts/"
		if own.Type == "Network" {
			res = "object/networks/"
		}
		if err := c.api(ctx, http.MethodDelete, res+own.ID, nil, nil, nil); err != nil {
			return connectors.Result{}, fmt.Errorf("the address left the group, but deleting %s failed: %w", own.Name, err)
		}
		changes = append(changes, fmt.Sprintf("deleted %s %s", strings.ToLower(own.Type), own.Name))
	}
	if len(c.cfg.DeployDevices) > 0 {
		d, err := c.deploy(ctx)
		if err != nil {
			return connectors.Result{}, fmt.Errorf("the group is updated but not deployed: %w", err)
		}
		changes = append(changes, d)
	}
	return connectors.Result{Changed: true, Reference: reference, Detail: strings.Join(changes, "; ")}, nil
}

// ensureObject finds warroom's object named name, creating it when missing. It
// returns the object's id and whether it created it.
func (c *FMC) ensureObject(ctx context.Context, name, typ string, p netip.Prefix) (string, bool, error) {
	res := "object/hosts"
	if typ == "Network" {
		res = "object/networks"
	}
	var pg page
	q := url.Values{"filter": {"nameOrValue:" + name}, "expanded": {"true"}, "limit": {strconv.Itoa(pageLimit)}}
	if err := c.api(ctx, http.MethodGet, res, q, nil, &pg); err != nil {
		return "", false, fmt.Errorf("looking up %s: %w", name, err)
	}
	for _, it := range pg.Items {
		if it.Name != name {
			continue
		}
		if have, ok := parseValue(it.Value); !ok || have != p {
			return "", false, &conflictError{msg: fmt.Sprintf("object %s exists with value %q, not %s; rename or delete it", name, it.Value, p)}
		}
		return it.ID, false, nil
	}
	var created struct {
		ID string `json:"id"`
	}
	in := map[string]any{"name": name, "type": typ, "value": objectValue(p), "description": "blocked by warroom"}
	if err := c.api(ctx, http.MethodPost, res, nil, in, &created); err != nil {
		return "", false, fmt.Errorf("creating %s: %w", name, err)
	}
	if created.ID == "" {
		return "", false, &apiError{Op: "POST " + res, Status: http.StatusCreated, Description: "no id in the answer"}
	}
	return created.ID, true, nil
}

// deploy starts a deployment to the configured devices that have pending changes.
func (c *FMC) deploy(ctx context.Context) (string, error) {
	var pg struct {
		Items []struct {
			Version string `json:"version"`
			Device  struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"device"`
			CanBeDeployed *bool `json:"canBeDeployed"`
		} `json:"items"`
	}
	q := url.Values{"expanded": {"true"}, "limit": {strconv.Itoa(pageLimit)}}
	if err := c.api(ctx, http.MethodGet, "deployment/deployabledevices", q, nil, &pg); err != nil {
		return "", fmt.Errorf("listing deployable devices: %w", err)
	}
	var ids, names []string
	version := ""
	for _, it := range pg.Items {
		if !slices.Contains(c.cfg.DeployDevices, it.Device.Name) || (it.CanBeDeployed != nil && !*it.CanBeDeployed) {
			continue
		}
		ids, names = append(ids, it.Device.ID), append(names, it.Device.Name)
		if newerVersion(it.Version, version) {
			version = it.Version
		}
	}
	if len(ids) == 0 {
		return fmt.Sprintf("none of %s has changes to deploy", strings.Join(c.cfg.DeployDevices, ", ")), nil
	}
	in := map[string]any{"type": "DeploymentRequest", "version": version, "forceDeploy": false, "ignoreWarning": true, "deviceList": ids}
	var out struct {
		Metadata struct {
			Task struct {
				ID string `json:"id"`
			} `json:"task"`
		} `json:"metadata"`
	}
	if err := c.api(ctx, http.MethodPost, "deployment/deploymentrequests", nil, in, &out); err != nil {
		return "", fmt.Errorf("requesting the deployment: %w", err)
	}
	task := out.Metadata.Task.ID
	if c.cfg.DeployTimeout == 0 {
		return fmt.Sprintf("deployment task %s started on %s", task, strings.Join(names, ", ")), nil
	}
	if task == "" {
		return "", &apiError{Op: "POST deployment/deploymentrequests", Status: http.StatusAccepted, Description: "no metadata.task.id in the answer, so the deployment cannot be followed"}
	}
	if err := c.awaitDeployment(ctx, task); err != nil {
		return "", fmt.Errorf("deploying to %s: %w", strings.Join(names, ", "), err)
	}
	c.log.Info("cisco_fmc: deployed", "task", task, "devices", strings.Join(names, ", "))
	return fmt.Sprintf("deployed to %s (task %s)", strings.Join(names, ", "), task), nil
}

// taskStatus is the part of a job/taskstatuses answer warroom reads.
type taskStatus struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// taskState sorts a task status into running, done or failed. Deployment tasks
// report Deploying, then Deployed or Failed; other task types use PENDING, RUNNING,
// SUCCESS and FAILED, which are accepted too. Anything unknown counts as running
// until deploy_timeout.
func taskState(status string) (done, failed bool) {
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "DEPLOYED", "SUCCESS", "SUCCEEDED", "COMPLETED":
		return true, false
	case "FAILED", "DEPLOYMENT FAILED", "ERROR", "CANCELLED", "ABORTED":
		return true, true
	}
	return false, false
}

// awaitDeployment polls the task until it is deployed, fails or deploy_timeout
// passes on the connector's clock.
func (c *FMC) awaitDeployment(ctx context.Context, task string) error {
	start := c.clock.Now()
	deadline := start.Add(c.cfg.DeployTimeout)
	for {
		var ts taskStatus
		if err := c.api(ctx, http.MethodGet, "job/taskstatuses/"+url.PathEscape(task), nil, nil, &ts); err != nil {
			return fmt.Errorf("reading deployment task %s: %w", task, err)
		}
		done, failed := taskState(ts.Status)
		switch {
		case failed:
			return &deployError{task: task, status: ts.Status, message: c.mask(printable(ts.Message))}
		case done:
			return nil
		}
		now := c.clock.Now()
		if !now.Before(deadline) {
			return &deployError{task: task, status: ts.Status, timedOut: true, after: now.Sub(start)}
		}
		c.log.Debug("cisco_fmc: deployment running", "task", task, "status", ts.Status)
		if err := c.wait(ctx, min(deployPoll, deadline.Sub(now))); err != nil {
			return fmt.Errorf("waiting for deployment task %s: %w", task, err)
		}
	}
}

// newerVersion compares FMC's numeric version strings.
func newerVersion(a, b string) bool {
	if b == "" {
		return true
	}
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a > b
	}
	return x > y
}

// Verify reads the group back.
func (c *FMC) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Verification{}, err
	}
	if c.sim != nil {
		return c.sim.Verify(req), nil
	}
	p := req.Target.Prefix
	g, err := c.getGroup(ctx)
	if err != nil {
		return connectors.Verification{}, c.classify(err)
	}
	own, lit := c.holds(g, p)
	v := connectors.Verification{Observed: true, CheckedAt: c.clock.Now()}
	present := own != nil || lit != nil
	switch {
	case own != nil:
		v.Detail = fmt.Sprintf("network group %s holds %s as %s", g.Name, p, own.Name)
	case lit != nil:
		v.Detail = fmt.Sprintf("network group %s holds %s as a literal", g.Name, p)
	default:
		v.Detail = fmt.Sprintf("network group %s does not hold %s", g.Name, p)
	}
	v.InPlace = present == (req.Kind == connectors.BlockIP)
	return v, nil
}

func (c *FMC) changes(p netip.Prefix, add bool) []string {
	name, typ := c.objectFor(p)
	var out []string
	if add {
		out = append(out, fmt.Sprintf("create %s %s (%s) unless it exists", strings.ToLower(typ), name, objectValue(p)),
			fmt.Sprintf("add %s to network group %s", name, c.cfg.Group))
	} else {
		out = append(out, fmt.Sprintf("remove %s from network group %s", name, c.cfg.Group))
		if c.deleteObjects {
			out = append(out, fmt.Sprintf("delete %s %s", strings.ToLower(typ), name))
		}
	}
	if len(c.cfg.DeployDevices) > 0 {
		out = append(out, "deploy to "+strings.Join(c.cfg.DeployDevices, ", "))
	}
	return out
}

// Preview lists what Execute would change, without contacting the server.
func (c *FMC) Preview(_ context.Context, req connectors.Request) (connectors.Diff, error) {
	if err := connectors.CheckRequest(c, req); err != nil {
		return connectors.Diff{}, err
	}
	return connectors.Diff{Changes: c.changes(req.Target.Prefix, req.Kind == connectors.BlockIP)}, nil
}

// Ready gets a token (reachable, authenticated) and reads the group (permitted).
func (c *FMC) Ready(ctx context.Context) connectors.Readiness {
	g, err := c.getGroup(ctx)
	r := connectors.Readiness{Reachable: connectors.Passed, Authenticated: connectors.Passed, Permitted: connectors.Passed}
	var ae *apiError
	var au *authError
	switch {
	case err == nil:
		r.Message = fmt.Sprintf("token for %s; network group %s has %d object(s) and %d literal(s)", c.cfg.User, g.Name, len(g.Objects), len(g.Literals))
	case errors.As(err, &ae) && ae.Status >= 500:
		// The server answers but is not serving the API.
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: c.classify(err).Error()}
	case errors.As(err, &au) && errors.As(err, &ae):
		r.Authenticated, r.Permitted = connectors.Failed, connectors.Unchecked
		r.Message = c.classify(err).Error()
	case errors.As(err, &au) && !errors.As(err, new(*conflictError)):
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: c.classify(err).Error()}
	case errors.As(err, &ae) || errors.As(err, new(*conflictError)):
		r.Permitted = connectors.Failed
		r.Message = c.classify(err).Error()
	default:
		r = connectors.Readiness{Reachable: connectors.Failed, Authenticated: connectors.Unchecked, Permitted: connectors.Unchecked, Message: c.classify(err).Error()}
	}
	if c.sim != nil {
		r.Message += "; dry run"
	}
	return r
}
